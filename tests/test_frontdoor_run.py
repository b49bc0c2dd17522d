"""The C front door's runner (core/frontdoor/run.c): the command runs as it would bare.

Black-box, through tests/frontdoor/run_driver.c (`run_driver [--forking] [--fds N] --
CMD...`: N flocked slot files, lp_run, a JSON line per at_end and done), built twice:
with every warning an error, and under AddressSanitizer and UBSan (any report fails).
Real processes, real signals to the driver alone and to its process group, a real
terminal (tmux) for Ctrl-Z, fg and Ctrl-C, and a forking command (a shell that leaves a
child holding the slots) for mold's path.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Terminal, cores_allowed, locked, pgid, state, stopped, wait_for

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "core" / "frontdoor" / "run.c", REPO / "tests" / "frontdoor" / "run_driver.c"]
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87",
}
COMMON = ["-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{REPO / 'core' / 'frontdoor'}"]
BUILDS = {
    "plain": ["-O2"],
    "san": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
            "-fno-sanitize-recover=undefined"],
}
KINDS = ["plain", "forking"]  # lp_run's two paths: the command is the driver's child, or
# the bookkeeper's

# A parent that sets what a build may set, with the raw system calls (glibc will not
# ignore or block its own signals 32 and 33): `sigparent IGN BLK -- CMD...`, IGN and BLK
# comma-separated signal numbers ("-": none).
SIGPARENT_C = r"""
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
struct ksigaction { void *handler; unsigned long flags; void *restorer; unsigned long mask; };
static unsigned long bits(char *list) {
    unsigned long set = 0;
    for (char *s = strtok(list, ","); s && strcmp(s, "-"); s = strtok(NULL, ","))
        set |= 1UL << (atoi(s) - 1);
    return set;
}
int main(int argc, char **argv) {
    (void)argc;
    unsigned long ign = bits(argv[1]), blk = bits(argv[2]);
    for (int sig = 1; sig <= 64; sig++)
        if (ign >> (sig - 1) & 1) {
            struct ksigaction act = {(void *)1 /* SIG_IGN */, 0, 0, 0};
            if (syscall(SYS_rt_sigaction, sig, &act, NULL, 8) < 0)
                return 90;
        }
    if (syscall(SYS_rt_sigprocmask, 0 /* SIG_BLOCK */, &blk, NULL, 8) < 0)
        return 91;
    execvp(argv[4], argv + 4);
    return 92;
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The driver in both builds, and sigparent. A warning (any compiler output) fails."""
    out = tmp_path_factory.mktemp("runner")
    (out / "sigparent.c").write_text(SIGPARENT_C)
    made = {}
    for name, flags in BUILDS.items():
        made[name] = str(out / f"run_driver-{name}")
        r = subprocess.run(["cc", *COMMON, *flags, *map(str, SOURCES), "-o", made[name]],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and r.stdout == r.stderr == "", r.stderr
    made["sigparent"] = str(out / "sigparent")
    subprocess.run(["cc", "-O2", str(out / "sigparent.c"), "-o", made["sigparent"]], check=True,
                   timeout=300)
    return made


@pytest.fixture(params=list(BUILDS))
def drv(request: pytest.FixtureRequest, built: dict[str, str]) -> str:
    return built[request.param]


@pytest.fixture
def rec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file at_end and done write to; the slots are files beside it."""
    for name, value in SAN_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RUN_DRIVER_RECORD", str(tmp_path / "record"))
    monkeypatch.setenv("RUN_DRIVER_SLOTS", str(tmp_path))
    return tmp_path / "record"


def through(drv: str, kind: str, cmd: list[str], fds: int = 1) -> list[str]:
    """The driver's command line; `cmd` may start with driver options, then "--"."""
    head = [drv, *(["--forking"] if kind == "forking" else []), "--fds", str(fds)]
    return [*head, *cmd] if "--" in cmd else [*head, "--", *cmd]


def run(drv: str, kind: str, cmd: list[str], fds: int = 1, **kw: Any) -> Any:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(through(drv, kind, cmd, fds), timeout=60, **kw)


def lines(record: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in record.read_text().splitlines()] if record.exists() else []


def done_line(record: Path) -> dict[str, Any]:
    [done] = [x for x in lines(record) if "code" in x]
    return done


# -- how it ends ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_status_and_output_pass_through(drv: str, rec: Path, kind: str) -> None:
    r = run(drv, kind, ["sh", "-c", "echo out; echo err >&2; exit 130"])
    assert (r.returncode, r.stdout, r.stderr) == (130, "out\n", "err\n")  # not a signal
    wait_for(lambda: any("code" in x for x in lines(rec)), what="the record")
    got = lines(rec)
    at_end = [x for x in got if "at_end" in x]
    assert at_end == [{"at_end": at_end[0]["driver"], "driver": at_end[0]["driver"]}]
    done = done_line(rec)
    assert done["code"] == 130 and done["run_s"] > 0 and done["held"] == [1]
    if kind == "plain":  # the record before the answer, in the driver, after at_end
        assert got[0] == at_end[0] and done["pid"] == done["driver"]
    else:  # in the bookkeeper
        assert done["pid"] != done["driver"]
    wait_for(lambda: not locked(rec.parent / "slot.0"), what="the slot to be let go")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGSEGV, signal.SIGRTMIN + 1])
def test_death_by_signal_is_death_by_that_signal(drv: str, rec: Path, tmp_path: Path,
                                                 kind: str, sig: int) -> None:
    """No core file of the driver's (in ``cwd``) though cores are allowed."""
    cwd, elsewhere = tmp_path / "cwd", tmp_path / "elsewhere"
    cwd.mkdir()
    elsewhere.mkdir()
    r = run(drv, kind, ["sh", "-c", f"cd {elsewhere} && kill -{int(sig)} $$"], cwd=cwd,
            preexec_fn=cores_allowed)
    assert (r.returncode, r.stderr) == (-sig, "")
    assert list(cwd.iterdir()) == []
    wait_for(lambda: any("code" in x for x in lines(rec)), what="the record")
    assert done_line(rec)["code"] == -sig


def test_a_shell_sees_the_status_it_would_see_bare(drv: str, rec: Path) -> None:
    script = f"{drv} --fds 1 -- sh -c 'kill -INT $$'; echo $?; {drv} -- sh -c 'exit 7'; echo $?"
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert (r.stdout, r.stderr) == ("130\n7\n", "")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name,status,why", [
    ("no-such-command-here", 127, "No such file or directory"),
    ("/etc", 126, "Permission denied"),
    ("", 127, "No such file or directory"),
])
def test_a_command_that_cannot_run(drv: str, rec: Path, kind: str, name: str, status: int,
                                   why: str) -> None:
    r = run(drv, kind, [name, "arg"])
    assert (r.returncode, r.stdout) == (status, "")
    assert r.stderr == f"linkpool: cannot run {name or repr('')}: {why}\n"
    wait_for(lambda: any("code" in x for x in lines(rec)), what="the record")
    assert done_line(rec)["code"] == status
    assert len([x for x in lines(rec) if "at_end" in x]) == 1


def test_lp_exec_and_lp_leave(drv: str, rec: Path) -> None:
    r = subprocess.run([drv, "--exec", "the pool is gone", "--", "sh", "-c", "echo $$; exit 4"],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stderr) == (4, "linkpool: warning: the pool is gone\n")
    r = subprocess.run([drv, "--exec", "-", "--", "/nonexistent/ld"], capture_output=True,
                       text=True, timeout=60)
    assert (r.returncode, r.stderr) == (127, "linkpool: cannot run /nonexistent/ld: "
                                              "No such file or directory\n")
    for code in (0, 3, -int(signal.SIGTERM), -int(signal.SIGABRT)):
        r = subprocess.run([drv, "--leave", str(code)], capture_output=True, text=True,
                           timeout=60, preexec_fn=cores_allowed, cwd=rec.parent)
        assert (r.returncode, r.stderr) == (code, "")
    assert not list(rec.parent.glob("core*"))


@pytest.mark.parametrize("kind", KINDS)
def test_a_marker_too_big_for_exec_is_dropped(drv: str, rec: Path, kind: str) -> None:
    """E2BIG with LINKPOOL_HELD: the command runs without it (as process._spawn)."""
    show = ["sh", "-c", 'echo "${LINKPOOL_HELD-unset}"']
    big = ["--pad", "200000"]  # above MAX_ARG_STRLEN (128 KiB)
    r = run(drv, kind, ["--setenv", "LINKPOOL_HELD=", *big, "--", *show])
    assert (r.returncode, r.stdout, r.stderr) == (0, "unset\n", "")
    r = run(drv, kind, ["--setenv", "SOMETHING_ELSE=", *big, "--", *show])
    assert (r.returncode, r.stderr) == (126, "linkpool: cannot run sh: Argument list too long\n")


# -- signals: once each, stops, dispositions ----------------------------------------------

COUNTER = """
import os, signal, sys, time
log = sys.argv[1]
def note(signum, frame):
    with open(log, "a") as f:
        f.write(f"{signum}\\n")
for s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGRTMIN + 2):
    signal.signal(s, note)
open(log + ".ready", "w").close()
while not os.path.exists(log + ".stop"):
    time.sleep(0.01)
"""


@pytest.mark.parametrize("kind", KINDS)
def test_group_signals_arrive_once_and_lone_ones_are_passed_on_once(
        drv: str, rec: Path, tmp_path: Path, kind: str) -> None:
    script, log = tmp_path / "counter.py", tmp_path / "log"
    script.write_text(COUNTER)
    p = subprocess.Popen(through(drv, kind, ["sh", "-c", f"exec {sys.executable} {script} {log}"]),
                         start_new_session=True, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: Path(f"{log}.ready").exists(), what="the command's handlers")
        sent: list[int] = []
        for sig in (signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE,
                    signal.SIGRTMIN + 2):
            for to_group in (True, False):
                (os.killpg if to_group else os.kill)(p.pid, sig)
                sent.append(sig)
                wait_for(lambda: log.exists() and len(log.read_text().split()) >= len(sent),
                         what=f"signal {sig} (group: {to_group})")
                time.sleep(0.05)  # a second copy, if any, arrives meanwhile
                assert [int(x) for x in log.read_text().split()] == sent, f"group: {to_group}"
        Path(f"{log}.stop").touch()
        assert p.wait(timeout=30) == 0
        assert p.stderr is not None and p.stderr.read() == b""
    finally:
        Path(f"{log}.stop").touch()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stop,to_group", [(signal.SIGTSTP, False), (signal.SIGTSTP, True),
                                           (signal.SIGTTOU, False)])
def test_a_stop_signal_stops_the_command_and_the_driver(
        drv: str, rec: Path, tmp_path: Path, kind: str, stop: int, to_group: bool) -> None:
    """The caller sees the driver stopped by that signal; SIGCONT continues both."""
    pidfile = tmp_path / "pid"
    cmd = ["sh", "-c", f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; "
                       "for i in 1 2 3 4 5; do sleep 0.1; done; exit 5"]
    # a group of its own in this session: not orphaned (where stop signals do nothing)
    p = subprocess.Popen(through(drv, kind, cmd), process_group=0, stderr=subprocess.PIPE)
    try:
        wait_for(pidfile.exists, what="the command")
        command = int(pidfile.read_text())
        (os.killpg if to_group else os.kill)(p.pid, stop)
        wait_for(lambda: stopped(command) and state(p.pid) == "T", what="both stopped")
        _, st = os.waitpid(p.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(st) and os.WSTOPSIG(st) == stop
        time.sleep(0.3)
        assert stopped(command)
        (os.killpg if to_group else os.kill)(p.pid, signal.SIGCONT)
        assert p.wait(timeout=30) == 5
        assert p.stderr is not None and p.stderr.read() == b""
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.mark.parametrize("kind", KINDS)
def test_sigstop_to_the_driver_alone_changes_no_status(drv: str, rec: Path, tmp_path: Path,
                                                       kind: str) -> None:
    started, done = tmp_path / "started", tmp_path / "done"
    cmd = ["sh", "-c", f"touch {started}; sleep 0.3; touch {done}; exit 6"]
    p = subprocess.Popen(through(drv, kind, cmd), stderr=subprocess.PIPE)
    wait_for(started.exists, what="the command")
    p.send_signal(signal.SIGSTOP)
    wait_for(done.exists, what="the command's end")
    time.sleep(0.1)
    p.send_signal(signal.SIGCONT)
    assert p.wait(timeout=30) == 6
    assert p.stderr is not None and p.stderr.read() == b""


def sig_lines(out: str) -> tuple[str, str]:
    """SigIgn and SigBlk, all 64 signals (32 and 33, glibc's own, included)."""
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return fields["SigIgn"].strip(), fields["SigBlk"].strip()


SHOW = ["grep", "-hE", "^Sig(Ign|Blk)", "/proc/self/status"]  # not through sh: dash resets
# its mask


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("setup,background", [
    ("", ""), ("trap '' PIPE XFSZ;", ""), ("trap '' HUP INT QUIT USR1;", ""),
    ("trap '' PIPE;", "& wait"),  # a background job of a script: SIGINT and SIGQUIT too
])
def test_ignored_signals_reach_the_command(drv: str, rec: Path, kind: str, setup: str,
                                           background: str) -> None:
    cmd = shlex.join(SHOW)
    bare = subprocess.run(["bash", "-c", f"{setup} {cmd} {background}"], capture_output=True,
                          text=True, timeout=60)
    got = subprocess.run(["bash", "-c", f"{setup} {shlex.join(through(drv, kind, []))} {cmd} "
                          f"{background}"], capture_output=True, text=True, timeout=60)
    assert got.stderr == ""
    assert sig_lines(got.stdout) == sig_lines(bare.stdout)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ign,blk", [
    ("32,33", "-"),  # what glibc's posix_spawn could not give back
    ("17", "32,33,10,15"),  # SIGCHLD ignored: the driver still has the status
    ("13,32", "2,33,34,64"),
])
def test_a_mask_and_dispositions_set_with_raw_system_calls(
        drv: str, rec: Path, built: dict[str, str], kind: str, ign: str, blk: str) -> None:
    cmd = [*SHOW, "/nonexistent"]  # grep's status 2: the driver has it, SIGCHLD ignored or not
    bare = subprocess.run([built["sigparent"], ign, blk, "--", *cmd], capture_output=True,
                          text=True, timeout=60)
    got = subprocess.run([built["sigparent"], ign, blk, "--", *through(drv, kind, cmd)],
                         capture_output=True, text=True, timeout=60)
    assert (got.returncode, got.stderr) == (bare.returncode, bare.stderr)
    assert bare.returncode == 2
    assert sig_lines(got.stdout) == sig_lines(bare.stdout)


# -- descriptors ---------------------------------------------------------------------------

LIST_FDS = ("import json, os, resource, sys; soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]; "
            "fds = sorted(int(f) for f in os.listdir('/proc/self/fd')); "
            "open(sys.argv[1], 'w').write(json.dumps([[f for f in fds if f < soft], "
            "len([f for f in fds if f >= soft])]))")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("closed", ["", "<&- >&- 2>&-", ">&-", "2>&-"])
def test_closed_stdio_stays_closed_and_the_slots_sit_above_the_limit(
        drv: str, rec: Path, tmp_path: Path, kind: str, closed: str) -> None:
    out = tmp_path / "fds.json"
    cmd = shlex.join([sys.executable, "-c", LIST_FDS, str(out)])
    subprocess.run(["bash", "-c", f"ulimit -Sn 64; {cmd} {closed}"], timeout=60, check=True)
    bare = json.loads(out.read_text())
    out.unlink()
    r = subprocess.run(["bash", "-c", f"ulimit -Sn 64; {shlex.join(through(drv, kind, [], 3))} "
                        f"{cmd} {closed}"], timeout=60, capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (0, "")
    assert json.loads(out.read_text()) == [bare[0], 3]  # below the limit as bare; 3 slots above


# -- mold's path: the answer first, the slots kept by the link's own processes --------------


def test_a_forking_command_answers_at_its_first_exit(drv: str, rec: Path) -> None:
    slot = rec.parent / "slot.0"
    cmd = ["sh", "-c", "(sleep 1; exit 9) </dev/null >/dev/null 2>&1 & echo first; exit 4"]
    start = time.monotonic()
    r = run(drv, "forking", cmd)  # (capture_output waits for the EOF of both pipes too)
    answered = time.monotonic() - start
    assert (r.returncode, r.stdout, r.stderr) == (4, "first\n", "")
    assert answered < 0.8, f"the answer took {answered:.2f} s"
    assert locked(slot)  # by the child
    assert [x for x in lines(rec) if "code" in x] == []  # the bookkeeper still waits
    wait_for(lambda: any("code" in x for x in lines(rec)), what="the record")
    done = done_line(rec)
    assert done["code"] == 4 and done["tail_s"] > 0.8 and done["pid"] != done["driver"]
    assert done["held"] == [1]  # done runs while the slots are held; then they go
    wait_for(lambda: not locked(slot), what="the slot to be let go")


@pytest.mark.parametrize("kind", KINDS)
def test_a_daemon_left_by_the_link_does_not_keep_the_slot(drv: str, rec: Path,
                                                          tmp_path: Path, kind: str) -> None:
    """A daemon in a session of its own (sccache's server) holds the slot's descriptor,
    not the slot, and is not waited for; a plain link records before it answers."""
    pidfile = tmp_path / "daemon"
    cmd = ["sh", "-c", f"setsid sleep 30 </dev/null >/dev/null 2>&1 & echo $! > {pidfile}"]
    r = run(drv, kind, cmd)
    assert (r.returncode, r.stderr) == (0, "")
    daemon = int(pidfile.read_text())
    try:
        if kind == "plain":
            assert done_line(rec)["code"] == 0
        wait_for(lambda: any("code" in x for x in lines(rec)), what="the record")
        wait_for(lambda: not locked(rec.parent / "slot.0"), what="the slot to be let go")
        assert any(os.readlink(f"/proc/{daemon}/fd/{fd}") == str(rec.parent / "slot.0")
                   for fd in os.listdir(f"/proc/{daemon}/fd")), "the test shows nothing"
    finally:
        os.kill(daemon, signal.SIGKILL)


ALLOCATE = ("import os, sys, time\n"
            "if sys.argv[1] == 'fork' and os.fork():\n"
            "    os._exit(0)\n"
            "data = b'x' * (64 << 20)\n"
            "time.sleep(0.5)\n")


@pytest.mark.parametrize("kind", KINDS)
def test_the_job_memory_and_cpu_are_measured(drv: str, rec: Path, kind: str) -> None:
    """The sampled anonymous peak and the peak RSS of the job; for the forking path,
    those of the child that outlives the first process."""
    r = run(drv, kind, [sys.executable, "-c", ALLOCATE, "fork" if kind == "forking" else "-"],
            capture_output=False, stdout=subprocess.DEVNULL)
    assert r.returncode == 0
    wait_for(lambda: any("code" in x for x in lines(rec)), what="the record")
    done = done_line(rec)
    assert done["anon_peak_kb"] > 60_000 and done["max_rss_kb"] > 60_000
    assert done["cpu_s"] > 0
    assert (done["tail_s"] > 0.3) == (kind == "forking")


@pytest.mark.parametrize("kind", KINDS)
def test_the_sentinel_holds_nothing_and_is_gone_at_the_answer(drv: str, rec: Path,
                                                              tmp_path: Path, kind: str) -> None:
    pidfile, stop = tmp_path / "pid", tmp_path / "stop"
    cmd = ["sh", "-c", f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; "
                       f"while [ ! -e {stop} ]; do sleep 0.02; done"]
    p = subprocess.Popen(through(drv, kind, cmd), start_new_session=True,
                         stdout=subprocess.DEVNULL)
    try:
        wait_for(pidfile.exists, what="the command")

        def watchers() -> list[int]:
            return [int(e) for e in os.listdir("/proc")
                    if e.isdigit() and pgid(int(e)) == p.pid and blocks_everything(int(e))]

        wait_for(watchers, what="the sentinel")  # (forked just after the command)
        time.sleep(0.1)
        watching = watchers()
        assert len(watching) == 1  # the sentinel alone: not the driver, not the bookkeeper
        links = [os.readlink(f"/proc/{watching[0]}/fd/{fd}")
                 for fd in os.listdir(f"/proc/{watching[0]}/fd")]
        assert len(links) == 1 and links[0].startswith("pipe:"), links
        stop.touch()
        assert p.wait(timeout=30) == 0
        assert not os.path.exists(f"/proc/{watching[0]}")
    finally:
        stop.touch()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def blocks_everything(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            blk = next(line for line in f if line.startswith("SigBlk:"))
    except (OSError, StopIteration):
        return False
    return int(blk.split()[1], 16) == (1 << 64) - 1 & ~(1 << 8) & ~(1 << 18)


# -- a real terminal ---------------------------------------------------------------------


def looping(script: Path) -> bool:
    mark = f"{script}\0".encode()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if mark in Path(f"/proc/{entry}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize("kind", KINDS)
def test_ctrl_z_fg_and_ctrl_c_in_a_terminal(built: dict[str, str], rec: Path, tmp_path: Path,
                                            term: Terminal, kind: str) -> None:
    """Ctrl-Z and fg change nothing (no line, the real status); Ctrl-C stops a shell loop
    of links as it stops a loop of bare commands."""
    drv, rc = built["san"], tmp_path / "rc"
    cmd = shlex.join(through(drv, kind, ["sh", "-c", f"touch {tmp_path}/started; sleep 2; "
                                                     f"echo slept-well; exit 3"]))
    term.line(cmd)
    wait_for(lambda: (tmp_path / "started").exists(), what="the command")
    time.sleep(0.2)
    term.keys("C-z")
    wait_for(lambda: "Stopped" in term.screen(), what=f"the job to stop: {term.screen()}")
    time.sleep(0.5)
    term.line(f'fg >/dev/null; echo "rc=$?" > {rc}')
    wait_for(lambda: rc.exists() and rc.read_text().strip(), what="the status")
    assert rc.read_text().strip() == "rc=3", term.screen()
    assert "slept-well" in term.screen() and "linkpool:" not in term.screen()
    loop, log = tmp_path / "loop.sh", tmp_path / "loop.log"
    loop.write_text(f"for i in 1 2 3; do\n  {shlex.join(through(drv, kind, []))} "
                    f"sh -c 'touch {tmp_path}/looping; sleep 5'\n  echo done $i >> {log}\n"
                    f"done\necho finished >> {log}\n")
    rc.unlink()
    term.line(f"bash {loop}")
    wait_for(lambda: (tmp_path / "looping").exists(), what="the loop's first link")
    time.sleep(0.3)
    term.keys("C-c")
    wait_for(lambda: not looping(loop), what="the loop's end")
    term.line(f'echo "rc=$?" > {rc}')
    wait_for(lambda: rc.exists() and rc.read_text().strip(), what="the loop's status")
    assert rc.read_text().strip() == "rc=130", term.screen()
    assert not log.exists() and "linkpool:" not in term.screen()
