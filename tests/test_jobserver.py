"""The jobserver client (linkpool.plugins.jobserver) with the real thing.

- GNU make 4.3 from Debian serves a pipe jobserver (``--jobserver-auth=R,W``) and passes its
  descriptors only to recipes marked recursive (``+``); as the master it counts its tokens
  when it exits and says "INTERNAL: Exiting with N jobserver tokens available" if any is
  missing, which these tests hold it to.
- A fifo jobserver served here as make 4.4 documents it: a named fifo holding N - 1
  one-byte tokens, ``MAKEFLAGS=' -jN --jobserver-auth=fifo:PATH'``.
- ninja from PyPI (>= 1.13, a jobserver client) under that fifo.

Every link holds the whole pool (``--weight`` of a 2-slot pool), so its share of the
machine is every core whatever the load, and only the tokens decide its threads. What
reached the linker is read from a ``-B`` shim that logs its arguments and the tokens free
in the jobserver at that moment, then execs the real mold or lld. To kill "the linker",
the link is given a fifo as an input: the real linker blocks opening it, is found in /proc
and killed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linkpool import linkers, process
from linkpool.command import parse
from linkpool.job import Job
from linkpool.plugins import jobserver, threads

from conftest import BIN, LINKPOOL, free_in, history, lp, make_pool, status, wait_for

CORES = len(os.sched_getaffinity(0))
NINJA = str(BIN / "ninja")
MAKE = shutil.which("make") or "make"
INTERNAL = "INTERNAL: Exiting with"  # make's own count of its tokens at exit


class Fifo:
    """A jobserver served as make 4.4 does: a named fifo holding ``jobs - 1`` tokens."""

    def __init__(self, path: Path, jobs: int) -> None:
        os.mkfifo(path)
        self.path, self.jobs = path, jobs
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # held open, as make does
        os.write(self.fd, b"+" * (jobs - 1))

    @property
    def makeflags(self) -> str:
        return f" -j{self.jobs} --jobserver-auth=fifo:{self.path}"

    def env(self, **more: str) -> dict[str, str]:
        # SHIM_FIFO: for the shim linker, as gcc 12 drops from MAKEFLAGS a jobserver it
        # cannot use (a fifo) before it runs the linker
        return {**os.environ, "MAKEFLAGS": self.makeflags, "SHIM_FIFO": str(self.path), **more}

    def free(self) -> int:
        return free_in(self.fd)


class Pipe:
    """A pipe jobserver served here, for make 4.3 as a client (``--jobserver-auth=R,W``)."""

    def __init__(self, jobs: int) -> None:
        self.r, self.w = os.pipe()
        self.jobs = jobs
        os.write(self.w, b"+" * (jobs - 1))

    def makeflags(self, option: str = "--jobserver-auth") -> str:
        return f" -j{self.jobs} {option}={self.r},{self.w}"

    def free(self) -> int:
        return free_in(self.r)


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Any]:
    served: list[Fifo] = []

    def serve(jobs: int) -> Fifo:
        served.append(Fifo(tmp_path / f"jobserver{len(served)}", jobs))
        return served[-1]

    yield serve
    for f in served:
        os.close(f.fd)


SHIM = """#!{python}
import array, fcntl, json, os, sys, termios
def free():
    auth = "fifo:" + os.environ["SHIM_FIFO"] if os.environ.get("SHIM_FIFO") else None
    for word in os.environ.get("MAKEFLAGS", "").split():
        if word.startswith(("--jobserver-auth=", "--jobserver-fds=")):
            auth = word.split("=", 1)[1]
    if auth is None:
        return None
    try:
        fd = (os.open(auth[5:], os.O_RDONLY | os.O_NONBLOCK) if auth.startswith("fifo:")
              else int(auth.split(",")[0]))
        buf = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, buf)
        return buf[0]
    except OSError:
        return None
with open({log!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "free": free()}}) + "\\n")
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""


@pytest.fixture
def shim(tmp_path: Path) -> tuple[Path, Path]:
    """A -B directory whose ld.mold and ld.lld log their arguments and the tokens free in
    the jobserver, then exec the real linker."""
    d, log = tmp_path / "shim", tmp_path / "linker.log"
    d.mkdir()
    for ld in ("mold", "lld"):
        real = shutil.which(f"ld.{ld}")
        assert real, f"ld.{ld} is installed by scripts/setup.sh --test"
        (d / f"ld.{ld}").write_text(SHIM.format(python=sys.executable, log=str(log), real=real))
        (d / f"ld.{ld}").chmod(0o755)
    return d, log


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def thread_args(log: Path) -> list[str]:
    return [a for a in calls(log)[-1]["argv"] if "threads" in a]


def link(pool: Path, shim_dir: Path, ld: str, *inputs: str, out: str = "app") -> list[str]:
    return [LINKPOOL, "run", "--pool", str(pool), "--weight", "2", "--", "gcc",
            f"-B{shim_dir}", f"-fuse-ld={ld}", *inputs, "-o", out]


# -- MAKEFLAGS ------------------------------------------------------------------------------

@pytest.mark.parametrize(("makeflags", "auth", "jobs"), [
    (" -j4 --jobserver-auth=3,4", "3,4", 4),  # make 4.2-4.3
    ("s -j8 --jobserver-auth=fifo:/tmp/GMfifo1", "fifo:/tmp/GMfifo1", 8),  # make 4.4
    ("--jobserver-auth=fifo:/dev/steve", "fifo:/dev/steve", None),  # steve
    (" -j3 --jobserver-fds=5,6", "5,6", 3),  # make 3.8x-4.1
    ("-j4 --jobserver-auth=3,4 --jobserver-auth=fifo:/a", "fifo:/a", 4),  # the last counts
    (" -j --jobserver-style=fifo", None, None),  # -j alone: no limit, no jobserver
    (" -j1", None, 1),
    ("-j 2", None, 2),
    ("k -- X=--jobserver-auth=9,9 Y=-j7", None, None),  # variables are not options
    ("", None, None),
    (None, None, None),
])
def test_makeflags_in_all_its_forms(makeflags: str | None, auth: str | None,
                                    jobs: int | None) -> None:
    assert jobserver.parse(makeflags) == (auth, jobs)


def test_the_private_jobserver_keeps_every_other_flag() -> None:
    got = jobserver.private_makeflags("ks -j8 --jobserver-auth=fifo:/x -- V=a\\ b", 7, 9, 2)
    assert got == "ks -j2 --jobserver-auth=7,9 -- V=a\\ b"
    assert jobserver.private_makeflags(" -j1", 3, 4, 1) == " -j1 --jobserver-auth=3,4"


def test_descriptors_that_are_not_the_jobservers_pipe_are_unreachable(tmp_path: Path) -> None:
    r, w = os.pipe()
    r2, w2 = os.pipe()
    other = os.open(tmp_path / "file", os.O_RDWR | os.O_CREAT)
    try:
        for auth in (f"{r},{w2}", f"{w},{r}", f"{other},{other}", "1000,1001", "-1,-1",
                     "fifo:/nonexistent/fifo", f"fifo:{tmp_path / 'file'}", "sem:name"):
            client, why = jobserver.connect(auth)
            assert client is None and why, auth
        client, form = jobserver.connect(f"{r},{w}")
        assert client is not None and form == "pipe"
        assert os.get_blocking(r)  # the build's shared description stays blocking
        assert client.take(3) == 0  # nothing in it: no wait either
        os.write(w, b"+-")
        assert client.take(3) == 2 and client.held == b"+-"
        client.give_back()
        assert os.read(r, 10) == b"+-"  # exactly the bytes taken
        assert os.get_blocking(r)
    finally:
        for fd in (r, w, r2, w2, other):
            os.close(fd)


# -- what reaches the linker ------------------------------------------------------------------

@pytest.mark.parametrize("ld", ["mold", "lld"])
def test_no_free_token_means_one_thread(ld: str, objs: Path, tmp_path: Path, fifo: Any,
                                        shim: tuple[Path, Path]) -> None:
    """The whole machine's slots, a jobserver of -j4 whose tokens are all taken: the link
    runs one thread, where without the jobserver it would take every core."""
    pool = make_pool(tmp_path / "pool", 2)
    server = fifo(4)
    os.read(server.fd, 3)  # three other jobs of the build hold the tokens
    r = subprocess.run(link(pool, shim[0], ld, "main.o", "helper.o"), cwd=objs,
                       env=server.env(), capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert thread_args(shim[1]) == ([] if CORES == 1 else ["--threads=1"])
    rec = history(pool)[-1]
    assert (rec["threads"], rec["tokens"], rec["jobserver"], rec["weight"]) == (1, 0, "fifo", 2)
    assert server.free() == 0
    # Without a jobserver the same link is left at the linker's default (every core).
    r = subprocess.run(link(pool, shim[0], ld, "main.o", "helper.o"), cwd=objs,
                       env={k: v for k, v in os.environ.items() if k != "MAKEFLAGS"},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and thread_args(shim[1]) == []


@pytest.mark.parametrize("ld", ["mold", "lld"])
def test_free_tokens_give_at_most_t_minus_1_and_all_come_back(
        ld: str, objs: Path, tmp_path: Path, fifo: Any, shim: tuple[Path, Path]) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    server = fifo(8)
    r = subprocess.run(link(pool, shim[0], ld, "main.o", "helper.o"), cwd=objs,
                       env=server.env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    t = min(linkers.Mold.max_threads(CORES) if ld == "mold" else CORES, 8)
    (seen,) = calls(shim[1])
    assert seen["free"] == 7 - (t - 1)  # taken while the linker ran
    assert server.free() == 7  # and every one back once it is done
    rec = history(pool)[-1]
    assert (rec["tokens"], rec["threads"]) == (t - 1, t)
    assert thread_args(shim[1]) == []  # t is every core: the linker's own default
    # Half the pool: half the cores, so no more than half of them in tokens.
    half = max(1, CORES // 2)
    r = lp("run", "--pool", str(pool), "--weight", "1", "--", "gcc", f"-B{shim[0]}",
           f"-fuse-ld={ld}", "main.o", "helper.o", "-o", "app", cwd=objs, env=server.env())
    assert r.returncode == 0, r.stderr
    assert calls(shim[1])[-1]["free"] == 7 - (half - 1)
    assert (history(pool)[-1]["tokens"], history(pool)[-1]["threads"]) == (half - 1, half)
    assert server.free() == 7


def test_the_build_asking_minus_j1_gets_one_thread(objs: Path, tmp_path: Path, fifo: Any,
                                                    shim: tuple[Path, Path]) -> None:
    """-j1 under a jobserver: a fifo of -j1 (no token at all), and the real make -j1 run
    recursively under a make -j4 (make resets its jobserver to nothing, ``-j1``)."""
    pool = make_pool(tmp_path / "pool", 2)
    server = fifo(1)
    r = lp(*link(pool, shim[0], "mold", "main.o", "helper.o")[1:], cwd=objs, env=server.env())
    assert r.returncode == 0, r.stderr
    assert thread_args(shim[1]) == ([] if CORES == 1 else ["--threads=1"])
    shim[1].unlink()
    inner = link(pool, shim[0], "mold", "main.o", "helper.o", out=str(tmp_path / "app"))
    (tmp_path / "inner.mk").write_text(f"{tmp_path / 'app'}:\n\t+{' '.join(inner)}\n")
    (tmp_path / "outer.mk").write_text(f"all:\n\t+$(MAKE) -j1 -f {tmp_path / 'inner.mk'}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    r = subprocess.run([MAKE, "-s", "-j4", "-f", str(tmp_path / "outer.mk")], cwd=objs, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert INTERNAL not in r.stderr
    assert thread_args(shim[1]) == ([] if CORES == 1 else ["--threads=1"])
    rec = history(pool)[-1]
    assert (rec["threads"], rec["make_jobs"], rec.get("tokens")) == (1, 1, None)


# -- every token back, however the link ends ---------------------------------------------------

def linker_pids(marker: str) -> list[int]:
    """The real linker's processes (mold: its parent and its forked child) whose command
    line names ``marker``."""
    reals = {os.path.realpath(shutil.which(f"ld.{ld}") or "") for ld in ("mold", "lld")}
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if exe in reals and marker in cmdline:
            found.append(int(pid))
    return found


@pytest.fixture
def blocker(tmp_path: Path) -> Iterator[Path]:
    """An "object" that is a fifo: the real linker blocks opening it, until killed."""
    path = tmp_path / "block.o"
    os.mkfifo(path)
    yield path
    for pid in linker_pids(str(path)):  # whatever a failed test left behind
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_linker(marker: Path, signum: int) -> None:
    """Send ``signum`` to the linker's processes (0: only wait for them). mold forks: its
    child may appear after the parent was found, so with a real signal keep signalling
    until none is left (a child left blocked would hold the caller's pipes open)."""
    pids = wait_for(lambda: linker_pids(str(marker)), what="the linker to start")
    if not signum:
        return
    end = time.monotonic() + 10
    while pids and time.monotonic() < end:
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        pids = linker_pids(str(marker))


@pytest.mark.parametrize("ld", ["mold", "lld"])
@pytest.mark.parametrize("ending", ["success", "failure", "SIGTERM", "SIGKILL"])
def test_every_token_comes_back(ld: str, ending: str, objs: Path, tmp_path: Path, fifo: Any,
                                shim: tuple[Path, Path], blocker: Path) -> None:
    """Success, a failed link, and the real linker killed by SIGTERM or SIGKILL: the fifo
    holds as many tokens when the wrapper has answered as before the link. For mold that
    is its first exit: its forked child may still be tearing down, holding the slots."""
    pool = make_pool(tmp_path / "pool", 2)
    server = fifo(4)
    taken = min(3, (linkers.Mold.max_threads(CORES) if ld == "mold" else CORES) - 1)
    inputs = {"success": ["main.o", "helper.o"], "failure": ["undef.o"]}.get(
        ending, ["main.o", "helper.o", str(blocker)])
    p = subprocess.Popen(link(pool, shim[0], ld, *inputs), cwd=objs, env=server.env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if ending.startswith("SIG"):
        kill_linker(blocker, getattr(signal, ending))
    _, err = p.communicate(timeout=120)
    assert server.free() == 3, (ending, err)
    assert calls(shim[1])[-1]["free"] == 3 - taken
    assert (p.returncode == 0) == (ending == "success"), err
    if ending == "failure":
        assert "missing_function" in err
    rec = wait_for(lambda: history(pool), what="the history record")[-1]
    assert rec["tokens"] == taken and rec["jobserver"] == "fifo"


def test_status_shows_the_tokens_a_link_holds(objs: Path, tmp_path: Path, fifo: Any,
                                              shim: tuple[Path, Path], blocker: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    server = fifo(4)
    p = subprocess.Popen(link(pool, shim[0], "lld", "main.o", "helper.o", str(blocker)),
                         cwd=objs, env=server.env(), stderr=subprocess.DEVNULL)
    kill_linker(blocker, 0)  # signal 0: only wait until it runs
    holder = wait_for(lambda: [h for h in status(pool)["holders"] if h.get("pid")],
                      what="the holder's pid")[0]
    assert holder["tokens"] == min(3, CORES - 1) and holder["threads"] == 1 + holder["tokens"]
    kill_linker(blocker, signal.SIGKILL)
    p.wait(timeout=60)
    assert server.free() == 3
    out = lp("history", "--pool", str(pool), check=True).stdout.splitlines()
    thr = out[0].split().index("THR")
    assert out[1].split()[thr] == f"{holder['threads']}({holder['tokens']})"


def test_a_sigkilled_wrapper_loses_its_tokens(objs: Path, tmp_path: Path, fifo: Any,
                                              shim: tuple[Path, Path], blocker: Path) -> None:
    """The protocol's own weakness, documented (docs/jobserver.md): nobody is left to
    write them back. (steve reclaims the tokens of a client that died.)"""
    if CORES == 1:
        pytest.skip("a 1-core machine: a link takes no token to lose")
    pool = make_pool(tmp_path / "pool", 2)
    server = fifo(4)
    p = subprocess.Popen(link(pool, shim[0], "lld", "main.o", "helper.o", str(blocker)),
                         cwd=objs, env=server.env(), stderr=subprocess.DEVNULL)
    kill_linker(blocker, 0)
    p.kill()
    p.wait(timeout=60)
    kill_linker(blocker, signal.SIGKILL)
    assert server.free() == 3 - min(3, CORES - 1)


# -- GNU make 4.3: the pipe jobserver -----------------------------------------------------------

def makefile(tmp_path: Path, recipe: str, plus: bool = True) -> Path:
    """A Makefile whose ``app`` runs ``recipe`` (``+``: make passes it the jobserver), then
    a recursive ``count`` recipe prints the tokens free once the link is over."""
    count = textwrap.dedent("""\
        import array, fcntl, os, termios
        r = int(os.environ["MAKEFLAGS"].split("--jobserver-auth=")[1].split(",")[0])
        b = array.array("i", [0]); fcntl.ioctl(r, termios.FIONREAD, b); print("free", b[0])
    """)
    (tmp_path / "count.py").write_text(count)
    mk = tmp_path / "Makefile"
    mk.write_text(f".PHONY: all app count\nall: count\napp:\n\t{'+' if plus else ''}{recipe}\n"
                  f"count: app\n\t+@{sys.executable} {tmp_path / 'count.py'}\n")
    return mk


def run_make(mk: Path, cwd: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    return subprocess.run([MAKE, "-s", "-f", str(mk), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, **kw)


@pytest.mark.parametrize("ld", ["mold", "lld"])
def test_make_recursive_recipe_reaches_the_pipe(ld: str, objs: Path, tmp_path: Path,
                                                shim: tuple[Path, Path]) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    mk = makefile(tmp_path, " ".join(link(pool, shim[0], ld, "main.o", "helper.o")))
    r = run_make(mk, objs, "-j4")
    assert r.returncode == 0 and INTERNAL not in r.stderr, r.stderr
    assert "free 3" in r.stdout  # make -j4: 3 tokens, all back after the link
    t = min(linkers.Mold.max_threads(CORES) if ld == "mold" else CORES, 4)
    assert calls(shim[1])[-1]["free"] == 3 - (t - 1)
    rec = history(pool)[-1]
    assert (rec["jobserver"], rec["tokens"], rec["threads"]) == ("pipe", t - 1, t)


def test_make_recipe_without_plus_runs_normally(objs: Path, tmp_path: Path,
                                                shim: tuple[Path, Path]) -> None:
    """make 4.3 announces the jobserver in MAKEFLAGS but closes its descriptors for a
    recipe it does not take as recursive: whatever sits on those numbers now is not its
    pipe. The link runs as it would, bounded only by the build's -j4."""
    pool = make_pool(tmp_path / "pool", 2)
    mk = makefile(tmp_path, " ".join(link(pool, shim[0], "mold", "main.o", "helper.o")),
                  plus=False)
    r = run_make(mk, objs, "-j4")
    assert r.returncode == 0 and INTERNAL not in r.stderr, r.stderr
    assert r.stderr == "" and "free 3" in r.stdout
    assert subprocess.run([str(objs / "app")], capture_output=True,
                          text=True).stdout == "sum 42\n"
    rec = history(pool)[-1]
    assert rec["jobserver"].startswith("unreachable: descriptors 3,4")
    assert rec.get("tokens") is None and rec["threads"] == min(CORES, 4)


@pytest.mark.parametrize("ending", ["failure", "SIGTERM", "SIGKILL"])
def test_make_counts_every_token_back(ending: str, objs: Path, tmp_path: Path,
                                      shim: tuple[Path, Path], blocker: Path) -> None:
    """make -j4 as the master: after a failed link, or the real linker killed, make's own
    count of its tokens at exit finds them all."""
    pool = make_pool(tmp_path / "pool", 2)
    inputs = ["undef.o"] if ending == "failure" else ["main.o", "helper.o", str(blocker)]
    mk = makefile(tmp_path, " ".join(link(pool, shim[0], "mold", *inputs)))
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    p = subprocess.Popen([MAKE, "-s", "-j4", "-f", str(mk)], cwd=objs, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if ending != "failure":
        kill_linker(blocker, getattr(signal, ending))
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "Error 1" in err, err
    assert INTERNAL not in err
    assert history(pool)[-1]["tokens"] == min(3, CORES - 1)


def test_ctrl_c_of_make(objs: Path, tmp_path: Path, shim: tuple[Path, Path],
                        blocker: Path) -> None:
    """Ctrl-C (SIGINT to make's process group) while the link runs, make being a client of
    a pipe jobserver served here (``--jobserver-fds``, the oldest form): every token is
    back once make is gone."""
    pool = make_pool(tmp_path / "pool", 2)
    server = Pipe(4)
    try:
        mk = makefile(tmp_path, " ".join(link(pool, shim[0], "lld", "main.o", "helper.o",
                                              str(blocker))))
        env = {**os.environ, "MAKEFLAGS": server.makeflags("--jobserver-fds")}
        p = subprocess.Popen([MAKE, "-s", "-f", str(mk)], cwd=objs, env=env,
                             pass_fds=(server.r, server.w), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_linker(blocker, 0)
        wait_for(lambda: calls(shim[1]), what="the linker's log")
        assert server.free() == 3 - min(3, CORES - 1)
        os.killpg(p.pid, signal.SIGINT)
        p.wait(timeout=60)
        assert server.free() == 3
        assert history(pool)[-1]["jobserver"] == "pipe"
    finally:
        os.close(server.r)
        os.close(server.w)


# -- ninja 1.13 under a fifo jobserver ------------------------------------------------------

def ninja_file(tmp_path: Path, command: list[str]) -> Path:
    d = tmp_path / "ninja"
    d.mkdir()
    (d / "build.ninja").write_text(f"rule link\n  command = {' '.join(command)}\n"
                                   "build app: link\n")
    return d


def test_ninja_is_a_jobserver_client() -> None:
    version = subprocess.run([NINJA, "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert tuple(int(x) for x in version.split(".")[:2]) >= (1, 13), version


def test_ninja_under_a_fifo_jobserver(objs: Path, tmp_path: Path, fifo: Any,
                                      shim: tuple[Path, Path]) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    server = fifo(4)
    d = ninja_file(tmp_path, link(pool, shim[0], "mold", str(objs / "main.o"),
                                  str(objs / "helper.o"), out=str(tmp_path / "app")))
    r = subprocess.run([NINJA, "-C", str(d)], env=server.env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    t = min(linkers.Mold.max_threads(CORES), 4)
    assert calls(shim[1])[-1]["free"] == 3 - (t - 1)
    assert server.free() == 3
    rec = history(pool)[-1]
    assert (rec["jobserver"], rec["tokens"], rec["threads"]) == ("fifo", t - 1, t)


def test_ctrl_c_of_ninja(objs: Path, tmp_path: Path, fifo: Any, shim: tuple[Path, Path],
                         blocker: Path) -> None:
    """Ctrl-C reaches ninja's process group (ninja runs each command in a group of its own
    and interrupts it): ninja's tokens and the link's are all back."""
    pool = make_pool(tmp_path / "pool", 2)
    server = fifo(4)
    d = ninja_file(tmp_path, link(pool, shim[0], "mold", str(objs / "main.o"),
                                  str(objs / "helper.o"), str(blocker),
                                  out=str(tmp_path / "app")))
    p = subprocess.Popen([NINJA, "-C", str(d)], env=server.env(), start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_linker(blocker, 0)
    wait_for(lambda: calls(shim[1]), what="the linker's log")
    assert server.free() == 3 - min(3, linkers.Mold.max_threads(CORES) - 1)
    os.killpg(p.pid, signal.SIGINT)
    p.wait(timeout=60)
    assert server.free() == 3


# -- LTO ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lto_obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.3 MB of gcc LTO bytecode: several LTRANS partitions (tests/test_lto.py)."""
    d = tmp_path_factory.mktemp("lto")
    body = "".join(f"__attribute__((noinline)) int f{i}(int x) {{ return x * {i} + (x >> 2); }}\n"
                   for i in range(3000))
    calls_ = "".join(f"  s += f{i}(c);\n" for i in range(3000))
    (d / "big.c").write_text(f"{body}int main(int c, char **v) {{\n  int s = 0;\n{calls_}"
                             "  return s & 1;\n}\n")
    subprocess.run(["gcc", "-O2", "-flto", "-c", "big.c", "-o", "big.o"], cwd=d, check=True)
    return d


MAKE_SHIM = """#!{python}
import array, fcntl, json, os, sys, termios
auth = os.environ.get("MAKEFLAGS", "").split("--jobserver-auth=")[-1].split(" ")[0]
free = None
if "," in auth:
    buf = array.array("i", [0])
    fcntl.ioctl(int(auth.split(",")[0]), termios.FIONREAD, buf)
    free = buf[0]
with open({log!r}, "a") as f:
    f.write(json.dumps({{"makeflags": os.environ.get("MAKEFLAGS"), "free": free}}) + "\\n")
os.execv({make!r}, [{make!r}, *sys.argv[1:]])
"""


def test_gcc_ltrans_runs_on_the_tokens_the_link_took(lto_obj: Path, tmp_path: Path,
                                                     fifo: Any) -> None:
    """gcc -flto=auto under a jobserver: linkpool takes the link's tokens from the build
    and hands gcc's LTRANS make a pipe jobserver of its own holding that many, so LTRANS
    runs within the slots and the build's tokens; gcc prints what it prints without
    linkpool. (gcc runs `make` from PATH: a shim logs what it was given.)"""
    shim_dir, log = tmp_path / "mkshim", tmp_path / "make.log"
    shim_dir.mkdir()
    (shim_dir / "make").write_text(MAKE_SHIM.format(python=sys.executable, log=str(log),
                                                    make=MAKE))
    (shim_dir / "make").chmod(0o755)
    server = fifo(4)
    env = server.env(PATH=f"{shim_dir}{os.pathsep}{os.environ['PATH']}")
    argv = ["gcc", "-O2", "-flto=auto", "big.o", "-o", str(tmp_path / "app")]
    bare = subprocess.run(argv, cwd=lto_obj, env=env, capture_output=True, text=True)
    assert bare.returncode == 0, bare.stderr
    log.unlink(missing_ok=True)
    pool = make_pool(tmp_path / "pool", 2)
    r = lp("run", "--pool", str(pool), "--weight", "2", "--", *argv, cwd=lto_obj, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, bare.stdout, bare.stderr)
    taken = min(3, CORES - 1)
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert seen and all(s["free"] == taken for s in seen), seen
    assert f" -j{taken + 1} --jobserver-auth=" in seen[0]["makeflags"]
    assert server.free() == 3
    rec = history(pool)[-1]
    assert (rec["tokens"], rec["lto_threads"], rec["jobserver"]) == (taken, taken + 1, "fifo")


def test_a_users_lto_count_takes_its_tokens(lto_obj: Path, tmp_path: Path, fifo: Any) -> None:
    """gcc -flto=2 runs two LTRANS jobs whatever linkpool does: the command is left as it
    is, and the link takes one token so that the build counts the second."""
    pool = make_pool(tmp_path / "pool", 2)
    server = fifo(4)
    argv = ["gcc", "-O0", "-flto=2", "big.o", "-o", str(tmp_path / "app")]
    r = lp("run", "--pool", str(pool), "--weight", "1", "--", *argv, cwd=lto_obj,
           env=server.env())
    assert r.returncode == 0, r.stderr
    rec = history(pool)[-1]
    assert (rec["tokens"], rec.get("lto_threads"), rec["command"]) == (1, None, argv)
    assert server.free() == 3


def thin_job(env: dict[str, str]) -> Job:
    argv = ["clang", "-flto=thin", "-fuse-ld=lld", "a.o", "-o", "app"]
    job = Job(argv, "/", env=env)
    job.command, job.kind, job.linker = parse(argv), "link", linkers.Lld
    job.cores, job.weight, job.slots = float(CORES), 2, 2
    return job


def test_thinlto_jobs_follow_the_tokens(fifo: Any) -> None:
    """clang ThinLTO through lld (no clang here: the plugins on a parsed command, with a
    real fifo jobserver): --thinlto-jobs= follows --threads=, both 1 without a token."""
    server = fifo(4)
    os.read(server.fd, 3)
    job = thin_job(server.env())
    jobserver.linkpool_tune(job)
    threads.linkpool_tune(job)
    want = [] if CORES == 1 else ["-Wl,--threads=1,--thinlto-jobs=1"]
    assert job.argv == ["clang", *want, "-flto=thin", "-fuse-ld=lld", "a.o", "-o", "app"]
    assert job.extra["tokens"] == 0 and job.threads == 1
    process.ended()
    os.write(server.fd, b"+++")
    job = thin_job(server.env())
    jobserver.linkpool_tune(job)
    threads.linkpool_tune(job)
    assert job.extra["tokens"] == min(3, CORES - 1) and server.free() == 3 - job.extra["tokens"]
    process.ended()  # what the wrapper does once the command's first process has ended
    assert server.free() == 3


def test_the_jobservers_cap_is_a_field_of_the_job(fifo: Any) -> None:
    """The tokens the jobserver plugin took are ``job.thread_cap`` (a field, not a value
    left in ``job.threads`` for whichever plugin tunes next); the threads plugin gives no
    more than it, and its own choice is what ``job.threads`` holds."""
    server = fifo(4)
    os.read(server.fd, 4)  # no token free
    job = thin_job(server.env())
    jobserver.linkpool_tune(job)
    assert (job.thread_cap, job.threads) == (1, None)
    threads.linkpool_tune(job)
    assert job.threads == 1
    process.ended()
    os.write(server.fd, b"++++")
    free = thin_job({k: v for k, v in server.env().items() if k != "MAKEFLAGS"})
    threads.linkpool_tune(free)  # no jobserver: no cap, the slots' share
    assert free.thread_cap is None and free.threads == min(CORES, linkers.Lld.max_threads(CORES))


def test_the_most_slots_stand_for_no_more_threads_than_the_build_allows(fifo: Any) -> None:
    """Before the wait (nothing taken, only counted): a link that may take 8 slots of 8
    on 8 cores may take only as many as 1 + the free tokens, or the build's -jN, stand
    for."""
    server = fifo(4)

    def weight_max(env: dict[str, str]) -> int | None:
        argv = ["gcc", "-fuse-ld=mold", "a.o", "-o", "app"]
        job = Job(argv, "/", env=env)
        job.command, job.kind, job.linker = parse(argv), "link", linkers.Mold
        job.cores, job.weight, job.weight_max, job.slots = 8.0, 1, 8, 8
        jobserver.linkpool_before_acquire(job)
        return job.weight_max

    assert weight_max(server.env()) == 4  # 3 free tokens + the implicit one
    os.read(server.fd, 2)
    assert weight_max(server.env()) == 2
    assert weight_max({"MAKEFLAGS": " -j1"}) == 1
    assert weight_max({"MAKEFLAGS": " -j"}) == 8
    assert weight_max({}) == 8
    assert server.free() == 1  # counting took nothing
