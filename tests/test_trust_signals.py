"""Signals and job control exactly as bare (issue 19, class 1), the way a user meets them:
a real terminal (tmux, a server of the test's own), real shells and scripts, real signals
to the wrapper alone and to its whole process group, a real mold link (the forking path,
``process.run_forking``) and a stand-in for gcc that mold's path runs the same way.

- The wrapper ends the way its command ended: death by signal N is death by signal N
  (no core file of the wrapper's), so a shell loop stops at Ctrl-C as it does bare.
- A signal sent to the whole group reaches the command once; one sent to the wrapper
  alone is passed on once.
- Ctrl-Z and fg change nothing: no line, the real status.
- The dispositions and the mask the build set reach the command.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from conftest import (
    LINKPOOL,
    Terminal,
    cores_allowed,
    lp,
    make_pool,
    state,
    status,
    stopped,
    wait_for,
)
from conftest import pgid as _pgid

SPAWNS = ["run"]  # process.run: any command
FORKING = "forking"  # process.run_forking: a link the engine knows mold forks in


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    return make_pool(tmp_path / "pool", 4)


def fake_gcc(tmp_path: Path, body: str) -> Path:
    """A program named gcc that runs the shell ``body``: `linkpool run -- GCC -fuse-ld=mold
    a.o -o out` is a mold link to linkpool (its forking path), whatever GCC then does."""
    d = tmp_path / "fakebin"
    d.mkdir(exist_ok=True)
    gcc = d / "gcc"
    gcc.write_text(f"#!/bin/sh\n{body}\n")
    gcc.chmod(0o755)
    (tmp_path / "a.o").write_bytes(b"\x7fELF" + bytes(60))
    return gcc


def command(kind: str, tmp_path: Path, body: str) -> list[str]:
    """``body`` (shell) as the command of the path ``kind``."""
    if kind == FORKING:
        return [str(fake_gcc(tmp_path, body)), "-fuse-ld=mold", str(tmp_path / "a.o"), "-o",
                str(tmp_path / "out")]
    return ["sh", "-c", body]


# -- the wrapper dies of the signal its command died of ---------------------------------


@pytest.mark.parametrize("kind", ["run", FORKING])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGSEGV,
                                 signal.SIGQUIT, signal.SIGPIPE, signal.SIGKILL])
def test_death_by_signal_is_death_by_that_signal(pool: Path, tmp_path: Path, kind: str,
                                                 sig: int) -> None:
    """Core files allowed: the command's lands where it runs (``elsewhere``), and the
    wrapper leaves none of its own (in ``cwd``)."""
    cwd, elsewhere = tmp_path / "cwd", tmp_path / "elsewhere"
    cwd.mkdir()
    elsewhere.mkdir()
    argv = command(kind, tmp_path, f"cd {elsewhere} && kill -{int(sig)} $$")
    bare = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=60,
                          preexec_fn=cores_allowed)
    bare_files = sorted(p.name for p in elsewhere.iterdir())
    for f in elsewhere.iterdir():
        f.unlink()
    r = lp("run", "--pool", str(pool), "--", *argv, cwd=cwd, preexec_fn=cores_allowed)
    assert (r.returncode, r.stderr) == (bare.returncode, "") == (-sig, "")
    assert sorted(p.name for p in elsewhere.iterdir()) == bare_files
    assert list(cwd.iterdir()) == []  # no core file of the wrapper's


def test_an_exit_status_above_128_stays_an_exit_status(pool: Path) -> None:
    r = lp("run", "--pool", str(pool), "--", "sh", "-c", "exit 130")
    assert r.returncode == 130


def test_ctrl_c_while_waiting_for_slots_dies_of_sigint(tmp_path: Path) -> None:
    one = make_pool(tmp_path / "one", 1)
    holder = subprocess.Popen([LINKPOOL, "run", "--pool", str(one), "--", "sleep", "30"],
                              start_new_session=True)
    try:
        wait_for(lambda: status(one)["in_use"] == 1, what="the holder")
        waiter = subprocess.Popen([LINKPOOL, "run", "--pool", str(one), "--", "true"],
                                  stderr=subprocess.PIPE)
        wait_for(lambda: status(one)["waiting"] == 1, what="the waiter")
        waiter.send_signal(signal.SIGINT)
        assert waiter.wait(timeout=20) == -signal.SIGINT
        assert waiter.stderr is not None and waiter.stderr.read() == b""
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


# -- group or wrapper alone: each signal reaches the command once ------------------------

COUNTER = """
import os, signal, sys, time
log = sys.argv[1]
def note(signum, frame):
    with open(log, "a") as f:
        f.write(f"{signum}\\n")
for s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP, signal.SIGWINCH, signal.SIGPWR,
          signal.SIGRTMIN + 2):
    signal.signal(s, note)
open(log + ".ready", "w").close()
while not os.path.exists(log + ".stop"):
    time.sleep(0.01)
"""


@pytest.mark.parametrize("kind", ["run", FORKING])
def test_group_signals_are_not_passed_on_again_and_lone_ones_are_once(
        pool: Path, tmp_path: Path, kind: str) -> None:
    script = tmp_path / "counter.py"
    script.write_text(COUNTER)
    log = tmp_path / "log"
    argv = command(kind, tmp_path, f'exec {sys.executable} {script} {log}')
    p = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--", *argv],
                         start_new_session=True, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: Path(f"{log}.ready").exists(), what="the command's handlers")
        sent: list[int] = []
        for round_ in range(2):
            for sig in (signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP, signal.SIGWINCH,
                        signal.SIGPWR, signal.SIGRTMIN + 2):
                for to_group in (True, False):
                    (os.killpg if to_group else os.kill)(p.pid, sig)
                    sent.append(sig)
                    wait_for(lambda: log.exists() and len(log.read_text().split()) >= len(sent),
                             what=f"signal {sig} (group: {to_group})")
                    time.sleep(0.05)  # a second copy, if any, arrives meanwhile
                    got = [int(x) for x in log.read_text().split()]
                    assert got == sent, f"round {round_}, group: {to_group}"
        Path(f"{log}.stop").touch()
        assert p.wait(timeout=30) == 0
        assert p.stderr is not None and p.stderr.read() == b""
    finally:
        Path(f"{log}.stop").touch()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


# -- a real terminal: Ctrl-Z, fg, Ctrl-C -------------------------------------------------


def states(pids: Callable[[], list[int]]) -> set[str]:
    out = set()
    for pid in pids():
        try:
            with open(f"/proc/{pid}/stat") as f:
                out.add(f.read().rsplit(")", 1)[1].split()[0])
        except OSError:
            pass
    return out


def pids_with(text: str) -> list[int]:
    """Processes whose command line (NUL-separated) holds ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                found.append(int(entry))
    return found


def stop_and_continue(term: Terminal, tmp_path: Path, line: str, rounds: int = 2) -> str:
    """Run ``line`` in the terminal, Ctrl-Z it once the file ``started`` exists, fg,
    ``rounds`` times; the status bash saw after the last fg."""
    rc = tmp_path / "rc"
    term.line(line)
    for n in range(1, rounds + 1):
        wait_for(lambda: (tmp_path / "started").exists(), what="the command")
        time.sleep(0.2)
        term.keys("C-z")
        wait_for(lambda n=n: term.screen().count("Stopped") == n,  # type: ignore[misc]
                 what=f"the job to stop (round {n}): {term.screen()}")
        time.sleep(1.5)  # past the deadline of any wait the wrapper was in (1 s at most)
        term.line("fg >/dev/null")
    term.line(f'echo "rc=$?" > {rc}')
    wait_for(lambda: rc.exists() and rc.read_text().strip(), timeout=60, what="the status")
    return rc.read_text().strip()


@pytest.mark.parametrize("kind", ["run", FORKING])
def test_ctrl_z_and_fg_change_nothing(term: Terminal, pool: Path, tmp_path: Path,
                                      kind: str) -> None:
    argv = command(kind, tmp_path, f"touch {tmp_path}/started; sleep 6 && "
                                   f"echo {tmp_path}/slept-well; exit 3")
    got = stop_and_continue(term, tmp_path,
                            f"{LINKPOOL} run --pool {pool} -- {shlex.join(argv)}")
    screen = term.screen()
    assert got == "rc=3", screen
    assert "slept-well" in screen and "linkpool:" not in screen, screen


def test_ctrl_z_and_fg_of_a_real_mold_link(term: Terminal, pool: Path, tmp_path: Path,
                                           objs: Path) -> None:
    assert shutil.which("mold"), "mold is installed by scripts/setup.sh --test"
    shim = tmp_path / "shim"
    shim.mkdir()
    # mold, after a pause long enough for Ctrl-Z: the link stays mold's forking one
    (shim / "ld.mold").write_text(f'#!/bin/sh\ntouch {tmp_path}/started\nsleep 3\n'
                                  f'exec {shutil.which("mold")} "$@"\n')
    (shim / "ld.mold").chmod(0o755)
    app = tmp_path / "app"
    link = (f"{LINKPOOL} run --pool {pool} -- gcc -B{shim} -fuse-ld=mold {objs}/main.o "
            f"{objs}/helper.o -o {app}")
    got = stop_and_continue(term, tmp_path, link, rounds=1)
    screen = term.screen()
    assert got == "rc=0", screen
    assert "linkpool:" not in screen, screen
    assert subprocess.run([str(app)], capture_output=True, text=True).stdout == "sum 42\n"


def interrupted_loop(term: Terminal, tmp_path: Path, how: str, run: str) -> tuple[str, str]:
    """A bash script looping over ``run`` sleep 5 in the terminal, Ctrl-C during the
    first: the status bash saw, and what the loop did after the interrupted command."""
    log, rc, script = tmp_path / f"{how}.log", tmp_path / f"{how}.rc", tmp_path / f"{how}.sh"
    mark = f"0.00{len(how)}"  # tells this loop's sleep from the other's
    script.write_text(f"for i in 1 2 3; do\n  {run}sleep 5 {mark}\n  echo done $i >> {log}\n"
                      f"done\necho finished >> {log}\n")
    term.line(f"bash {script}")
    wait_for(lambda: states(lambda: pids_with(f"sleep\x005\x00{mark}\x00")) & {"S", "R"},
             what=f"the first sleep: {term.screen()}")
    time.sleep(0.2)
    term.keys("C-c")
    # (an interactive bash drops the rest of a command line a Ctrl-C interrupted)
    wait_for(lambda: not pids_with(f"{script}\x00"), timeout=60, what="the loop's end")
    term.line(f'echo "rc=$?" > {rc}')
    wait_for(lambda: rc.exists() and rc.read_text().strip(), timeout=60, what="the status")
    return rc.read_text().strip(), log.read_text() if log.exists() else ""


def test_ctrl_c_stops_a_shell_loop_of_links_as_bare(term: Terminal, pool: Path,
                                                    tmp_path: Path) -> None:
    bare = interrupted_loop(term, tmp_path, "bare", "")
    through = interrupted_loop(term, tmp_path, "linkpool", f"{LINKPOOL} run --pool {pool} -- ")
    assert through == bare == ("rc=130", "")
    assert "linkpool:" not in term.screen()


# -- dispositions and the mask reach the command ---------------------------------------

LOW = 0x7FFFFFFF  # signals 1-31: glibc's posix_spawn also ignores its own 32 and 33


def sig_lines(out: str) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return int(fields["SigIgn"], 16) & LOW, int(fields["SigBlk"], 16) & LOW


SHOW = "grep -E '^Sig(Ign|Blk)' /proc/self/status"


@pytest.mark.parametrize("setup,background", [
    ("trap '' PIPE;", ""), ("trap '' XFSZ;", ""), ("trap '' PIPE XFSZ HUP;", ""),
    ("trap '' HUP;", ""),  # nohup-like
    ("trap '' INT QUIT USR1;", ""),
    ("", "& wait"),  # a background job of a script: SIGINT and SIGQUIT ignored
    ("trap '' PIPE;", "& wait"),  # and SIGPIPE too
])
@pytest.mark.parametrize("kind", ["run", FORKING])
def test_ignored_signals_reach_the_command(pool: Path, tmp_path: Path, setup: str,
                                           background: str, kind: str) -> None:
    argv = command(kind, tmp_path, SHOW)
    quoted = shlex.join(argv)
    bare = subprocess.run(["bash", "-c", f"{setup} {quoted} {background}"],
                          capture_output=True, text=True)
    r = subprocess.run(["bash", "-c", f"{setup} {LINKPOOL} run --pool {pool} -- {quoted} "
                        f"{background}"], capture_output=True, text=True, timeout=60)
    assert r.stderr == ""
    assert sig_lines(r.stdout) == sig_lines(bare.stdout)
    assert sig_lines(bare.stdout)[0]  # the case ignores something


def python_parent(ignore: list[int], block: list[int], argv: list[str]) -> str:
    code = ("import os, signal, sys\n"
            f"for s in {[int(s) for s in ignore]!r}: signal.signal(s, signal.SIG_IGN)\n"
            f"signal.pthread_sigmask(signal.SIG_BLOCK, {[int(s) for s in block]!r})\n"
            "os.execvp(sys.argv[1], sys.argv[1:])\n")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          timeout=60).stdout


@pytest.mark.parametrize("ignore", [[], [signal.SIGPIPE], [signal.SIGXFSZ, signal.SIGHUP]])
def test_a_mask_and_dispositions_set_by_a_program_reach_the_command(
        pool: Path, ignore: list[int]) -> None:
    block = [signal.SIGUSR1, signal.SIGTERM, signal.SIGINT]
    argv = ["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]
    bare = python_parent(ignore, block, argv)
    through = python_parent(ignore, block, [LINKPOOL, "run", "--pool", str(pool), "--", *argv])
    assert sig_lines(through) == sig_lines(bare)


def test_the_fail_open_path_keeps_them_too(tmp_path: Path) -> None:
    """A wrong setting: linkpool runs the command without itself (exec), after one line."""
    bad = tmp_path / "bad.toml"
    bad.write_text("this is [ not toml\n")
    env = {**os.environ, "LINKPOOL_CONFIG": str(bad)}
    setup = "trap '' PIPE XFSZ"
    bare = subprocess.run(["bash", "-c", f"{setup}; {SHOW}"], capture_output=True, text=True)
    r = subprocess.run(["bash", "-c", f"{setup}; {LINKPOOL} run -- {SHOW}"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.stderr.startswith("linkpool: warning:") and r.stderr.count("\n") == 1
    assert sig_lines(r.stdout) == sig_lines(bare.stdout)


# -- stop and continue without a terminal: to the wrapper alone, to the group ---------------


@pytest.mark.parametrize("kind", ["run", FORKING])
@pytest.mark.parametrize("stop", [signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU])
@pytest.mark.parametrize("to_group", [False, True])
def test_a_stop_signal_stops_the_command_and_the_wrapper_as_bare(
        pool: Path, tmp_path: Path, kind: str, stop: int, to_group: bool) -> None:
    """Bare, the command would be what the signal stops; through linkpool, the command
    stops (once) and so does the wrapper (its caller sees it stopped by that signal), and
    SIGCONT to the one or the other continues both."""
    pidfile = tmp_path / "pid"
    argv = command(kind, tmp_path, f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; "
                                   "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.1; done; exit 5")
    # a group of its own in this session: not orphaned (where stop signals do nothing)
    p = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--", *argv],
                         process_group=0, stderr=subprocess.PIPE)
    try:
        wait_for(pidfile.exists, what="the command")
        cmd = int(pidfile.read_text())
        (os.killpg if to_group else os.kill)(p.pid, stop)
        wait_for(lambda: stopped(cmd) and state(p.pid) == "T", what="both stopped")
        _, st = os.waitpid(p.pid, os.WUNTRACED)  # what the wrapper's caller sees
        assert os.WIFSTOPPED(st) and os.WSTOPSIG(st) == stop
        time.sleep(0.5)  # the command stays stopped
        assert stopped(cmd)
        (os.killpg if to_group else os.kill)(p.pid, signal.SIGCONT)
        assert p.wait(timeout=30) == 5
        assert p.stderr is not None and p.stderr.read() == b""
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.mark.parametrize("kind", ["run", FORKING])
def test_sigstop_to_the_wrapper_alone_changes_no_status(pool: Path, tmp_path: Path,
                                                        kind: str) -> None:
    """SIGSTOP cannot be caught: it stops the wrapper alone, the command runs on, and the
    wrapper answers with its status once continued."""
    done = tmp_path / "done"
    argv = command(kind, tmp_path, f"sleep 0.5; touch {done}; exit 6")
    p = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--", *argv],
                         stderr=subprocess.PIPE)
    wait_for(lambda: status(pool)["in_use"] >= 1, what="the command")
    p.send_signal(signal.SIGSTOP)
    wait_for(done.exists, what="the command's end")
    time.sleep(0.2)
    p.send_signal(signal.SIGCONT)
    assert p.wait(timeout=30) == 6
    assert p.stderr is not None and p.stderr.read() == b""


@pytest.mark.parametrize("kind", ["run", FORKING])
def test_ctrl_z_then_bg_changes_nothing(term: Terminal, pool: Path, tmp_path: Path,
                                        kind: str) -> None:
    rc = tmp_path / "rc"
    argv = command(kind, tmp_path, f"touch {tmp_path}/started; sleep 3; exit 4")
    term.line(f"{LINKPOOL} run --pool {pool} -- {shlex.join(argv)}")
    wait_for(lambda: (tmp_path / "started").exists(), what="the command")
    time.sleep(0.2)
    term.keys("C-z")
    wait_for(lambda: "Stopped" in term.screen(), what=f"the job to stop: {term.screen()}")
    time.sleep(1.5)
    term.line(f'bg >/dev/null; wait %1; echo "rc=$?" > {rc}')
    wait_for(lambda: rc.exists() and rc.read_text().strip(), timeout=60, what="the status")
    screen = term.screen()
    assert rc.read_text().strip() == "rc=4", screen
    assert "linkpool:" not in screen, screen


@pytest.mark.parametrize("kind", ["run", FORKING])
def test_nothing_the_build_sees_is_left_of_the_signal_watch(pool: Path, tmp_path: Path,
                                                            kind: str) -> None:
    """What tells group from lone signals (a process of the wrapper's group that blocks
    every signal) holds no descriptor of the build's or the pool's, and is gone when the
    wrapper answers: nothing of the group outlives the command but the bookkeeping."""
    pidfile = tmp_path / "pid"
    argv = command(kind, tmp_path, f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; "
                                   f"while [ ! -e {tmp_path}/stop ]; do sleep 0.02; done")
    out = tmp_path / "out.txt"
    with open(out, "w") as stdout:
        p = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--", *argv],
                             start_new_session=True, stdout=stdout)
    try:
        wait_for(pidfile.exists, what="the command")
        # A process of the group may block every signal for an instant (a child between
        # fork and exec, the bookkeeper while it settles): the watch is what blocks them
        # in two looks a while apart, with the same descriptors.
        watchers = wait_for(lambda: _settled(p.pid), what="the group to settle")
        assert watchers, "no signal watch found"
        for pid, links in watchers.items():
            assert len(links) == 1 and links[0].startswith("pipe:"), (pid, links)
        (tmp_path / "stop").touch()
        assert p.wait(timeout=30) == 0
        for pid in watchers:
            assert not os.path.exists(f"/proc/{pid}"), "still there after the answer"
    finally:
        (tmp_path / "stop").touch()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _watch_look(pgid: int) -> dict[int, list[str]]:
    """The processes of the group that block every signal, with their descriptors."""
    found = {}
    for e in os.listdir("/proc"):
        if e.isdigit() and _pgid(int(e)) == pgid and _blocks_everything(int(e)):
            try:
                fds = os.listdir(f"/proc/{e}/fd")
                found[int(e)] = sorted(os.readlink(f"/proc/{e}/fd/{fd}") for fd in fds)
            except OSError:
                continue  # gone meanwhile
    return found


def _settled(pgid: int) -> dict[int, list[str]] | None:
    """The group's signal-blocking processes when two looks 0.2 s apart agree, else None."""
    first = _watch_look(pgid)
    time.sleep(0.2)
    return first if first and _watch_look(pgid) == first else None


def _blocks_everything(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            blk = next(line for line in f if line.startswith("SigBlk:"))
    except (OSError, StopIteration):
        return False
    return int(blk.split()[1], 16) & 0x7FFFFFFF == 0x7FFFFFFF & ~(1 << 8) & ~(1 << 18)
