"""The threads plugin (linkpool.plugins.threads) with the real gcc, mold and lld: the thread
count the policy chose reaches the linker (a -B shim logs what gcc runs), and a count the
user chose is left alone. The rule's other cases are tested where they arise: a lone link,
one beside a holder, one with a waiter behind (tests/test_engine.py); LTO jobs
(tests/test_lto.py); a build's jobserver tokens (tests/test_jobserver.py); the rule itself
(tests/unit/test_policy.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import history, lp, make_pool, shim_linker

pytestmark = pytest.mark.usefixtures("linkers_installed")


@pytest.mark.parametrize("ld", ["mold", "lld"])
def test_weight_one_of_two_slots_passes_threads(ld: str, objs: Path, tmp_path: Path) -> None:
    """The linker really receives the thread count: a -B shim logs what gcc runs."""
    pool = make_pool(tmp_path / "pool", 2)
    shim, log = shim_linker(tmp_path, ld)
    r = lp("run", "--pool", str(pool), "--weight", "1", "--", "gcc", f"-B{shim}",
           f"-fuse-ld={ld}", "main.o", "helper.o", "-o", str(tmp_path / "app"), cwd=objs)
    assert r.returncode == 0, r.stderr
    cores = len(os.sched_getaffinity(0))
    expected = max(1, cores // 2)
    assert f"--threads={expected}" in log.read_text().split("\n")
    (rec,) = history(pool)
    assert (rec["weight"], rec["threads"]) == (1, expected)


@pytest.mark.parametrize("flag", ["-Wl,--threads=2", "-Wl,--no-threads"])
def test_threads_set_by_the_user_are_left_alone(flag: str, objs: Path, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    shim, log = shim_linker(tmp_path, "mold")
    argv = ["gcc", f"-B{shim}", "-fuse-ld=mold", "main.o", "helper.o", flag, "-o",
            str(tmp_path / "app")]
    r = lp("run", "--pool", str(pool), "--weight", "1", "--", *argv, cwd=objs)
    assert r.returncode == 0, r.stderr
    args = log.read_text().split("\n")
    assert flag.split(",", 1)[1] in args
    assert [a for a in args if a.startswith("--") and "threads" in a] == [flag.split(",", 1)[1]]
    assert history(pool)[0]["threads"] is None


