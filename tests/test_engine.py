"""The link engine with real compilers and linkers: bfd, gold, lld and mold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from linkpool.policy import threads_for
from linkpool.pool import Pool

from conftest import LINKPOOL, history, lp, make_pool, shim_linker, status, wait_for

pytestmark = pytest.mark.usefixtures("linkers_installed")
LINKERS = ["bfd", "gold", "lld", "mold"]


def pooled_vs_bare(pool: Path, cwd: Path, argv: list[str], out: str) -> tuple:
    bare = subprocess.run(argv, cwd=cwd, capture_output=True)
    bare_file = (cwd / out).read_bytes() if (cwd / out).exists() else None
    (cwd / out).unlink(missing_ok=True)
    pooled = subprocess.run([LINKPOOL, "run", "--pool", str(pool), "--", *argv], cwd=cwd,
                            capture_output=True)
    pooled_file = (cwd / out).read_bytes() if (cwd / out).exists() else None
    return (bare.returncode, bare.stdout, bare.stderr, bare_file), \
           (pooled.returncode, pooled.stdout, pooled.stderr, pooled_file)


@pytest.mark.parametrize("ld", LINKERS)
def test_link_succeeds_and_is_recorded(ld: str, objs: Path, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    out = f"app-{ld}"
    bare, pooled = pooled_vs_bare(pool, objs, ["gcc", f"-fuse-ld={ld}", "main.o", "helper.o",
                                               "-o", out], out)
    assert pooled[:3] == bare[:3] == (0, b"", b"")
    assert pooled[3] is not None
    assert subprocess.run([str(objs / out)], capture_output=True, text=True).stdout == "sum 42\n"
    (rec,) = history(pool)
    assert rec["output"] == str(objs / out)
    assert (rec["linker"], rec["exit"]) == (ld, 0)
    assert rec["run_s"] > 0 and rec["max_rss_kb"] > 0 and rec["cpu_s"] > 0
    assert rec["weight"] >= 1 and rec["estimate"]["source"] == "inputs"


@pytest.mark.parametrize("ld", LINKERS)
def test_undefined_symbol_fails_exactly_as_bare(ld: str, objs: Path, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    bare, pooled = pooled_vs_bare(pool, objs, ["gcc", f"-fuse-ld={ld}", "undef.o", "-o",
                                               f"undef-{ld}"], f"undef-{ld}")
    assert bare[0] != 0 and b"missing_function" in bare[2]
    assert pooled == bare
    assert history(pool)[0]["exit"] == bare[0]


def test_compile_and_info_pass_while_the_pool_is_full(objs: Path, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 1)
    with Pool.open(str(pool)).acquire(1):
        for argv in (["gcc", "-c", "helper.c", "-o", str(tmp_path / "h.o")],
                     ["gcc", "--version"], ["gcc", "-print-prog-name=ld"],
                     ["gcc", "-E", "helper.c"]):
            r = lp("run", "--pool", str(pool), "--timeout", "1", "--", *argv, cwd=objs)
            assert r.returncode == 0, (argv, r.stderr)
        link = lp("run", "--pool", str(pool), "--timeout", "0.3", "--", "gcc", "main.o",
                  "helper.o", "-o", str(tmp_path / "app"), cwd=objs)
        assert link.returncode == 75  # a link does wait
    assert (tmp_path / "h.o").exists()
    assert history(pool) == []  # compiles are not links


def test_response_files(objs: Path, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    (tmp_path / "inner.rsp").write_text(f"{objs / 'helper.o'}\n")
    (tmp_path / "outer.rsp").write_text(
        f"'{objs / 'main.o'}' @{tmp_path / 'inner.rsp'} -o \"{tmp_path / 'from rsp'}\"\n")
    r = lp("run", "--pool", str(pool), "--", "gcc", "-fuse-ld=lld", f"@{tmp_path / 'outer.rsp'}")
    assert r.returncode == 0, r.stderr
    assert subprocess.run([str(tmp_path / "from rsp")], capture_output=True).returncode == 0
    (rec,) = history(pool)
    assert rec["output"] == str(tmp_path / "from rsp") and rec["linker"] == "lld"


DRIVER = textwrap.dedent("""
    import fcntl, json, os, subprocess, sys, time
    pool, argv = sys.argv[1], sys.argv[2:]

    def held():
        for name in ("slot.0", "slot.1"):
            fd = os.open(os.path.join(pool, name), os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            finally:
                os.close(fd)
        return False

    code = subprocess.run(argv).returncode
    answered = time.monotonic()   # the build system has its answer here
    probes = 0
    while held() and time.monotonic() - answered < 10:
        probes += 1               # ... while mold's exiting child still holds the slots
    print(json.dumps({"code": code, "held_probes": probes,
                      "held_for": time.monotonic() - answered, "free": not held()}))
""")


def test_mold_answers_at_first_exit_and_keeps_the_slots_for_its_child(
    tmp_path: Path,
) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    (tmp_path / "big.c").write_text("char big[200 << 20] = {1};\nint main(void) "
                                    "{ return big[0] - 1; }\n")
    subprocess.run(["gcc", "-c", "big.c", "-o", "big.o"], cwd=tmp_path, check=True)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    for _attempt in range(5):  # the child's exit takes ~10-30 ms: see it from outside
        r = subprocess.run([sys.executable, str(driver), str(pool), LINKPOOL, "run", "--pool",
                            str(pool), "--weight", "2", "--", "gcc", "-fuse-ld=mold", "big.o",
                            "-o", "big"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout.strip().splitlines()[-1])
        assert got["code"] == 0 and got["free"]
        if got["held_probes"]:
            break
    assert got["held_probes"] >= 1, "the slots were free as soon as the wrapper answered"
    time.sleep(0.5)
    recs = [r for r in history(pool) if r["output"] == str(tmp_path / "big")]
    assert recs[-1]["linker"] == "mold" and recs[-1]["exit"] == 0
    # Only a subreaper sees mold's child: its wait and its peak (the 200 MB output mapped).
    assert recs[-1]["tail_s"] > 0
    assert recs[-1]["max_rss_kb"] > 200 * 1024
    assert recs[-1]["anon_peak_kb"] > 0  # sampled over the tree, mold's child included


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An object of 20 MB: above the 16 MB under which a link is one thread whatever."""
    d = tmp_path_factory.mktemp("big")
    (d / "big.c").write_text("char big[20 << 20] = {1};\nint main(void) { return big[0] - 1; }\n")
    subprocess.run(["gcc", "-c", "big.c", "-o", "big.o"], cwd=d, check=True)
    return d


#: A summary in which lld links of this size (20 MB: class 16M) that met others measured a
#: core's share (1 thread here) cheaper than twice it: the policy then runs a core's share
#: when links meet, where a link's most slots are above its least (docs/policy.md).
SHARE_CHEAPER = {"1": {"sn": 3, "scpu": 3.0}, "2": {"sn": 3, "scpu": 4.0}}


def seed_summary(pool: Path, stats: dict[str, Any]) -> None:
    (pool / "policy").mkdir(exist_ok=True)
    (pool / "policy" / "lld-16M.json").write_text(json.dumps(stats))


@pytest.mark.parametrize("summary", [None, SHARE_CHEAPER], ids=["fresh", "share-cheaper"])
def test_a_lone_link_takes_every_core_whatever_else_runs(big: Path, tmp_path: Path,
                                                         summary: dict[str, Any] | None
                                                         ) -> None:
    """Alone in the pool a link runs the user's command unchanged (lld takes every core by
    itself), on an idle machine as on a busy one: the rule does not read the machine's
    load (docs/policy.md, "A lone link while compiles run"). It holds the slots of half
    the cores it runs (one of two), whatever links that met measured. A busy loop keeps a
    core busy throughout, as a build's compile would, on top of whatever else this
    machine runs."""
    cores = len(os.sched_getaffinity(0))
    pool = make_pool(tmp_path / "pool", 2)
    if summary is not None:
        seed_summary(pool, summary)
    weight = 1
    shim, log = shim_linker(tmp_path, "lld")
    spin = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    try:
        time.sleep(0.2)
        for _ in range(2):  # as given, then one that has seen a lone link
            r = lp("run", "--pool", str(pool), "--", "gcc", f"-B{shim}", "-fuse-ld=lld",
                   "big.o", "-o", str(tmp_path / "app"), cwd=big)
            assert r.returncode == 0, r.stderr
            rec = history(pool)[-1]
            threads_arg = [a for a in log.read_text().split("\n") if a.startswith("--threads")]
            assert (rec["weight"], rec["threads"], threads_arg) == (weight, cores, [])
            assert rec["met"] is False
    finally:
        spin.kill()
        spin.wait()


@pytest.mark.parametrize("summary", [None, SHARE_CHEAPER], ids=["fresh", "share-cheaper"])
def test_a_link_beside_a_holder_takes_its_least_weight(big: Path, tmp_path: Path,
                                                       summary: dict[str, Any] | None
                                                       ) -> None:
    """Four slots, three held by another job: its least weight, one slot, and on it twice
    a core's share or, where a core's share measured cheaper, a core's share
    (``--threads=N`` when that is fewer than lld's every core)."""
    cores = len(os.sched_getaffinity(0))
    share = threads_for(1, 4, cores)
    pool = make_pool(tmp_path / "pool", 4)
    if summary is not None:
        seed_summary(pool, summary)
    shim, log = shim_linker(tmp_path, "lld")
    with Pool.open(str(pool)) as p, p.acquire(3):
        r = lp("run", "--pool", str(pool), "--", "gcc", f"-B{shim}", "-fuse-ld=lld", "big.o",
               "-o", str(tmp_path / "app"), cwd=big)
    assert r.returncode == 0, r.stderr
    rec = history(pool)[-1]
    args = [a for a in log.read_text().split("\n") if a.startswith("--threads")]
    threads = min(cores, 2 * share) if summary is None else share
    assert (rec["weight"], rec["threads"]) == (1, threads)
    assert args == ([] if threads == cores else [f"--threads={threads}"])


def test_a_link_with_a_waiter_behind_takes_no_more(big: Path, tmp_path: Path) -> None:
    """Every slot comes free at once, the machine is idle, but another job waits behind
    the link: it takes its least weight and leaves the others to that job (four slots: a
    link that would take two when alone, and runs a core's share, measured cheaper, when
    it meets others)."""
    pool = make_pool(tmp_path / "pool", 4)
    seed_summary(pool, SHARE_CHEAPER)
    shim, log = shim_linker(tmp_path, "lld")
    p = Pool.open(str(pool))
    lease = p.acquire(4)
    link = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--", "gcc", f"-B{shim}",
                             "-fuse-ld=lld", "big.o", "-o", str(tmp_path / "app")], cwd=big)
    wait_for(lambda: len(status(pool)["waiters"]) == 1, what="the link to wait")
    behind = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--", "sleep", "1"])
    wait_for(lambda: len(status(pool)["waiters"]) == 2, what="a job behind it")
    lease.release()
    p.close()
    assert link.wait(60) == 0 and behind.wait(60) == 0
    rec = [r for r in history(pool) if r["output"] == str(tmp_path / "app")][-1]
    assert (rec["weight"], rec["threads"]) == (1, 1)
    assert "--threads=1" in log.read_text().split("\n")


def test_repeat_link_is_estimated_from_history(objs: Path, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    argv = ["run", "--pool", str(pool), "--", "gcc", "main.o", "helper.o", "-o",
            str(tmp_path / "app")]
    assert lp(*argv, cwd=objs).returncode == 0
    assert lp(*argv, cwd=objs).returncode == 0
    first, second = history(pool)
    assert first["estimate"]["source"] == "inputs"
    assert second["estimate"]["source"] == "history"
    assert second["estimate"]["last_max_rss_kb"] == first["max_rss_kb"]


def test_launcher_form_links_through_the_engine(objs: Path, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    env = {**os.environ, "LINKPOOL_DIR": str(pool)}
    r = lp("gcc", "-fuse-ld=gold", "main.o", "helper.o", "-o", str(tmp_path / "app"), cwd=objs,
           env=env)
    assert r.returncode == 0, r.stderr
    assert history(pool)[0]["linker"] == "gold"


def test_corrupt_input_is_reported_by_the_linker_as_without_linkpool(
    objs: Path, tmp_path: Path
) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"\x7fELF" + os.urandom(4000))
    bare, pooled = pooled_vs_bare(pool, tmp_path, ["gcc", "bad.o", str(objs / "main.o"), "-o",
                                                   "app"], "app")
    assert pooled == bare and bare[0] != 0


@pytest.mark.parametrize("linker, how", [("ld.bfd", "recorder"), ("ld.mold", "bookkeeper")])
def test_who_records_a_link_is_chosen_once_on_its_run(objs: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       linker: str, how: str) -> None:
    """The run's context (linkpool.process.RunContext) owns the child, its status, what
    ends with it and who records it; the engine chooses the recording once, before the
    command starts: mold's bookkeeper for a linker that leaves a child, else a recorder
    of its own when it outlives the wrapper (here: it does), none without a slot."""
    from linkpool import process
    from linkpool.engine import Engine
    from linkpool.settings import resolve

    pool = make_pool(tmp_path / "pool", 2)
    monkeypatch.chdir(objs)
    run = process.RunContext()
    engine = Engine([linker, "-o", str(tmp_path / "app"), "main.o", "helper.o", "-lc"],
                    resolve({"pool": str(pool)}), run=run)
    assert engine.run_ctx is run and engine.job.run is run  # the plugins' way to it
    opened = engine.decide(str(pool))
    assert opened is not None
    opened.close()
    assert engine._recording(object()) == how
    assert engine._recording(None) is None
    assert (run.child, run.status, run.killed_by, run.at_end) == (None, None, None, [])
