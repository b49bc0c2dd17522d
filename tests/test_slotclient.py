"""The slot protocol's C library (core/slotclient/) through its example client,
examples/slot-client/hold.c, in the same pools as the Python clients (`linkpool run`).

Black-box: `hold DIR K TIMEOUT -- CMD...` is built from the sources with `cc` (once with
every warning an error, once under AddressSanitizer and UBSan: any report fails), and
judged by the pool's files, `linkpool status`, an independent witness of who is inside,
and exit statuses. Real processes, real locks, real FIFOs and symlinks, real SIGKILLs.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import (
    LINKPOOL,
    WITNESS,
    gate,
    locked,
    lp,
    make_pool,
    status,
    wait_for,
    witness_cmd,
    witness_log,
)

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "core" / "slotclient" / "lpslot.c", REPO / "examples" / "slot-client" / "hold.c"]
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87",
}
SYS_PY = "/usr/bin/python3"
TIMED_OUT, UNUSABLE = 75, 69
# A caller of the API beyond what hold does: lpslot_look, the argument errors, one lease
# per handle, and a signal handler of the caller's (no SA_RESTART) ending a wait.
PROBE_C = r"""
#define _GNU_SOURCE
#include "lpslot.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_alarm(int sig) { (void)sig; }

int main(int argc, char **argv) {
    int err = EINVAL;
    lpslot_pool *pool = argc > 2 ? lpslot_open(argv[1], &err) : NULL;
    if (!pool) {
        printf("open: %s\n", strerror(err));
        return 1;
    }
    lpslot_status st;
    lpslot_lease a, b;
    if (strcmp(argv[2], "look") == 0) {
        err = lpslot_look(pool, &st);
        printf("%d %d %d %d %d\n", err, st.slots, st.in_use, st.waiting, st.shared);
    } else if (strcmp(argv[2], "api") == 0) {
        printf("%d %d %d", lpslot_acquire(pool, 0, 1, NULL, 0, &a) == EINVAL,
               lpslot_acquire(pool, 1, 1, "[1]", 0, &a) == EINVAL,
               lpslot_acquire(pool, 1, 1, " { } ", 0, &a) == 0);
        printf(" %d %d", lpslot_acquire(pool, 1, 1, NULL, 0, &b) == EBUSY, a.count);
        lpslot_release(&a);
        lpslot_release(&a);
        printf(" %d", lpslot_acquire(pool, 1, 1, NULL, 0, &b) == 0);
        printf(" %d\n", b.count == 1 && b.slots[0] == 0 && b.fds[0] >= 0);
        lpslot_release(&b);
    } else if (strcmp(argv[2], "eintr") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm; /* no SA_RESTART */
        sigaction(SIGALRM, &sa, NULL);
        alarm(1);
        err = lpslot_acquire(pool, 1, -1, NULL, 0, &a);
        printf("%s\n", strerror(err));
    }
    lpslot_close(pool);
    return 0;
}
"""  # hold's exits: no slots in time; the pool cannot be used


@pytest.fixture(scope="session")
def bins() -> Iterator[dict[str, str]]:
    """hold built twice, in a folder every user may enter: "plain" with -Werror, "san"
    under the sanitizers. A warning (any compiler output) fails."""
    out = Path(tempfile.mkdtemp(prefix="lpslot-", dir="/tmp"))
    out.chmod(0o755)
    common = ["-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{REPO / 'core' / 'slotclient'}"]
    builds = {
        "plain": ["-O2"],
        "san": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                "-fno-sanitize-recover=undefined"],
    }
    (out / "probe.c").write_text(PROBE_C)
    # the witness, for clients run as another user: the clone may sit in a folder only
    # root can enter (a test must not depend on where the clone is)
    for folder, source in (("tests", Path(WITNESS)),
                           ("benchmarks", REPO / "benchmarks" / "pool_witness.py")):
        (out / folder).mkdir(mode=0o755)
        shutil.copy(source, out / folder / source.name)
        (out / folder / source.name).chmod(0o644)
    made: dict[str, str] = {"witness": str(out / "tests" / "witness.py")}
    try:
        yield build(out, common, builds, made)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def build(out: Path, common: list[str], builds: dict[str, list[str]],
          made: dict[str, str]) -> dict[str, str]:
    for name, flags in builds.items():
        for prog, main in (("hold", SOURCES[1]), ("probe", out / "probe.c")):
            exe = out / f"{prog}-{name}" if prog == "hold" else out / prog
            if prog == "probe" and name == "plain":
                continue
            r = subprocess.run(["cc", *common, *flags, str(SOURCES[0]), str(main), "-o",
                                str(exe)], capture_output=True, text=True, timeout=300)
            assert r.returncode == 0 and r.stdout == r.stderr == "", r.stderr
            made[name if prog == "hold" else prog] = str(exe)
    return made


def hold(bins: dict[str, str], pool: Path, k: int, timeout: float, *cmd: str,
         build: str = "san", env: dict[str, str] | None = None, prefix: tuple = (),
         **kw) -> subprocess.Popen:
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([*prefix, bins[build], str(pool), str(k), str(timeout), "--", *cmd],
                            env={**os.environ, **SAN_ENV, **(env or {})}, text=True, **kw)


def py_run(pool: Path, k: int, *cmd: str, **kw) -> subprocess.Popen:
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([LINKPOOL, "run", "--quiet", "--pool", str(pool), "--weight",
                             str(k), "--", *cmd], text=True, **kw)


def ended(p: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    """(exit status, stderr) of a client; a sanitizer report in it fails the test."""
    code = p.wait(timeout=timeout)
    err = p.stderr.read() if p.stderr else ""
    assert "Sanitizer" not in err and "runtime error" not in err, err
    return code, err


def waiting(pool: Path) -> int:
    return status(pool)["waiting"]


def in_line(pool: Path, n: int) -> None:
    wait_for(lambda: waiting(pool) == n, what=f"{n} in line")


def in_use(pool: Path) -> int:
    return status(pool)["in_use"]


def has_inotify(pid: int) -> bool:
    """Whether the process has an inotify descriptor (its fdinfo lists watches)."""
    fds = Path(f"/proc/{pid}/fdinfo")
    for f in fds.iterdir():
        try:
            if "inotify wd:" in f.read_text():
                return True
        except OSError:
            pass
    return False


# -- it builds, and works alone -------------------------------------------------------------


def test_hold_runs_the_command_with_its_slots_and_its_exit_status(bins, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 2)
    for build in ("plain", "san"):
        p = hold(bins, pool, 2, 10, "sh", "-c", "exit 7", build=build)
        assert ended(p) == (7, "")
        p = hold(bins, pool, 1, 10, "sh", "-c", "kill -TERM $$", build=build)
        assert ended(p)[0] == -signal.SIGTERM
    assert sorted(os.listdir(pool)) == ["pool.json", "queue.lock", "slot.0", "slot.1"]
    assert in_use(pool) == 0
    # the command inherits the held slots, and nothing else of the pool
    p = hold(bins, pool, 2, 10, "sh", "-c", 'ls -l /proc/$$/fd', stdout=subprocess.PIPE)
    fds = p.stdout.read() if p.stdout else ""
    assert ended(p) == (0, "")
    assert f"{pool}/slot.0" in fds and f"{pool}/slot.1" in fds
    assert fds.count(str(pool)) == 2 and "inotify" not in fds, fds


def test_status_shows_the_c_clients_note_and_a_weight_above_the_slots_takes_all(
        bins, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 2)
    flag = tmp_path / "go"
    p = hold(bins, pool, 5, 10, *gate(flag))
    wait_for(lambda: in_use(pool) == 2, what="the heavy job holds both slots")
    (h,) = status(pool)["holders"]
    assert (h["pid"], h["weight"], h["held"], h["slot_indices"]) == (p.pid, 5, 2, [0, 1])
    assert h["command"] == gate(flag) and h["waited"] >= 0
    r = lp("run", "--strict", "--pool", str(pool), "--timeout", "0.3", "--", "true")
    assert r.returncode != 0  # a Python client finds no slot free
    flag.touch()
    assert ended(p) == (0, "")
    assert in_use(pool) == 0


def test_refusals_of_a_private_pool(bins, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    pool = make_pool(tmp_path / "p", 1)
    (pool / "slot.0").unlink()
    (pool / "slot.0").symlink_to(victim)
    code, err = ended(hold(bins, pool, 1, 5, "true"))
    assert code == UNUSABLE and "Too many levels of symbolic links" in err
    assert victim.read_text() == "precious"
    link = tmp_path / "link"
    link.symlink_to(make_pool(tmp_path / "q", 1))
    assert ended(hold(bins, link, 1, 5, "true"))[0] == UNUSABLE
    corrupt = make_pool(tmp_path / "c", 1)
    for text in ('{"protocol": 1, "slots": 1.0}', '{"slots": 1, "slots": 2}',
                 '{"protocol": 1, "slots": 2, "x": 1}', "[2]", '{"slots": 02}'):
        (corrupt / "pool.json").write_text(text)
        code, err = ended(hold(bins, corrupt, 1, 5, "true"))
        assert code == UNUSABLE and "Bad message" in err, text
    for text in ('{"protocol": 2, "slots": 1, "later": []}',
                 '{"later": {"x": [1]}, "slots": 1, "protocol": 12}'):
        (corrupt / "pool.json").write_text(text)
        code, err = ended(hold(bins, corrupt, 1, 5, "true"))
        assert code == UNUSABLE and "Protocol not supported" in err, text
    (corrupt / "pool.json").write_text('{ "slots" : 1 }\n')  # as the reference reads it
    assert ended(hold(bins, corrupt, 1, 5, "true")) == (0, "")
    open_pool = make_pool(tmp_path / "o", 1)
    open_pool.chmod(0o770)
    assert ended(hold(bins, open_pool, 1, 5, "true"))[0] == UNUSABLE
    assert ended(hold(bins, tmp_path / "none", 1, 5, "true"))[0] == UNUSABLE


# -- waiting ----------------------------------------------------------------------------------


def test_timeout_gives_up_within_the_deadline_and_leaves_nothing(bins, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    flag = tmp_path / "go"
    holder = py_run(pool, 1, *gate(flag))
    wait_for(lambda: in_use(pool) == 1, what="the Python holder")
    for polling in ("", "polling"):
        start = time.monotonic()
        code, err = ended(hold(bins, pool, 1, 0.5, "touch", str(tmp_path / "ran"),
                               env={"LINKPOOL_WAKEUP": polling}))
        took = time.monotonic() - start
        assert code == TIMED_OUT and "timed out" in err
        assert 0.5 <= took < 5, took
        assert not (tmp_path / "ran").exists()
        assert not [n for n in os.listdir(pool) if n.startswith("wait.")]
    flag.touch()
    assert ended(holder) == (0, "")


@pytest.mark.parametrize("wakeup", ["inotify", "polling"])
def test_the_head_wakes_on_a_release(bins, tmp_path: Path, wakeup: str) -> None:
    """inotify by default; LINKPOOL_WAKEUP=polling polls (the waiting head has no
    inotify descriptor)."""
    pool = make_pool(tmp_path / "p", 1)
    flag = tmp_path / "go"
    holder = py_run(pool, 1, *gate(flag))
    wait_for(lambda: in_use(pool) == 1, what="the Python holder")
    env = {"LINKPOOL_WAKEUP": "polling"} if wakeup == "polling" else {}
    p = hold(bins, pool, 1, 30, "touch", str(tmp_path / "ran"), env=env)
    wait_for(lambda: waiting(pool) == 1, what="the C head waits")
    if wakeup == "inotify":
        wait_for(lambda: has_inotify(p.pid), what="the head's inotify watch")
    else:
        time.sleep(0.3)  # its first looks are done: it sleeps now, polling
        assert not has_inotify(p.pid)
    flag.touch()
    assert ended(holder) == (0, "")
    assert ended(p) == (0, "")
    assert (tmp_path / "ran").exists()


def test_a_resize_while_waiting_admits_the_head(bins, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    flag, flag2 = tmp_path / "go", tmp_path / "go2"
    holder = py_run(pool, 1, *gate(flag))
    wait_for(lambda: in_use(pool) == 1, what="the Python holder")
    p = hold(bins, pool, 1, 30, *gate(flag2))
    wait_for(lambda: waiting(pool) == 1, what="the C head waits")
    lp("init", "--pool", str(pool), "--slots", "2", check=True)  # rename onto pool.json
    wait_for(lambda: in_use(pool) == 2, what="the head admitted in the new slot")
    assert [h["slot_indices"] for h in status(pool)["holders"]] == [[0], [1]]
    flag.touch()
    flag2.touch()
    assert ended(holder) == (0, "") and ended(p) == (0, "")


def test_a_shrink_waits_for_the_slots_above_the_new_size(bins, tmp_path: Path) -> None:
    """k + h: after a shrink from 2 to 1 slots, a job still holding slot 1 keeps the
    head out of slot 0 until it ends."""
    pool = make_pool(tmp_path / "p", 2)
    flags = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    first = hold(bins, pool, 1, 30, *gate(flags[0]))
    wait_for(lambda: in_use(pool) == 1, what="slot 0 held")
    second = py_run(pool, 1, *gate(flags[1]))
    wait_for(lambda: in_use(pool) == 2, what="slot 1 held")
    lp("init", "--pool", str(pool), "--slots", "1", check=True)
    flags[0].touch()  # slot 0 is free now, but slot 1 (above N) is still held
    assert ended(first) == (0, "")
    p = hold(bins, pool, 1, 30, "touch", str(tmp_path / "ran"))
    wait_for(lambda: waiting(pool) == 1, what="the head waits")
    time.sleep(0.3)
    assert p.poll() is None and not (tmp_path / "ran").exists()
    flags[1].touch()
    assert ended(second) == (0, "") and ended(p) == (0, "")
    assert (tmp_path / "ran").exists()


@pytest.mark.parametrize("first", ["python", "c"])
def test_first_come_first_served_across_clients(bins, tmp_path: Path, first: str) -> None:
    pool = make_pool(tmp_path / "p", 1)
    flag, order = tmp_path / "go", tmp_path / "order"
    holder = hold(bins, pool, 1, 30, *gate(flag))
    wait_for(lambda: in_use(pool) == 1, what="the holder")
    procs = []
    for i, who in enumerate([first, "c" if first == "python" else "python"]):
        cmd = ["sh", "-c", f'echo {who} >> "$0"', str(order)]
        procs.append(py_run(pool, 1, *cmd) if who == "python" else hold(bins, pool, 1, 30, *cmd))
        in_line(pool, i + 1)
    flag.touch()
    for p in [holder, *procs]:
        assert ended(p) == (0, "")
    assert order.read_text().split() == [first, "c" if first == "python" else "python"]


# -- C and Python clients in one pool, under chaos -----------------------------------------------


def test_c_and_python_clients_under_sigkills_never_exceed_the_pool(bins, tmp_path: Path) -> None:
    slots = 3
    pool = make_pool(tmp_path / "p", slots)
    seen = tmp_path / "seen"
    seen.mkdir()
    rng = random.Random(20261207)
    jobs = []
    for i in range(36):
        weight = rng.randint(1, slots)
        cmd = witness_cmd(seen, str(i), weight, rng.uniform(0.02, 0.2))
        if i % 2:
            p = hold(bins, pool, weight, 120, *cmd, start_new_session=True)
        else:
            p = py_run(pool, weight, *cmd, start_new_session=True)
        jobs.append(p)
    victims = dict(zip(rng.sample(range(36), 8), ["client", "job"] * 4))
    for i, how in victims.items():
        time.sleep(rng.uniform(0.0, 0.2))
        if how == "client":
            jobs[i].kill()  # the command lives on with the inherited slots
        else:
            os.killpg(jobs[i].pid, signal.SIGKILL)
    for i, p in enumerate(jobs):
        code, err = ended(p, 120)
        if i not in victims:
            assert (code, err) == (0, ""), f"job {i}"
    most, _, done = witness_log(seen)
    assert most <= slots, f"the witness saw weight {most} inside a {slots}-slot pool"
    assert {str(i) for i in range(36) if i not in victims} <= done
    wait_for(lambda: not status(pool)["holders"], timeout=30, what="no holders")
    st = status(pool)
    assert (st["in_use"], st["waiting"], st["unknown_holders"]) == (0, 0, 0)
    assert ended(hold(bins, pool, slots, 5, "true")) == (0, "")


# -- a shared pool with hostile entries -----------------------------------------------------------


def shared(tmp_path: Path, slots: int) -> tuple[Path, Path]:
    area = Path(tempfile.mkdtemp(prefix="lpslot-", dir="/tmp"))
    area.chmod(0o755)
    pool = area / "pool"
    lp("init", "--shared", str(pool), "--slots", str(slots), check=True)
    seen = area / "seen"
    seen.mkdir(mode=0o777)
    seen.chmod(0o777)
    return pool, seen


HOSTILE = {
    "fifo": lambda f: os.mkfifo(f, 0o666),
    "symlink": lambda f: f.symlink_to("/etc/passwd"),
    "directory": lambda f: f.mkdir(),
}


@pytest.mark.parametrize("what", list(HOSTILE))
def test_a_hostile_slot_in_a_shared_pool_is_a_slot_never_free(bins, tmp_path: Path,
                                                              what: str) -> None:
    pool, seen = shared(tmp_path, 3)
    try:
        (pool / "slot.1").unlink()
        HOSTILE[what](pool / "slot.1")
        start = time.monotonic()
        procs = [hold(bins, pool, 1, 20, *witness_cmd(seen, str(i), 1, 0.3)) for i in range(4)]
        procs.append(hold(bins, pool, 3, 20, *witness_cmd(seen, "heavy", 2, 0.1)))
        assert [ended(p, 40) for p in procs] == [(0, "")] * 5
        assert time.monotonic() - start < 20
        most, _, done = witness_log(seen)
        assert len(done) == 5 and most <= 2, most  # the heavy one takes the 2 slots left
        assert Path("/etc/passwd").read_text().startswith("root:")
    finally:
        shutil.rmtree(pool.parent, ignore_errors=True)


def test_hostile_and_dead_tickets_ahead_are_passed_over(bins, tmp_path: Path) -> None:
    """A FIFO, a symlink and a directory at ticket names, and a dead ticket of another
    user that the waiter (an unprivileged user) may not remove: nobody's place in line."""
    pool, seen = shared(tmp_path, 2)
    try:
        os.mkfifo(pool / "wait.3", 0o666)
        (pool / "wait.5").symlink_to("/etc/passwd")
        (pool / "wait.7").mkdir()
        (pool / "wait.9").write_text("{}")  # root's, dead: a user may not unlink it
        nobody = pwd.getpwnam("nobody")
        as_nobody = ("setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                     "--clear-groups")
        start = time.monotonic()  # the venv's Python is under /root: the system's
        procs = [hold(bins, pool, 1, 20, SYS_PY, bins["witness"],
                      *witness_cmd(seen, f"u{i}", 1, 0.2)[2:],
                      prefix=as_nobody, cwd="/") for i in range(3)]
        assert [ended(p, 40) for p in procs] == [(0, "")] * 3
        assert time.monotonic() - start < 20
        most, _, done = witness_log(seen)
        assert len(done) == 3 and most <= 2, most
        assert Path("/etc/passwd").read_text().startswith("root:")
        left = sorted(n for n in os.listdir(pool) if n.startswith("wait."))
        assert left == ["wait.3", "wait.5", "wait.7", "wait.9"]
    finally:
        shutil.rmtree(pool.parent, ignore_errors=True)


def test_a_queue_lock_held_for_ever_or_taken_is_done_without(bins, tmp_path: Path) -> None:
    """queue.lock held by a stopped or hostile process: the draw goes on without it after
    a second; in a shared pool, a FIFO in its place is passed over at once."""
    pool = make_pool(tmp_path / "p", 2)
    flag = tmp_path / "go"
    locker = subprocess.Popen(["flock", str(pool / "queue.lock"), *gate(flag)])
    wait_for(lambda: locked(pool / "queue.lock"), what="queue.lock held")
    try:
        start = time.monotonic()
        procs = [hold(bins, pool, 1, 20, "true") for _ in range(3)]
        assert [ended(p) for p in procs] == [(0, "")] * 3
        assert time.monotonic() - start < 15
    finally:
        flag.touch()
        locker.wait(timeout=20)
    shared_pool, _ = shared(tmp_path, 1)
    try:
        (shared_pool / "queue.lock").unlink()
        os.mkfifo(shared_pool / "queue.lock", 0o666)
        procs = [hold(bins, shared_pool, 1, 20, "true") for _ in range(3)]
        assert [ended(p) for p in procs] == [(0, "")] * 3
    finally:
        shutil.rmtree(shared_pool.parent, ignore_errors=True)


def test_any_pool_json_is_read_or_refused_without_a_sanitizer_report(bins, tmp_path: Path
                                                                    ) -> None:
    """Seeded random edits of a good pool.json, and random bytes: each one the C client
    either uses (exit 0) or refuses (69), and the sanitizers see nothing."""
    pool = make_pool(tmp_path / "p", 2)
    rng = random.Random(7)
    good = b'{"protocol": 1, "slots": 2, "shared": false}\n'
    alphabet = b'{}[]":,0123456789 -.eEtruefalsn\\\x00\xff\n'
    texts = [b"", b"{", b'{"slots"', b'{"slots":', b'{"slots":4096}', b'{"slots":4097}',
             b'{"slots":99999999999999999999}', b"x" * 5000, b'{"slots":3}',
             b' {\n"shared" : true , "slots":1,"protocol":1}\t', b'{"slots": 1, "protocol": 1}']
    for _ in range(120):
        edit = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(edit) + 1)
            what = rng.choice(["insert", "delete", "replace"])
            c = alphabet[rng.randrange(len(alphabet))]
            if what == "insert":
                edit[i:i] = bytes([c])
            elif i < len(edit):
                edit[i:i + 1] = b"" if what == "delete" else bytes([c])
        texts.append(bytes(edit))
    texts += [bytes(rng.randrange(256) for _ in range(rng.randint(1, 80))) for _ in range(20)]
    accepted: list[bytes] = []
    for text in texts:
        (pool / "pool.json").write_bytes(text)
        code, err = ended(hold(bins, pool, 1, 5, "true"))
        assert code in (0, UNUSABLE), (text, code, err)
        if code == 0:  # what the C client uses, the reference uses too
            accepted.append(text)
            assert lp("status", "--pool", str(pool)).returncode == 0, text
    assert len(accepted) >= 4


def probe(bins: dict[str, str], pool: Path, *args: str) -> str:
    p = subprocess.Popen([bins["probe"], str(pool), *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env={**os.environ, **SAN_ENV}, text=True)
    out = p.stdout.read() if p.stdout else ""
    assert ended(p) == (0, ""), out
    return out


def test_the_api_looks_refuses_bad_calls_and_gives_up_on_the_callers_signal(
        bins, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 2)
    assert probe(bins, pool, "api") == "1 1 1 1 1 1 1\n"
    assert probe(bins, pool, "look") == "0 2 0 0 0\n"
    flag = tmp_path / "go"
    holder = py_run(pool, 2, *gate(flag))
    wait_for(lambda: in_use(pool) == 2, what="the Python holder")
    waiter = hold(bins, pool, 1, 30, "true")
    in_line(pool, 1)
    assert probe(bins, pool, "look") == "0 2 2 1 0\n"
    flag.touch()
    assert ended(holder) == (0, "") and ended(waiter) == (0, "")
    flag.unlink()
    holder = py_run(pool, 2, *gate(flag))
    wait_for(lambda: in_use(pool) == 2, what="the Python holder")
    start = time.monotonic()
    assert probe(bins, pool, "eintr") == "Interrupted system call\n"  # as the head
    assert time.monotonic() - start < 10
    assert not [n for n in os.listdir(pool) if n.startswith("wait.")]
    flag.touch()
    assert ended(holder) == (0, "")
    assert probe(bins, pool, "look") == "0 2 0 0 0\n"


STORM = ("import os, sys\n"
         "name = os.path.join(sys.argv[1], 'storm')\n"
         "while True:\n"
         "    os.close(os.open(name, os.O_WRONLY | os.O_CREAT, 0o644))\n")


def test_a_storm_of_closes_does_not_make_the_head_spin(bins, tmp_path: Path) -> None:
    """Something closes a file in the pool in a loop (each close wakes the head): the C
    head waiting behind a real holder still sleeps (its CPU well under 30 % of the
    wait), and is admitted when the holder leaves."""
    pool = make_pool(tmp_path / "p", 1)
    flag = tmp_path / "go"
    holder = py_run(pool, 1, *gate(flag))
    wait_for(lambda: in_use(pool) == 1, what="the Python holder")
    storm = subprocess.Popen([SYS_PY, "-c", STORM, str(pool)])
    try:
        start = time.monotonic()
        p = hold(bins, pool, 1, 60, "true")
        in_line(pool, 1)
        time.sleep(2)
        flag.touch()
        _, code, usage = os.wait4(p.pid, 0)
        wall = time.monotonic() - start
    finally:
        storm.kill()
        storm.wait()
        flag.touch()
        holder.wait(timeout=20)
    err = p.stderr.read() if p.stderr else ""
    assert os.waitstatus_to_exitcode(code) == 0 and err == "", err
    cpu = usage.ru_utime + usage.ru_stime
    assert cpu < 0.3 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s"


EXHAUST = ("import ctypes, os, sys, time\n"
           "libc = ctypes.CDLL(None)\n"
           "fds = []\n"
           "while libc.inotify_init1(0o2000000) >= 0:\n"  # O_CLOEXEC, until EMFILE
           "    fds.append(1)\n"
           "print(len(fds), flush=True)\n"
           "time.sleep(120)\n")


@pytest.fixture
def user() -> Iterator[str]:
    """A user of our own, made for the test (others' tests may use nobody)."""
    name = f"lpsc{os.getpid() % 100000}"
    subprocess.run(["useradd", "-M", "-r", "-s", "/bin/sh", name], check=True,
                   capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", "-f", name], capture_output=True)


def test_with_no_inotify_instance_left_the_head_polls(bins, tmp_path: Path, user: str) -> None:
    """Every inotify instance the user may have is taken (max_user_instances): its C head
    cannot have one (EMFILE), polls, and is admitted when the slot is released."""
    pool, _ = shared(tmp_path, 1)
    pw = pwd.getpwnam(user)
    as_user = ("setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups")
    flag = pool.parent / "go"
    holder = py_run(pool, 1, *gate(flag))
    hog = subprocess.Popen([*as_user, SYS_PY, "-c", EXHAUST], stdout=subprocess.PIPE,
                           text=True, cwd="/")
    try:
        assert hog.stdout is not None and int(hog.stdout.readline()) > 0
        wait_for(lambda: in_use(pool) == 1, what="the holder")
        p = hold(bins, pool, 1, 30, "true", prefix=as_user, cwd="/")
        in_line(pool, 1)
        time.sleep(0.3)  # its first looks are done: it sleeps now, polling
        assert not has_inotify(p.pid)
        flag.touch()
        assert ended(p) == (0, "")
    finally:
        hog.kill()
        hog.wait()
        flag.touch()
        holder.wait(timeout=20)
        shutil.rmtree(pool.parent, ignore_errors=True)
