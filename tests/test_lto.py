"""LTO links: their parallel code-generation jobs count in the weight and in the tuning.

Facts the code rests on (docs/policy.md, "LTO links"), the gcc ones checked here with the
real gcc: plain -flto runs gcc's LTRANS jobs one after another (unless make's jobserver
is reachable), -flto=auto one per CPU of the affinity mask, -flto=N N; at -flto=1 with
several partitions gcc warns "using serial compilation", so linkpool never passes it.
clang -flto=thin runs ThinLTO jobs in lld, whose --threads= also sets --thinlto-jobs=.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from linkpool import linkers
from linkpool.command import parse
from linkpool.job import Job
from linkpool.plugins import cost, threads
from linkpool.pool import Pool

from conftest import history, lp, make_pool

CORES = len(os.sched_getaffinity(0))

# -- the parse ---------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "lto", "jobs"), [
    (["-flto"], "-flto", None),
    (["-flto=auto"], "-flto=auto", None),
    (["-flto=jobserver"], "-flto=jobserver", None),
    (["-flto=8"], "-flto=8", "8"),
    (["-flto=8", "-flto=auto"], "-flto=auto", None),  # the last one is in force
    (["-flto=auto", "-fno-lto"], None, None),
    (["-fno-lto", "-flto"], "-flto", None),
    (["-flto-partition=one", "-flto-compression-level=3", "-flto-report"], None, None),
    (["-flto", "-Wl,--thinlto-jobs=4"], "-flto", "4"),  # a linker count wins
    ([], None, None),
])
def test_gcc_lto_options(args: list[str], lto: str | None, jobs: str | None) -> None:
    cmd = parse(["gcc", *args, "a.o", "-o", "app"])
    assert (cmd.kind, cmd.lto, cmd.lto_jobs) == ("link", lto, jobs)


@pytest.mark.parametrize(("args", "lto", "jobs"), [
    (["-flto"], "-flto", None),
    (["-flto=full"], "-flto=full", None),
    (["-flto=thin"], "-flto=thin", None),
    (["-flto=thin", "-flto-jobs=3"], "-flto=thin", "3"),
    (["-flto=thin", "-Wl,--thinlto-jobs=all"], "-flto=thin", "all"),
    (["-flto=thin", "-Xlinker", "--thinlto-jobs=2"], "-flto=thin", "2"),
    (["-flto=thin", "-Wl,--plugin-opt=jobs=5"], "-flto=thin", "5"),
    (["-flto=thin", "-Wl,-plugin-opt,jobs=6"], "-flto=thin", "6"),
    (["-flto=thin", "-flto-jobs=3", "-Wl,--thinlto-jobs=7"], "-flto=thin", "7"),
    (["-flto=thin", "-fno-lto"], None, None),
])
def test_clang_lto_options(args: list[str], lto: str | None, jobs: str | None) -> None:
    cmd = parse(["clang++", *args, "a.o", "-o", "app"])
    assert (cmd.family, cmd.lto, cmd.lto_jobs) == ("clang", lto, jobs)


def test_lto_options_from_a_response_file_and_behind_a_launcher(tmp_path: Path) -> None:
    (tmp_path / "flags.rsp").write_text("-O2 -flto=auto")
    cmd = parse(["ccache", "g++", "@flags.rsp", "a.o"], cwd=str(tmp_path))
    assert (cmd.lto, cmd.launcher) == ("-flto=auto", ["ccache"])


def test_lld_called_directly() -> None:
    assert parse(["ld.lld", "--thinlto-jobs=3", "a.o"]).lto_jobs == "3"
    assert parse(["ld.lld", "--plugin-opt", "jobs=2", "a.o"]).lto_jobs == "2"
    assert parse(["ld.lld", "a.o"]).lto_jobs is None
    assert parse(["ld.lld", "a.o"]).lto is None  # LTO or not, its inputs say


def test_compile_with_lto_stays_a_compile() -> None:
    cmd = parse(["gcc", "-flto=auto", "-c", "a.c"])
    assert (cmd.kind, cmd.lto) == ("compile", "-flto=auto")


# -- how many jobs -----------------------------------------------------------------------

@pytest.mark.parametrize(("family", "lto", "jobs", "lld_threads", "jobserver", "want"), [
    ("gcc", None, None, None, False, 0),
    ("gcc", "-flto", None, None, False, 1),  # serial LTRANS
    ("gcc", "-flto", None, None, True, 8),  # ... unless make's jobserver is there
    ("gcc", "-flto=auto", None, None, False, 8),
    ("gcc", "-flto=jobserver", None, None, False, 8),  # counted like auto
    ("gcc", "-flto=3", "3", None, False, 3),
    ("gcc", "-flto=0", "0", None, False, 1),  # gcc: serial
    (None, None, "0", None, False, 8),  # lld --thinlto-jobs=0: one per physical core
    ("clang", "-flto", None, None, False, 1),  # full LTO: one partition
    ("clang", "-flto=full", None, None, False, 1),
    ("clang", "-flto=auto", None, None, False, 1),  # clang: auto is full
    ("clang", "-flto=thin", None, None, False, 8),
    ("clang", "-flto=thin", None, 2, False, 2),  # lld --threads=2 sets its ThinLTO jobs
    ("clang", "-flto=thin", "4", 2, False, 4),  # --thinlto-jobs wins
    ("clang", "-flto=thin", "all", None, False, 8),
    (None, None, "5", None, False, 5),  # ld.lld --thinlto-jobs=5 called directly
])
def test_lto_jobs(family: str | None, lto: str | None, jobs: str | None,
                  lld_threads: int | None, jobserver: bool, want: int) -> None:
    assert linkers.lto_jobs(family, lto, jobs, 8, lld_threads, jobserver) == want


@pytest.mark.parametrize(("lto", "jobs", "share", "own", "jobserver", "want"), [
    ("-flto=auto", None, 4, 16, False, ["-flto=4"]),
    ("-flto=auto", None, 2, 16, False, ["-flto=2"]),
    ("-flto=auto", None, 1, 16, False, []),  # -flto=1 would make gcc warn
    ("-flto=auto", None, 16, 16, False, []),  # what gcc takes by itself: unchanged
    ("-flto=auto", None, 4, 16, True, []),  # a jobserver decides
    ("-flto=jobserver", None, 4, 16, False, []),  # left alone (another issue)
    ("-flto=8", "8", 4, 16, False, []),  # the user's count
    ("-flto", None, 4, 16, False, []),  # serial by itself: never more
    (None, None, 4, 16, False, []),
])
def test_gcc_lto_args(lto: str | None, jobs: str | None, share: int, own: int,
                      jobserver: bool, want: list[str]) -> None:
    assert linkers.gcc_lto_args("gcc", lto, jobs, share, own, jobserver) == want
    assert linkers.gcc_lto_args("clang", lto, jobs, share, own, jobserver) == []


def test_jobserver_announced() -> None:
    assert linkers.jobserver_announced(" -j4 --jobserver-auth=3,4")
    assert linkers.jobserver_announced("--jobserver-auth=fifo:/tmp/GMfifo1")
    assert linkers.jobserver_announced("--jobserver-fds=3,4 -j")
    assert not linkers.jobserver_announced("-j4")
    assert not linkers.jobserver_announced(None)


# -- the plugins, on a job -----------------------------------------------------------------

def job_for(argv: list[str], linker: type[linkers.Linker] | None, *, cores: float = 8.0,
            weight: int = 1, slots: int = 4, env: dict[str, str] | None = None) -> Job:
    job = Job(argv, "/", env=env if env is not None else {"PATH": os.defpath})
    job.command, job.kind, job.linker = parse(argv), "link", linker
    job.cores, job.weight, job.slots = cores, weight, slots
    return job


@pytest.mark.parametrize(("argv", "linker", "size", "want"), [
    (["gcc", "-flto=auto", "a.o"], linkers.Bfd, 2 << 20, 8),
    (["gcc", "-flto=3", "a.o"], linkers.Bfd, 2 << 20, 3),
    (["gcc", "-flto", "a.o"], linkers.Bfd, 2 << 20, 1),
    (["gcc", "-flto=auto", "a.o"], linkers.Bfd, 512 << 10, 1),  # one partition's worth
    (["gcc", "-flto=2", "-fuse-ld=mold", "a.o"], linkers.Mold, 32 << 20, 8),  # mold's 8
    (["gcc", "a.o"], linkers.Bfd, 32 << 20, 1),
    (["clang", "-flto=thin", "-fuse-ld=lld", "a.o"], linkers.Lld, 2 << 20, 8),
    (["clang", "-flto=thin", "-fuse-ld=lld", "-Wl,--threads=2", "a.o"], linkers.Lld,
     2 << 20, 2),
    (["clang", "-flto=thin", "-flto-jobs=6", "-fuse-ld=lld", "a.o"], linkers.Lld, 2 << 20, 6),
])
def test_lto_jobs_count_in_the_cost(argv: list[str], linker: type[linkers.Linker],
                                    size: int, want: int) -> None:
    assert cost.threads_wanted(job_for(argv, linker), size) == want


def test_a_jobserver_counts_plain_lto_as_every_core() -> None:
    env = {"MAKEFLAGS": "-j8 --jobserver-auth=3,4"}
    job = job_for(["gcc", "-flto", "a.o"], linkers.Bfd, env=env)
    assert cost.threads_wanted(job, 2 << 20) == 8


def test_thinlto_jobs_follow_lld_threads() -> None:
    """Weight 1 of 2 slots on this machine: lld gets --threads=T and, for ThinLTO,
    --thinlto-jobs=T beside it, unless the user chose a count."""
    share = max(1, CORES // 2)
    job = job_for(["clang", "-flto=thin", "-fuse-ld=lld", "a.o", "-o", "app"], linkers.Lld,
                  cores=CORES, slots=2)
    threads.linkpool_tune(job)
    if share < CORES:
        assert job.argv == ["clang", f"-Wl,--threads={share},--thinlto-jobs={share}",
                            "-flto=thin", "-fuse-ld=lld", "a.o", "-o", "app"]
        assert job.extra["lto_threads"] == share
    else:
        assert job.argv == job.original
    for mine in (["-flto-jobs=2"], ["-Wl,--thinlto-jobs=2"]):
        own = job_for(["clang", "-flto=thin", *mine, "-fuse-ld=lld", "a.o"], linkers.Lld,
                      cores=CORES, slots=2)
        threads.linkpool_tune(own)
        assert not any("thinlto-jobs" in a for a in own.argv if a not in mine)
    full = job_for(["clang", "-flto", "-fuse-ld=lld", "a.o"], linkers.Lld, cores=CORES,
                   slots=2)
    threads.linkpool_tune(full)
    assert not any("thinlto" in a for a in full.argv)


def test_gcc_auto_link_is_left_alone_at_one_thread() -> None:
    job = job_for(["gcc", "-flto=auto", "a.o", "-o", "app"], linkers.Bfd, cores=CORES,
                  weight=1, slots=2 * CORES)
    threads.linkpool_tune(job)
    assert job.argv == job.original and "lto_threads" not in job.extra


# -- real gcc links --------------------------------------------------------------------------

def program(functions: int) -> str:
    """C with ``functions`` small functions that are never inlined."""
    body = "".join(f"__attribute__((noinline)) int f{i}(int x) {{ return x * {i} + (x >> 2); }}\n"
                   for i in range(functions))
    calls = "".join(f"  s += f{i}(c);\n" for i in range(functions))
    return f"{body}int main(int c, char **v) {{\n  int s = 0;\n{calls}  return s & 1;\n}}\n"


@pytest.fixture(scope="module")
def lto_objs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """big.o: 1.3 MB of LTO bytecode (gcc 12 makes several LTRANS partitions of it);
    small.o: one function."""
    d = tmp_path_factory.mktemp("lto")
    (d / "big.c").write_text(program(3000))
    (d / "small.c").write_text("int main(void) { return 0; }\n")
    for name in ("big", "small"):
        subprocess.run(["gcc", "-O2", "-flto", "-c", f"{name}.c", "-o", f"{name}.o"], cwd=d,
                       check=True)
    return d


def shim_ld(tmp_path: Path) -> tuple[Path, Path]:
    """A -B directory whose `ld` (collect2 runs the first `ld` of the -B directories)
    logs $COLLECT_GCC_OPTIONS, what the driver was really given, then runs the real ld."""
    shim, log = tmp_path / "shim", tmp_path / "collect.log"
    shim.mkdir(exist_ok=True)
    real = subprocess.run(["gcc", "-print-prog-name=ld"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (shim / "ld").write_text(f'#!/bin/sh\nprintf "%s\\n" "$COLLECT_GCC_OPTIONS" >> {log}\n'
                             f'exec {shutil.which(real) or real} "$@"\n')
    (shim / "ld").chmod(0o755)
    return shim, log


def collect_options(log: Path) -> list[str]:
    return shlex.split(log.read_text().splitlines()[-1])


def test_gcc_warns_at_flto_1_and_linkpool_never_passes_it(lto_objs: Path,
                                                          tmp_path: Path) -> None:
    """What gcc does (the reason for the rule), then linkpool on a 2-slot pool, weight 1,
    with -flto=auto: T = floor(C/2) jobs; at T = 1 the command runs unchanged, and its
    stderr is what it is without linkpool."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    serial = subprocess.run(["gcc", "-O2", "-flto=1", "big.o", "-o", str(tmp_path / "s")],
                            cwd=lto_objs, capture_output=True, text=True, env=env)
    assert serial.returncode == 0 and "using serial compilation of" in serial.stderr
    shim, log = shim_ld(tmp_path)
    argv = ["gcc", f"-B{shim}", "-O2", "-flto=auto", "big.o", "-o", str(tmp_path / "app")]
    bare = subprocess.run(argv, cwd=lto_objs, capture_output=True, text=True, env=env)
    assert bare.returncode == 0
    pool = make_pool(tmp_path / "pool", 2)
    r = lp("run", "--pool", str(pool), "--weight", "1", "--", *argv, cwd=lto_objs, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, bare.stdout, bare.stderr)
    assert subprocess.run([str(tmp_path / "app")]).returncode in (0, 1)
    share = max(1, CORES // 2)
    options = collect_options(log)
    want = linkers.gcc_lto_args("gcc", "-flto=auto", None, share, CORES, False)
    assert "-flto=auto" in options
    assert [o for o in options if o.startswith("-flto=") and o != "-flto=auto"] == want
    assert "-flto=1" not in options
    (rec,) = history(pool)
    assert (rec["kind"], rec["weight"], rec["lto"], rec["lto_jobs"]) == (
        "link", 1, "-flto=auto", None)
    assert rec.get("lto_threads") == (share if want else None)


def test_users_lto_count_is_left_alone_and_recorded(lto_objs: Path, tmp_path: Path) -> None:
    shim, log = shim_ld(tmp_path)
    pool = make_pool(tmp_path / "pool", 2)
    r = lp("run", "--pool", str(pool), "--weight", "1", "--", "gcc", f"-B{shim}", "-O2",
           "-flto=2", "small.o", "-o", str(tmp_path / "app"), cwd=lto_objs)
    assert r.returncode == 0, r.stderr
    assert [o for o in collect_options(log) if o.startswith("-flto")] == ["-flto=2"]
    (rec,) = history(pool)
    assert (rec["lto"], rec["lto_jobs"], rec.get("lto_threads")) == ("-flto=2", "2", None)


def test_lto_jobs_count_in_the_weight_of_a_real_link(lto_objs: Path, tmp_path: Path) -> None:
    """No --weight: the estimate of a -flto=auto link of 1.3 MB can use every core (its
    LTRANS jobs), a plain -flto link one (serial), a small -flto=auto link one. One slot
    of the two is held meanwhile, so the link gets its least weight, whatever the load.
    (-O0: a quicker link, the same estimate.)"""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    pool = make_pool(tmp_path / "pool", 2)
    runs = [(["-flto=auto", "big.o"], CORES, CORES), (["-flto", "big.o"], 1, 1),
            (["-flto=auto", "small.o"], 1, None)]
    with Pool.open(str(pool)) as p, p.acquire(1):
        for n, (args, threads_, jobs) in enumerate(runs):
            r = lp("run", "--pool", str(pool), "--", "gcc", "-O0", *args, "-o",
                   str(tmp_path / f"app{n}"), cwd=lto_objs, env=env)
            assert r.returncode == 0, r.stderr
            rec = history(pool)[-1]
            assert (rec["estimate"]["threads"], rec["estimate"].get("lto_jobs")) == (
                threads_, jobs), args
            assert (rec["weight"], rec["estimate"]["source"]) == (1, "inputs")
