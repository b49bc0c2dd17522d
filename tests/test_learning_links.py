"""The learning policy's summary in the pool (linkpool.history), and real lld links
through the real `linkpool` with a seeded summary. The policy's pure functions fed
histories of several shapes are in tests/unit/test_learning.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from linkpool.history import History

from conftest import lp, make_pool, shim_linker, status, wait_for

KEY = "lld/1G"


def test_summary_missing_corrupt_and_concurrent(tmp_path: Path) -> None:
    h = History(str(tmp_path))
    assert h.summary(KEY) == {}
    h.update_summary(KEY, lambda s: s.update(a=1))
    path = tmp_path / h.summary_name(KEY)
    assert path == tmp_path / "policy" / "lld-1G.json"
    assert h.summary(KEY) == {"a": 1} and h.summary("mold/1G") == {}
    path.write_text("{not json")
    assert h.summary(KEY) == {}
    path.write_text("[1, 2]")
    assert h.summary(KEY) == {}
    path.write_text("{" + " " * (100 << 10) + "}")
    assert h.summary(KEY) == {}
    h.update_summary(KEY, lambda s: s.update(a=1))  # a corrupt entry is started afresh
    assert h.summary(KEY) == {"a": 1}
    code = ("import sys; from linkpool.history import History\n"
            "h = History(sys.argv[1])\n"
            "for _ in range(50):\n"
            "    h.update_summary('lld/1G', lambda s: s.update(a=s['a'] + 1))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
             for _ in range(4)]
    assert all(p.wait(60) == 0 for p in procs)
    assert h.summary(KEY) == {"a": 201}  # no update lost
    assert not [p for p in (tmp_path / "policy").iterdir() if p.name.endswith(".tmp")]
    assert h.summary_name("odd flavour/../x") == "policy/odd-flavour-..-x.json"


# -- real links through the real linkpool ------------------------------------------------

@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An object of 20 MB: above the 16 MB under which a link is one thread whatever."""
    assert shutil.which("ld.lld"), "lld is missing: bash scripts/setup.sh --test installs it"
    d = tmp_path_factory.mktemp("big")
    (d / "big.c").write_text("char big[20 << 20] = {1};\nint main(void) { return big[0] - 1; }\n")
    subprocess.run(["gcc", "-c", "big.c", "-o", "big.o"], cwd=d, check=True)
    return d


def seed(pool: Path, stats: dict) -> None:
    """A summary in which the 20 MB lld links (size class 16M) measured ``stats``."""
    (pool / "policy").mkdir()
    (pool / "policy" / "lld-16M.json").write_text(json.dumps(stats))


def link(pool: Path, big: Path, shim: Path, out: Path) -> dict:
    r = lp("run", "--pool", str(pool), "--", "gcc", f"-B{shim}", "-fuse-ld=lld", "big.o",
           "-o", str(out), cwd=big)
    assert r.returncode == 0, r.stderr
    records = json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)
    return records[-1]


def threads_args(log: Path) -> list[str]:
    return [a for a in log.read_text().split("\n") if a.startswith("--threads")]


def test_real_links_follow_a_seeded_summary(big: Path, tmp_path: Path) -> None:
    """lld links of 20 MB through linkpool on 2 slots, with a summary saying:

    - threads do not make this lld faster alone (wall per GiB alike at C and C/2): a lone
      link holds one slot and gets ``--threads=C/2``;
    - lld links that met ran with fewer CPU-seconds at a core's share than at twice it:
      in a pool of 4 with 3 slots held, the link runs a core's share on its one slot;
    - fresh summary, the other slot held: twice its share, C threads (no option: lld's
      own default), the built-in rule.
    """
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        pytest.skip("one core: there is no thread count to choose")
    half = cores // 2
    shim, log = shim_linker(tmp_path, "lld")
    out = tmp_path / "app"

    pool = make_pool(tmp_path / "flat", 2)
    seed(pool, {str(cores): {"an": 3, "awall": 4.0}, str(half): {"an": 3, "awall": 4.0}})
    rec = link(pool, big, shim, out)
    assert (rec["weight"], rec["threads"]) == (1, half)
    assert threads_args(log) == [f"--threads={half}"]
    assert rec["met"] is False and rec["plan"]["alone"] == half
    assert History(str(pool)).summary("lld/16M")[str(half)]["an"] == 4  # learnt

    from linkpool.policy import threads_for
    from linkpool.pool import Pool

    share = threads_for(1, 4, cores)
    pool = make_pool(tmp_path / "share", 4)
    seed(pool, {str(share): {"sn": 3, "scpu": 3.0, "an": 3, "awall": 2.0},
                str(2 * share): {"sn": 3, "scpu": 4.0, "an": 3, "awall": 1.0}})
    with Pool.open(str(pool)) as p, p.acquire(3):
        rec = link(pool, big, shim, out)
    assert (rec["weight"], rec["threads"]) == (1, share)
    assert threads_args(log) == ([] if share == cores else [f"--threads={share}"])
    assert rec["met"] is True and rec["plan"]["ratio"] == 1.0

    pool = make_pool(tmp_path / "fresh", 2)
    with Pool.open(str(pool)) as p, p.acquire(1):
        rec = link(pool, big, shim, out)
    assert (rec["weight"], rec["threads"]) == (1, cores)
    assert threads_args(log) == []  # every core: lld's own default
    assert rec["met"] is True and rec["plan"]["ratio"] == 2.0
    entry = History(str(pool)).summary("lld/16M")[str(cores)]
    assert entry["sn"] == 1 and entry["scpu"] > 0


def test_a_link_that_met_a_waiter_is_not_a_lone_measurement(big: Path, tmp_path: Path
                                                            ) -> None:
    """The link runs alone at first; a job comes to wait behind it while it runs: its
    record says it met others, and its wall time is not counted as a lone link's."""
    pool = make_pool(tmp_path / "pool", 4)  # alone, it holds two of the four
    seed(pool, {"1": {"sn": 3, "scpu": 3.0}, "2": {"sn": 3, "scpu": 4.0}})
    shim, _ = shim_linker(tmp_path, "lld")
    slow = shim / "ld.lld"
    slow.write_text(slow.read_text().replace("exec ", "sleep 3; exec "))
    link_proc = subprocess.Popen(["linkpool", "run", "--pool", str(pool), "--", "gcc",
                                  f"-B{shim}", "-fuse-ld=lld", "big.o", "-o",
                                  str(tmp_path / "app")], cwd=big)
    wait_for(lambda: status(pool)["in_use"] == 2, what="the lone link to hold two slots")
    behind = subprocess.Popen(["linkpool", "run", "--pool", str(pool), "--weight", "3",
                               "--", "sleep", "1"])
    wait_for(lambda: status(pool)["waiting"] == 1 or link_proc.poll() is not None,
             what="a job to wait behind the link")
    assert link_proc.poll() is None, "the link ended before anyone came (a slow machine)"
    assert link_proc.wait(60) == 0 and behind.wait(60) == 0
    records = json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)
    [rec] = [r for r in records if r.get("plan")]
    assert rec["met"] is True and rec["weight"] == 2
    entry = History(str(pool)).summary("lld/16M")[str(rec["threads"])]
    assert entry.get("an", 0) == 0 and entry["sn"] == 3 + 1  # the seeded three, and this one


def test_without_the_threads_plugin_nothing_is_planned(big: Path, tmp_path: Path) -> None:
    """``disable = ["threads"]``: nobody tunes the linker's threads, so the link is weighed
    by the built-in range whatever the summary says, and nothing is learnt."""
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        pytest.skip("one core: there is no thread count to choose")
    pool = make_pool(tmp_path / "pool", 2)
    seed(pool, {str(cores // 2): {"sn": 3, "scpu": 4.0, "an": 3, "awall": 2.0},
                str(cores): {"sn": 3, "scpu": 3.0, "an": 3, "awall": 1.0}})
    shim, log = shim_linker(tmp_path, "lld")
    r = lp("run", "--pool", str(pool), "--", "gcc", f"-B{shim}", "-fuse-ld=lld", "big.o",
           "-o", str(tmp_path / "app"), cwd=big, env={**os.environ, "LINKPOOL_DISABLE": "threads"})
    assert r.returncode == 0, r.stderr
    [rec] = json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)
    assert rec["weight"] == 2 and rec["threads"] is None and "plan" not in rec
    assert threads_args(log) == []
