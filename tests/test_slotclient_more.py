"""What the C front door needs of the slot library (issue 20): lpslot_acquire_ex's `more`
and notice, lpslot_update_note, lpslot_holders, and core/frontdoor/waitline's lines,
in pools shared with Python clients, judged against what Python does and says.

- `more` takes free slots only when nobody waits behind, as Pool.acquire(more=...) does,
  whichever client is ahead or behind, and not while a slot above N is held;
- the notice speaks once, about a second into the wait, from inside it (behind another
  waiter, and as the head woken by inotify or polling);
- lpslot_update_note rewrites what `linkpool status --json` shows;
- lpslot_holders lists what Pool.status() lists, and the waiting line is the line
  Engine._say_waiting says, byte for byte, for the same pool, hostile notes included;
- the note reader agrees with core/pool.py's _parse on hostile, mutated, random and
  generated notes.

The C side is tests/slotclient/tool.c (a client of the calls) and notes.c (the note
reader alone), built with every warning an error, and under AddressSanitizer and UBSan
(any report fails). Real processes, real locks.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkpool.pool import _parse

from conftest import LINKPOOL, gate, locked, lp, make_pool, status, wait_for

REPO = Path(__file__).resolve().parent.parent
LPSLOT = REPO / "core" / "slotclient"
FRONTDOOR = REPO / "core" / "frontdoor"
HELPERS = Path(__file__).resolve().parent / "slotclient"
SAN_FLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
             "-fno-sanitize-recover=undefined"]
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87",
}
UTF8 = {"LC_ALL": "C.UTF-8"}  # Python's stderr: UTF-8 with backslashreplace
NOTE_READ = 65536  # bytes of a note `status` reads


@pytest.fixture(scope="session")
def tools() -> Iterator[dict[str, str]]:
    """tool and notes, built "plain" (-O2 -Werror) and "san" (the sanitizers). A warning
    (any compiler output) fails."""
    out = Path(tempfile.mkdtemp(prefix="lpslot-more-", dir="/tmp"))
    common = ["-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{LPSLOT}", f"-I{FRONTDOOR}"]
    made: dict[str, str] = {}
    try:
        for build, flags in (("plain", ["-O2"]), ("san", SAN_FLAGS)):
            for prog, sources in (
                    ("tool", [LPSLOT / "lpslot.c", FRONTDOOR / "waitline.c", HELPERS / "tool.c"]),
                    ("notes", [HELPERS / "notes.c"])):
                exe = out / f"{prog}-{build}"
                r = subprocess.run(["cc", *common, *flags, *map(str, sources), "-o", str(exe)],
                                   capture_output=True, text=True, timeout=300)
                assert r.returncode == 0 and r.stdout == r.stderr == "", r.stderr
                made[f"{prog}-{build}"] = str(exe)
        yield made
    finally:
        shutil.rmtree(out, ignore_errors=True)


def tool(tools: dict[str, str], *args: str, build: str = "san",
         env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen:
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([tools[f"tool-{build}"], *args],
                            env={**os.environ, **SAN_ENV, **(env or {})}, **kw)


def finished(p: subprocess.Popen, timeout: float = 60) -> tuple[int, list[str]]:
    """(exit status, stdout lines) of a tool; a sanitizer report fails the test."""
    out, err = p.communicate(timeout=timeout)
    assert b"Sanitizer" not in err and b"runtime error" not in err, err.decode(errors="replace")
    return p.returncode, out.decode().splitlines()


def acquire(tools: dict[str, str], pool: Path, k: int, *cmd: str, more: int = 0,
            notice: float = 1.0, note: str = "-", update: str = "-", timeout: float = 60,
            env: dict[str, str] | None = None, build: str = "san") -> subprocess.Popen:
    """`tool acquire`: k slots (and `more`), the notice after `notice` s, then `cmd`."""
    return tool(tools, "acquire", str(pool), str(k), str(timeout), str(more), str(notice),
                note, update, "--", *cmd, build=build, env=env)


def got(lines: list[str]) -> tuple[list[int], int]:
    """(the slots the tool got, how many notices it had heard by then)."""
    (line,) = [x for x in lines if x.startswith("got ")]
    _, _, slots, _, notices, _ = line.split()
    return [int(s) for s in slots.split(",")], int(notices)


def py_run(pool: Path, k: int, *cmd: str) -> subprocess.Popen:
    return subprocess.Popen([LINKPOOL, "run", "--quiet", "--pool", str(pool), "--weight",
                             str(k), "--", *cmd], stderr=subprocess.PIPE)


# Pool.acquire(more=...) itself, holding until argv[4] exists; prints its slots.
PY_MORE = """
import os, sys, time
from linkpool.pool import Pool
pool = Pool.open(sys.argv[1], create=False)
lease = pool.acquire(int(sys.argv[2]), 60, {"command": ["py-more"]},
                     more=lambda: int(sys.argv[3]))
print(",".join(map(str, sorted(lease.indices))), flush=True)
while not os.path.exists(sys.argv[4]):
    time.sleep(0.02)
lease.release()
"""


def py_more(pool: Path, k: int, more: int, flag: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PY_MORE, str(pool), str(k), str(more),
                             str(flag)], stdout=subprocess.PIPE, text=True)


def tickets(pool: Path) -> list[int]:
    return sorted(int(n[5:]) for n in os.listdir(pool) if n.startswith("wait."))


def in_line(pool: Path, n: int) -> None:
    wait_for(lambda: status(pool)["waiting"] == n, what=f"{n} in line")


def in_use(pool: Path, n: int) -> None:
    wait_for(lambda: status(pool)["in_use"] == n, what=f"{n} slots in use")


def new_pool(path: Path, slots: int) -> Path:
    """make_pool, for a path that need not be UTF-8 (`init` prints it)."""
    subprocess.run([LINKPOOL, "init", "--pool", path, "--slots", str(slots)], check=True,
                   capture_output=True, timeout=60)
    return path


def done(p: subprocess.Popen) -> None:
    assert p.wait(timeout=60) == 0


# -- more -------------------------------------------------------------------------------------


def test_more_takes_the_free_slots_when_nobody_waits_behind(tools, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 4)
    for build in ("plain", "san"):
        code, lines = finished(acquire(tools, pool, 1, "true", more=2, build=build))
        assert code == 0 and got(lines) == ([0, 1, 2], 0)
    # taken only if free, never waited for: a Python client holds two
    flag = tmp_path / "go"
    holder = py_run(pool, 2, *gate(flag))
    in_use(pool, 2)
    start = time.monotonic()
    code, lines = finished(acquire(tools, pool, 1, "true", more=5))
    assert code == 0 and got(lines) == ([2, 3], 0)
    assert time.monotonic() - start < 5
    # the note says the weight held
    flag2 = tmp_path / "go2"
    c = acquire(tools, pool, 1, *gate(flag2), more=1)
    in_use(pool, 4)
    (h,) = [h for h in status(pool)["holders"] if h["pid"] == c.pid]
    assert (h["weight"], h["held"], h["slot_indices"]) == (2, 2, [2, 3])
    flag.touch()
    flag2.touch()
    done(holder)
    assert finished(c)[0] == 0


@pytest.mark.parametrize("first", ["c", "python"])
def test_more_is_not_taken_with_anyone_behind(tools, tmp_path: Path, first: str) -> None:
    """A C client and Pool.acquire(more=...) in line one behind the other, behind a holder
    of every slot: the first is admitted with its weight alone (someone waits behind it),
    the last takes every slot left."""
    pool = make_pool(tmp_path / "p", 4)
    flags = [tmp_path / "holder", tmp_path / "c", tmp_path / "py"]
    holder = py_run(pool, 4, *gate(flags[0]))
    in_use(pool, 4)
    procs: dict[str, subprocess.Popen] = {}
    for i, who in enumerate([first, "python" if first == "c" else "c"]):
        if who == "c":
            procs[who] = acquire(tools, pool, 1, *gate(flags[1]), more=3)
        else:
            procs[who] = py_more(pool, 1, 3, flags[2])
        in_line(pool, i + 1)
    flags[0].touch()
    done(holder)
    in_use(pool, 4)
    py_out = procs["python"].stdout
    assert py_out is not None
    py_slots = [int(s) for s in py_out.readline().split(",")]
    flags[1].touch()
    flags[2].touch()
    code, lines = finished(procs["c"])
    assert code == 0 and procs["python"].wait(timeout=60) == 0
    c_slots = got(lines)[0]
    last = c_slots if first == "python" else py_slots
    assert len(c_slots if first == "c" else py_slots) == 1 and len(last) == 3
    assert sorted(c_slots + py_slots) == [0, 1, 2, 3]


def test_more_is_not_taken_while_a_slot_above_n_is_held(tools, tmp_path: Path) -> None:
    """After a shrink from 3 to 2 slots, a job still holding slot 2: the C client and
    Pool.acquire(more=...) each get their weight alone; once it ends, the C client takes
    the other slot too."""
    pool = make_pool(tmp_path / "p", 3)
    flags = [tmp_path / f"f{i}" for i in range(3)]
    holders = []
    for i in range(3):
        holders.append(py_run(pool, 1, *gate(flags[i])))
        in_use(pool, i + 1)
    flags[0].touch()
    flags[1].touch()
    done(holders[0])
    done(holders[1])
    lp("init", "--pool", str(pool), "--slots", "2", check=True)
    code, lines = finished(acquire(tools, pool, 1, "true", more=1))
    assert code == 0 and len(got(lines)[0]) == 1
    p = py_more(pool, 1, 1, tmp_path / "never")
    assert p.stdout is not None and len(p.stdout.readline().split(",")) == 1
    p.kill()
    p.wait()
    flags[2].touch()
    done(holders[2])
    code, lines = finished(acquire(tools, pool, 1, "true", more=1))
    assert code == 0 and got(lines) == ([0, 1], 0)


# -- the notice -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["head", "head-polling", "behind"])
def test_the_notice_speaks_once_after_a_second(tools, tmp_path: Path, where: str) -> None:
    """Behind a holder for ~2.5 s: one notice, about a second in, spoken from inside the
    wait (it may look at the pool there, and may not acquire)."""
    pool = make_pool(tmp_path / "p", 1)
    flag, flag2 = tmp_path / "go", tmp_path / "go2"
    holder = py_run(pool, 1, *gate(flag))
    in_use(pool, 1)
    ahead = None
    if where == "behind":  # we wait in flock on its ticket, not as the head
        ahead = py_run(pool, 1, *gate(flag2))
        in_line(pool, 1)
    env = {"LINKPOOL_WAKEUP": "polling"} if where == "head-polling" else None
    start = time.monotonic()
    c = acquire(tools, pool, 1, "true", env=env)
    in_line(pool, 2 if ahead else 1)
    time.sleep(max(0.0, 2.5 - (time.monotonic() - start)))
    flag.touch()
    flag2.touch()
    done(holder)
    if ahead:
        done(ahead)
    code, lines = finished(c)
    assert code == 0, lines
    notices = [x.split() for x in lines if x.startswith("notice ")]
    assert len(notices) == 1, lines
    assert 0.95 <= float(notices[0][2]) < 1.6, notices
    assert "inside 0 1" in lines  # lpslot_look works in it, lpslot_acquire is EBUSY
    assert got(lines)[1] == 1


def test_no_notice_when_not_asked_or_not_waiting(tools, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    code, lines = finished(acquire(tools, pool, 1, "true", notice=0.0))
    assert code == 0 and got(lines)[1] == 0  # admitted at once: no wait to speak of
    flag = tmp_path / "go"
    holder = py_run(pool, 1, *gate(flag))
    in_use(pool, 1)
    c = acquire(tools, pool, 1, "true", notice=-1)
    in_line(pool, 1)
    time.sleep(1.5)
    flag.touch()
    done(holder)
    code, lines = finished(c)
    assert code == 0 and not [x for x in lines if x.startswith("notice")]


# -- update_note ------------------------------------------------------------------------------


def test_update_note_is_what_status_shows(tools, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 3)
    flag, pidfile = tmp_path / "go", tmp_path / "pid"
    cmd = ["sh", "-c", 'echo $$ > "$1"; while [ ! -e "$0" ]; do sleep 0.02; done', str(flag),
           str(pidfile)]
    note = json.dumps({"command": cmd, "cwd": str(tmp_path)})
    update = ('{"command":["ld.lld","-o","/o/app"],"output":"/o/app","pid":@CHILD@,'
              '"wrapper":' + str(os.getpid()) + ',"threads":4,"tokens":2,"linker":"lld",'
              '"since":1.5}')
    c = acquire(tools, pool, 2, *cmd, note=note, update=update)
    wait_for(pidfile.exists, what="the command runs")
    child = int(wait_for(lambda: pidfile.read_text().strip(), what="its pid"))
    wait_for(lambda: [h for h in status(pool)["holders"] if h.get("pid") == child],
             what="the updated note")
    st = status(pool)
    (h,) = st["holders"]
    assert h["job"].startswith(f"{c.pid}-") and (h["held"], h["weight"]) == (2, 2)
    assert h["output"] == "/o/app" and h["command"] == ["ld.lld", "-o", "/o/app"]
    assert (h["pid"], h["wrapper"], h["threads"], h["tokens"], h["linker"], h["since"]) == \
        (child, os.getpid(), 4, 2, "lld", 1.5)
    assert isinstance(h["waited"], float) and "cwd" not in h  # replaced, not merged
    assert st["unknown_holders"] == 0
    flag.touch()
    code, lines = finished(c)
    assert code == 0 and "update 0" in lines


def test_the_calls_refuse_what_they_must(tools, tmp_path: Path) -> None:
    """EINVAL for a bad option, a note naming job, with a key twice or not JSON; a
    descriptor the caller moved is followed, one it closed (its number reused) is left
    alone by update_note and release."""
    pool = make_pool(tmp_path / "p", 2)
    code, lines = finished(tool(tools, "api", str(pool)))
    assert code == 0 and lines == [" ".join(["1"] * 13)]
    st = status(pool)
    assert (st["in_use"], st["waiting"], st["unknown_holders"]) == (0, 0, 0)


# -- the waiting line, against Python's -------------------------------------------------------

# Engine._say_waiting for a pool and a ticket, as the engine says it (stderr's bytes).
PY_SAY = """
import os, sys, types
from linkpool.engine import Engine
from linkpool.pool import Pool
pool = Pool.open(os.fsdecode(bytes.fromhex(sys.argv[1])), create=False)
if len(sys.argv) > 4:
    print("ready", flush=True)
    sys.stdin.readline()
me = types.SimpleNamespace(job=types.SimpleNamespace(weight=int(sys.argv[3])),
                           said_waiting=False)
Engine._say_waiting(me, pool, int(sys.argv[2]))
"""

# Pool.status()'s holders and counts, as lpslot_holders gives them.
PY_HOLDERS = """
import os, sys
from linkpool.pool import Pool
st = Pool.open(os.fsdecode(bytes.fromhex(sys.argv[1])), create=False).status()
ticket = int(sys.argv[2])
ahead = sum(1 for w in st["waiters"] if w.get("ticket", ticket) < ticket)
print("census", st["slots"], len(st["holders"]), len(st["waiters"]), ahead)
for h in st["holders"]:
    what = str(h.get("output") or (h.get("command") or ["?"])[0])
    print("holder", h.get("pid"), h["held"], repr(float(h.get("since", 0))),
          what.encode("utf-8", "backslashreplace").hex() or "-")
"""


def python_line(pool: Path, ticket: int, weight: int) -> bytes:
    r = subprocess.run([sys.executable, "-c", PY_SAY, os.fsencode(pool).hex(), str(ticket),
                        str(weight)], capture_output=True, env={**os.environ, **UTF8},
                       timeout=60)
    assert r.returncode == 0 and r.stdout == b"", r.stderr
    return r.stderr


def c_line(line: str) -> bytes:
    """The waiting line in a tool's output, as say() writes it."""
    hexed = line.split()[-1]
    return b"linkpool: " + bytes.fromhex(hexed) + b"\n"


def test_the_waiting_line_is_the_engines(tools, tmp_path: Path) -> None:
    """A C client waits behind the head of the line (a Python client wanting 2, holding 1
    of them so far, so its partial slot is no holder) in a pool held by a Python and a C
    client: its notice says what Engine._say_waiting says for its ticket."""
    pool = make_pool(tmp_path / "p", 3)
    flags = [tmp_path / f"f{i}" for i in range(4)]
    a = py_run(pool, 1, *gate(flags[0]))
    in_use(pool, 1)
    note = json.dumps({"command": ["ld.mold", "-o", "x"], "output": "/build/out/libfoo.so.1"})
    b = acquire(tools, pool, 1, *gate(flags[1]), note=note, notice=-1)
    in_use(pool, 2)
    head = py_run(pool, 2, *gate(flags[2]))
    in_line(pool, 1)
    wait_for(lambda: locked(pool / "slot.2"), what="the head holds one slot of its two")
    c = acquire(tools, pool, 2, *gate(flags[3]), note='{"command":["cc"]}')
    in_line(pool, 2)
    ticket = tickets(pool)[-1]
    want = python_line(pool, ticket, 2)
    assert want.startswith(b"linkpool: waiting for 2 of 3 slots (1 job(s) ahead; held by sh (pid ")
    assert b"libfoo.so.1 (pid " in want
    time.sleep(1.5)
    for f in flags:
        f.touch()
    for p in (a, head):
        done(p)
    code, lines = finished(c)
    assert code == 0 and finished(b)[0] == 0
    (notice,) = [x for x in lines if x.startswith("notice ")]
    assert int(notice.split()[1]) == ticket
    assert c_line(notice) == want


def fifo(path: Path) -> None:
    os.mkfifo(path)


# A process that holds files of a pool with given notes until its stdin closes:
# [[name, note as hex, "ex" or "sh"], ...] on its first line.
LOCKER = """
import fcntl, json, os, sys
fds = []
for name, note, mode in json.loads(sys.stdin.readline()):
    fd = os.open(os.path.join(sys.argv[1], name), os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(fd, 0)
    os.pwrite(fd, bytes.fromhex(note), 0)
    fcntl.flock(fd, fcntl.LOCK_SH if mode == "sh" else fcntl.LOCK_EX)
    fds.append(fd)
print("held", flush=True)
sys.stdin.readline()
"""


def hold_files(pool: Path, files: list[tuple[str, bytes, str]]) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", LOCKER, str(pool)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(json.dumps([[n, b.hex(), m] for n, b, m in files]) + "\n")
    p.stdin.flush()
    assert p.stdout.readline() == "held\n"
    return p


def let_go(p: subprocess.Popen) -> None:
    assert p.stdin is not None
    p.stdin.close()
    p.wait(timeout=30)


def note_of(rng: random.Random, job: str) -> bytes:
    """A note as a holder may have written it, or as another user may have."""
    out: dict[str, Any] = {"job": job}
    if rng.random() < 0.9:
        out["pid"] = rng.choice([rng.randint(1, 4 * 10 ** 6), 0, -1, 10 ** 30, -(10 ** 20)])
    if rng.random() < 0.8:
        out["since"] = rng.choice([rng.uniform(1.7e9, 1.8e9), rng.randint(0, 10), 1.5, 0,
                                   1.7e9, 10 ** 25, -3.25])
    names = ["/b/libx.so", "out/app", "", "/", "a/b/", "é/ü.so", "x\\y", "\udcff/z",
             "\ud800", "x\x00y", "\n", "💥/f.o", "a" * 300]
    if rng.random() < 0.6:
        out["output"] = rng.choice([*names, None])
    if rng.random() < 0.7:
        out["command"] = rng.choice([[], [rng.choice(names)], [rng.choice(names), "-o", "x"]])
    if rng.random() < 0.2:
        out[rng.choice(["threads", "tokens", "weight", "cwd", "x"])] = rng.choice(
            [1, None, "s", 2.5, [1], {"a": [None]}, True])
    text = json.dumps(out, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1]))
    raw = text.encode("utf-8", "surrogatepass")
    roll = rng.random()
    if roll < 0.05:
        raw = raw[:-1]  # torn
    elif roll < 0.08:
        raw = raw.replace(b'"job"', b'"job": "dup", "job"', 1)
    elif roll < 0.1:
        raw = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
    elif roll < 0.12:
        raw = raw + b" " * rng.randint(1, 3) + b"\xff"
    return raw


@pytest.mark.parametrize("seed", range(6))
def test_holders_and_the_line_match_python_on_hostile_notes(tools, tmp_path: Path,
                                                              seed: int) -> None:
    """Random holders and waiters by one process (exclusive and shared locks, slots above
    N, notes torn, forged, of wrong types, with surrogates and NULs, one job across
    slots with different notes, tickets naming the jobs of slots), symlinks, FIFOs and
    folders at slot and ticket names: lpslot_holders lists what Pool.status() lists and
    the line is _say_waiting's."""
    rng = random.Random(seed)
    base = tmp_path / os.fsdecode(b"pool \xff\xe2\x82 \xc3\xa9") if seed % 2 else tmp_path / "p"
    pool = new_pool(base, rng.randint(2, 8))
    jobs = [f"{rng.randint(1, 99999)}-{rng.getrandbits(32):08x}" for _ in range(rng.randint(0, 9))]
    files: list[tuple[str, bytes, str]] = []
    for i in rng.sample(range(12), rng.randint(0, 10)):
        job = rng.choice([*jobs, "lone", "\udc80"]) if jobs else "lone"
        files.append((f"slot.{i}", note_of(rng, job), rng.choice(["ex", "ex", "sh"])))
    for n in rng.sample(range(3, 30), rng.randint(0, 5)):
        job = rng.choice([*jobs, "waiter"]) if jobs else "waiter"
        files.append((f"wait.{n}", note_of(rng, job), "ex"))
    for i, what in ((12, "symlink"), (13, "fifo"), (14, "dir")):
        target = pool / f"slot.{i}" if rng.random() < 0.5 else pool / f"wait.{i + 20}"
        if what == "symlink":
            target.symlink_to("/etc/passwd")
        elif what == "fifo":
            fifo(target)
        else:
            target.mkdir()
    locker = hold_files(pool, files)
    try:
        for ticket in (0, 10, 10 ** 17):
            weight = rng.randint(1, 9)
            code, lines = finished(tool(tools, "holders", str(pool), str(ticket), str(weight)))
            r = subprocess.run([sys.executable, "-c", PY_HOLDERS, os.fsencode(pool).hex(),
                                str(ticket)], capture_output=True, text=True, timeout=60)
            assert code == 0 and r.returncode == 0, r.stderr
            ours = [x.split() for x in lines if x.startswith(("census", "holder"))]
            theirs = [x.split() for x in r.stdout.splitlines()]
            for mine in ours:  # since: as Python's repr of the float
                if mine[0] == "holder":
                    mine[3] = repr(float(mine[3]))
            assert ours == theirs
            assert c_line(lines[-1]) == python_line(pool, ticket, weight)
    finally:
        let_go(locker)


def test_the_line_with_many_holders_and_with_none(tools, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 8)
    _, lines = finished(tool(tools, "holders", str(pool), "0", "3"))
    assert c_line(lines[-1]) == python_line(pool, 0, 3) == \
        b"linkpool: waiting for 3 of 8 slots (0 job(s) ahead; held by nobody known)\n"
    files = [(f"slot.{i}", json.dumps({"job": f"j{i}", "pid": 100 + i, "since": 10 - i,
                                        "command": [f"/usr/bin/ld{i}"]}).encode(), "ex")
             for i in (*range(7), 6)]  # ld6 holds two slots: the 7th file is its too
    files[7] = ("slot.7", files[6][1], "ex")
    locker = hold_files(pool, files)
    try:
        _, lines = finished(tool(tools, "holders", str(pool), "0", "1"))
        assert c_line(lines[-1]) == python_line(pool, 0, 1) == (
            b"linkpool: waiting for 1 of 8 slots (0 job(s) ahead; held by ld6 (pid 106, "
            b"2 slots), ld5 (pid 105, 1 slot), ld4 (pid 104, 1 slot) and 4 more)\n")
    finally:
        let_go(locker)


def test_the_fallback_line_when_the_pool_cannot_be_read(tools, tmp_path: Path) -> None:
    """pool.json corrupt after the pool was opened: "waiting for K of N slots of POOL",
    N as last read, a path that is not UTF-8 as Python prints it."""
    pool = new_pool(tmp_path / os.fsdecode(b"p\xff\xe2\x82 o"), 5)
    c = tool(tools, "holders", str(pool), "0", "2", "wait", stdin=subprocess.PIPE)
    py = subprocess.Popen([sys.executable, "-c", PY_SAY, os.fsencode(pool).hex(), "0", "2",
                           "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env={**os.environ, **UTF8})
    assert c.stdout is not None and py.stdout is not None
    assert c.stdout.readline() == py.stdout.readline() == b"ready\n"
    (pool / "pool.json").write_text("{corrupt")
    for p in (c, py):
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        p.stdin.flush()
    code, lines = finished(c)
    _, said = py.communicate(timeout=60)
    assert code == 0 and lines[0] == "holders Bad message"
    assert c_line(lines[-1]) == said == b"linkpool: waiting for 2 of 5 slots of " + \
        str(tmp_path).encode() + b"/p\\udcff\\udce2\\udc82 o\n"


@pytest.mark.parametrize("waited", ["0", "0.05", "0.25", "0.35", "2.45", "1e10", "inf",
                                    "1.2345678", "99.95"])
def test_the_got_line_is_the_engines(tools, waited: str) -> None:
    for what in (b"/build/out/app", b"ld", "é".encode(), b"o\xffut\xe2\x82/x"):
        code, lines = finished(tool(tools, "got", "3", waited, os.fsdecode(what)))
        want = f"got 3 slot(s) after {float(waited):.1f} s; running {os.fsdecode(what)}"
        assert code == 0 and bytes.fromhex(lines[0]) == want.encode("utf-8", "backslashreplace")


# -- bounds ---------------------------------------------------------------------------------


def test_worst_notes_are_read_in_bounded_time(tools, tmp_path: Path) -> None:
    """A hundred slots held with 64 KiB notes of 8,649 keys in one object each: read in
    a few seconds (one pass each, keys looked up in a table)."""
    pool = make_pool(tmp_path / "p", 4)
    chars = [chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"\\']
    keys = ",".join(f'"{a}{b}":0' for a in chars for b in chars)
    worst = ('{"job":"w","pid":1,"x":{' + keys + "}}").encode()
    worst += b" " * (NOTE_READ - len(worst))
    assert len(worst) == NOTE_READ
    locker = hold_files(pool, [(f"slot.{i}", worst, "ex") for i in range(100)])
    try:
        start = time.monotonic()
        code, lines = finished(tool(tools, "holders", str(pool), "0", "1"))
        assert time.monotonic() - start < 20
        assert code == 0 and "holder 1 100 0 3f" in lines
    finally:
        let_go(locker)


def test_more_slot_files_than_it_sorts_give_the_fallback_line(tools, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 2)
    for i in range(2, 8194):
        (pool / f"slot.{i}").touch()
    code, lines = finished(tool(tools, "holders", str(pool), "0", "1"))
    assert code == 0 and lines[0] == "holders Value too large for defined data type"
    assert c_line(lines[-1]) == f"linkpool: waiting for 1 of 2 slots of {pool}\n".encode()


# -- the note reader, against core/pool.py's _parse ---------------------------------------------


def expected(raw: bytes) -> tuple[str, ...]:
    info = _parse(raw[:NOTE_READ])
    if info is None:
        return ("0",)
    job = info["job"].encode("utf-8", "surrogatepass").hex() or "-"
    what = str(info.get("output") or (info.get("command") or ["?"])[0])
    return ("1", job, str(info.get("pid")), repr(float(info.get("since", 0))),
            what.encode("utf-8", "backslashreplace").hex() or "-")


def read_notes(tools: dict[str, str], notes: list[bytes]) -> list[tuple[str, ...]]:
    """What notes.c makes of each note (under the sanitizers)."""
    data = b"".join(b"%d\n" % len(n[:NOTE_READ]) + n[:NOTE_READ] for n in notes)
    r = subprocess.run([tools["notes-san"]], input=data, capture_output=True,
                       env={**os.environ, **SAN_ENV}, timeout=300)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode(errors="replace")
    out = []
    for line in r.stdout.decode().splitlines():
        f = line.split(" ")
        if f[0] == "1":
            f[3] = repr(float(f[3]))
        out.append(tuple(f))
    assert len(out) == len(notes)
    return out


def agree(tools: dict[str, str], notes: list[bytes]) -> None:
    for note, mine in zip(notes, read_notes(tools, notes)):
        assert mine == expected(note), note


GOOD = (b'{"job":"4242-0badcafe","pid":4242,"weight":2,"since":1765400000.123456,'
        b'"waited":0.25,"command":["ld.mold","-o","/b/app"],"cwd":"/b","output":"/b/app",'
        b'"threads":8,"tokens":null,"pidns":"pid:[4026531836]","linker":"mold"}\n')

HOSTILE = [
    b"", b"{}", b"[]", b"null", b'{"job":1}', b'{"job":"a"}', b' \t\r\n{"job":"a"} \n',
    b'{"job":"a",}', b'{"job":"a" "pid":1}', b'{"job":"a","pid":01}', b'{"job":"a","pid":-0}',
    b'{"job":"a","pid":-}', b'{"job":"a","pid":1.0}', b'{"job":"a","pid":1e2}',
    b'{"job":"a","pid":true}', b'{"job":"a","pid":null}', b'{"job":"a","pid":"1"}',
    b'{"job":"a","pid":' + b"9" * 40 + b"}", b'{"job":"a","pid":' + b"9" * 41 + b"}",
    b'{"job":"a","pid":-' + b"9" * 39 + b"}", b'{"job":"a","since":1e308}',
    b'{"job":"a","since":1e309}', b'{"job":"a","since":-1e309}', b'{"job":"a","since":0e999}',
    b'{"job":"a","since":1.7976931348623157e308}', b'{"job":"a","since":1.7976931348623159e308}',
    b'{"job":"a","since":1e-400}', b'{"job":"a","since":.5}', b'{"job":"a","since":5.}',
    b'{"job":"a","since":1E+2}', b'{"job":"a","since":' + b"1" * 39 + b"}",
    b'{"job":"a","since":true}', b'{"job":"a","since":"1"}', b'{"job":"a","since":NaN}',
    b'{"job":"a","since":Infinity}', b'{"job":"a","job":"b"}', b'{"job":"a","jo\\u0062":"b"}',
    b'{"job":"a","x":{"k":1,"k":2}}', b'{"job":"a","x":[{"k":1},{"k":2}]}',
    b'{"job":"a","x":{"k":{"k":1}}}', b'{"job":"a","x":{"":1,"":2}}',
    b'{"job":"a","x":{"\\ud800":1,"\\ud800":2}}', b'{"job":"a","x":{"\\ud83d\\ude00":1,'
    b'"\xf0\x9f\x98\x80":2}}', b'{"job":"a","p\\u0069d":"x"}', b'{"job":"a","pid\\u0000":"x"}',
    b'{"job":"a","output":"\\ud800"}', b'{"job":"a","output":"\\udcff\\ud800x"}',
    b'{"job":"a","output":"\\ud83d\\ude00/x"}', b'{"job":"a","output":"\\ud83d\\u0041"}',
    b'{"job":"a","output":"\\ud83d\\uzzzz"}', b'{"job":"a","output":"\\ud83d\\"}',
    b'{"job":"a","output":"a\\/b"}', b'{"job":"a","output":"\\u0000"}',
    b'{"job":"a","output":"\x01"}', b'{"job":"a","output":"\x7f\xc2\x80"}',
    b'{"job":"a","output":"\\x41"}', b'{"job":"a","output":"\\u00e9"}',
    b'{"job":"a","output":"\\u0',
    b'{"job":"a","output":""}', b'{"job":"a","output":"","command":[]}',
    b'{"job":"a","output":null,"command":[""]}', b'{"job":"a","command":["x",1]}',
    b'{"job":"a","command":"x"}', b'{"job":"a","command":null}', b'{"job":"a","command":[null]}',
    b'{"job":"a","command":[[]]}', b'{"job":"a","command":["x",]}', b'{"job":"a","command":["x"',
    b'{"job":"a","threads":null,"tokens":3,"cwd":null,"linker":null,"pidns":null}',
    b'{"job":"a","threads":false}', b'{"job":"a","wrapper":null}', b'{"job":"a","held":2.0}',
    b'{"job":"a","weight":"2"}', b'{"job":"a","waited":[]}', b'{"job":"a","cwd":1}',
    b'{"job":"a"}x', b'{"job":"a"}{}', b'{"job":"a"}\x00', b"\xef\xbb\xbf" + b'{"job":"a"}',
    b'{"job":"\xc0\xaf"}', b'{"job":"\xed\xa0\x80"}', b'{"job":"\xf4\x90\x80\x80"}',
    b'{"job":"\xe2\x82"}', b'{"job":"\xff"}', b'{"job":"a","x":truex}', b'{"job":"a","x":nul}',
    b'{"job":"a","x":' + b"[" * 100 + b"]" * 100 + b"}",
    b'{"job":"a","x":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"job":"a","x":' + b'{"a":' * 200 + b"1" + b"}" * 200 + b"}",
    b'{"job":"a","x":' + b"[" * 70000, b'{"job":"a","x":' + b'{"a":' * 20000,
    b'{"job":"' + b"j" * 70000 + b'"}', b'{"job":"a"}' + b" " * 70000,
    b'{"job":"a","output":"' + b"\\ud800" * 10000 + b'"}', GOOD, GOOD[:-2], GOOD + b"}",
]


def test_the_note_reader_agrees_with_python_on_hostile_notes(tools) -> None:
    agree(tools, HOSTILE)


def test_the_note_reader_agrees_with_python_on_mutated_notes(tools) -> None:
    rng = random.Random(20)
    alphabet = b'{}[]":,0123456789 -.eEtruefalsn\\/u\x00\x1f\x7f\xc3\xa9\xed\xa0\x80\xff\n'
    notes = []
    for _ in range(3000):
        edit = bytearray(GOOD)
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(edit) + 1)
            c = alphabet[rng.randrange(len(alphabet))]
            what = rng.choice(["insert", "delete", "replace", "swap"])
            if what == "insert":
                edit[i:i] = bytes([c])
            elif what == "swap" and i + 1 < len(edit):
                edit[i], edit[i + 1] = edit[i + 1], edit[i]
            elif i < len(edit):
                edit[i:i + 1] = b"" if what == "delete" else bytes([c])
        notes.append(bytes(edit))
    notes += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))) for _ in range(500)]
    agree(tools, notes)


# Notes drawn by hypothesis: each field _parse knows, mostly of a type it allows and now
# and then of another; other keys with any JSON; strings with escapes, surrogates and
# control characters; white space; now and then a key twice.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 39) + 1, max_value=10 ** 39 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) |
                      st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=12)
INTS = st.integers(min_value=-(10 ** 39) + 1, max_value=10 ** 39 - 1)
NUMBERS = INTS | st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=10)
FIELDS = {
    "job": TEXT, "pid": INTS, "wrapper": INTS, "weight": INTS, "held": INTS,
    "since": NUMBERS, "waited": NUMBERS, "threads": st.none() | INTS,
    "tokens": st.none() | INTS, "output": st.none() | TEXT, "cwd": st.none() | TEXT,
    "linker": st.none() | TEXT, "pidns": st.none() | TEXT, "command": st.lists(TEXT, max_size=3),
}


def encode_string(rnd: random.Random, s: str) -> str:
    out = []
    for ch in s:
        roll = rnd.random()
        if ch in '"\\' or ch < " ":
            out.append(json.dumps(ch)[1:-1] if roll < 0.8 else f"\\u{ord(ch):04x}")
        elif roll < 0.1 and ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04X}")
        elif roll < 0.15:
            out.append(json.dumps(ch)[1:-1])
        else:
            out.append(ch)
    if rnd.random() < 0.1:
        out.insert(rnd.randint(0, len(out)), rnd.choice(["\\ud800", "\\udfff", "\\ud83d\\ude00"]))
    return '"' + "".join(out) + '"'


def encode(rnd: random.Random, value: Any) -> str:
    ws = rnd.choice(["", "", " ", "\n", "\t ", "\r"])
    if isinstance(value, str):
        return encode_string(rnd, value)
    if isinstance(value, dict):
        items = [f"{ws}{encode_string(rnd, k)}{ws}:{ws}{encode(rnd, v)}" for k, v in value.items()]
        if items and rnd.random() < 0.05:
            items.append(items[0])  # a key twice
        return "{" + ",".join(items) + ws + "}"
    if isinstance(value, list):
        return "[" + ",".join(ws + encode(rnd, v) for v in value) + ws + "]"
    return json.dumps(value)


@st.composite
def notes(draw: st.DrawFn) -> bytes:
    fields: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=6, unique=True)):
        fields[name] = draw(FIELDS[name] if draw(st.integers(0, 9)) else VALUES)
    if draw(st.integers(0, 9)):
        fields["job"] = draw(TEXT)
    for key in draw(st.lists(st.text(max_size=3), max_size=2)):
        fields[key] = draw(VALUES)
    rnd = draw(st.randoms(use_true_random=False))
    return encode(rnd, fields).encode("utf-8", "surrogatepass")


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(notes(), min_size=10, max_size=10))
def test_the_note_reader_agrees_with_python_on_generated_notes(tools, batch: list[bytes]
                                                              ) -> None:
    agree(tools, batch)


def test_signals_of_the_notice_path_leave_nothing(tools, tmp_path: Path) -> None:
    """A client killed while its notice has spoken and it waits on: nothing is left held
    or in line (the kernel frees its locks; its ticket is passed over and removed)."""
    pool = make_pool(tmp_path / "p", 1)
    flag = tmp_path / "go"
    holder = py_run(pool, 1, *gate(flag))
    in_use(pool, 1)
    c = acquire(tools, pool, 1, "true", notice=0.2)
    in_line(pool, 1)
    time.sleep(0.6)
    os.kill(c.pid, signal.SIGKILL)
    c.wait()
    after = py_run(pool, 1, "true")
    in_line(pool, 1)
    flag.touch()
    done(holder)
    done(after)
    st = status(pool)
    assert (st["in_use"], st["waiting"]) == (0, 0)


def test_nesting_is_read_as_deep_as_the_engine_reads_it(tools) -> None:
    """Python's reader recurses: in the engine's waiting line it gives out past 491
    containers (3.11). The C reader takes 490 and refuses 491 (one level of
    difference), and never recurses at all."""
    def deep(d: int) -> bytes:
        return b'{"job":"j","x":' + b"[" * (d - 1) + b"]" * (d - 1) + b"}"

    assert [r[0] for r in read_notes(tools, [deep(100), deep(490), deep(491), deep(10 ** 5)])] \
        == ["1", "1", "0", "0"]
