"""linkpool's own files are all-or-nothing (issue 19, class 5).

A record is whole or absent and never costs the next one (a real full tmpfs cuts an
append short); JSON of the wrong shape anywhere (pool.json, slot and ticket notes,
history lines, outputs and policy files) is garbage: a link runs unpooled after one
warning (pool.json) or ignores it (the rest), refuses with 69 under --strict when the
pool itself is unusable, `linkpool init` repairs any pool.json, and the commands that
read these files never end in an internal error. Black-box: the installed `linkpool`.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_hostile_pools import CMD, assert_fail_open_and_strict, in_mount_ns

from conftest import LINKPOOL, lp, make_pool, status, wait_for

DEEP = b"[" * 100000 + b"]" * 100000


def no_crash(r: subprocess.CompletedProcess) -> None:
    """At most one `linkpool:` line, never an internal error or a traceback."""
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.count("\n") <= 1, r.stderr
    assert not r.stderr or r.stderr.startswith("linkpool: "), r.stderr


# -- a record is whole or absent, and never costs the next one ----------------------------


def test_history_append_cut_short_by_a_full_disk(tmp_path: Path) -> None:
    """Link 1 is recorded; the disk fills; link 2's record (long: its command line) is cut
    short; space is freed; link 3 is recorded. Links 1 and 3 are read back whole."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    m = shlex.quote(str(mnt))
    pool = f"{m}/pool"
    run = f"{LINKPOOL} run --pool {pool} -- sh -c 'exit 0'"
    settle = f"{LINKPOOL} history --pool {pool} >/dev/null"  # waits for the record
    r = subprocess.run(in_mount_ns(
        f"mount -t tmpfs -o size=256k tmpfs {m}\n"
        f"{LINKPOOL} init --pool {pool} --slots 1 >/dev/null\n"
        f"{run} first\n{settle}\n"
        f"dd if=/dev/zero of={m}/fill bs=4k 2>/dev/null || true\n"
        f"{run} second {'x' * 6000}\n{settle}\n"
        f"rm {m}/fill\n"
        f"{run} third\n{run} fourth\n"
        f"{LINKPOOL} history --pool {pool} --json\n"
        f"{LINKPOOL} history --pool {pool} >/dev/null\n"),
        capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    marks = [rec["command"][3] for rec in records]
    assert [m for m in marks if m != "second"] == ["first", "third", "fourth"], marks
    for rec in records:
        assert rec["exit"] == 0 and rec["command"][:3] == ["sh", "-c", "exit 0"]


# -- pool.json --------------------------------------------------------------------------------

BAD_CONFIGS = {
    "a list": b"[1, 2]",
    "a number": b"2",
    "slots a string": b'{"protocol": 1, "slots": "2"}',
    "shared a string": b'{"protocol": 1, "slots": 2, "shared": "no"}',
    "shared a number": b'{"protocol": 1, "slots": 2, "shared": 0}',
    "protocol a string": b'{"protocol": "1", "slots": 2}',
    "protocol a list": b'{"protocol": [1], "slots": 2}',
    "deep nesting": DEEP,
    "deep nesting inside": b'{"protocol": 1, "slots": 2, "x": ' + DEEP + b"}",
    "infinite slots": b'{"protocol": 1, "slots": 1e999}',
    "NaN": b'{"protocol": 1, "slots": NaN}',
    "a key twice": b'{"protocol": 1, "slots": 2, "slots": 3}',
    "a NUL byte": b'{"protocol": 1, "slots": 2}\x00',
    "not UTF-8": b'\xff\xfe{"protocol": 1, "slots": 2}',
    "huge": b'{"protocol": 1, "slots": 2, "pad": "' + b"x" * (8 << 20) + b'"}',
    "a huge number": b'{"protocol": 1, "slots": 2, "n": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("what", BAD_CONFIGS)
def test_pool_json_of_the_wrong_shape(tmp_path: Path, what: str) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    conf, out = pool / "pool.json", tmp_path / "out"
    conf.write_bytes(BAD_CONFIGS[what])
    assert_fail_open_and_strict(lambda strict: lp(
        "run", *(["--strict"] if strict else []), "--pool", str(pool), "--", *CMD, str(out)),
        out, "pool.json")
    for command in ("status", "history", "stats", "trace", "doctor"):
        r = lp(command, "--pool", str(pool))
        no_crash(r)
        if command != "doctor":
            assert r.returncode == 1 and "pool.json" in r.stderr, (command, r.stderr)
    # the documented repair, with the capacity or without
    r = lp("init", "--pool", str(pool))
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert status(pool)["slots"] >= 1
    conf.write_bytes(BAD_CONFIGS[what])
    r = lp("init", "--pool", str(pool), "--slots", "3")
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert json.loads(conf.read_text()) == {"protocol": 1, "slots": 3, "shared": False}
    r = lp("run", "--strict", "--pool", str(pool), "--", *CMD, str(out))
    assert r.returncode == 3 and r.stderr == "", r.stderr


# -- slot and ticket notes -------------------------------------------------------------------

BAD_NOTES = [
    b'{"job": "j1", "since": "yesterday"}',
    b'{"job": "j2", "pid": "12", "command": "rm -rf /"}',
    b'{"job": "j3", "command": [1, [2]], "weight": true}',
    b'{"job": "j4", "since": 1e999, "waited": NaN}',
    DEEP,
    b'{"job": "j5", "output": "\\udc80\\ud800", "command": ["\\ud800"]}',
    b'\xff{"job": "j6"}',
    b'{"job": "j7", "output": "a\x00b"}',
    b'{"job": "j8", "job": "j9"}',
    b'{"job": ["j10"], "threads": "all"}',
    b'{"job": "j11", "pid": ' + b"9" * 5000 + b"}",
]

HOLD = ("import fcntl, sys, time\n"
        "fds = [open(p, 'rb') for p in sys.argv[1:]]\n"
        "for f in fds: fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")


def hold(*files: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, *map(str, files)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline() == "held\n"
    return p


def test_slot_and_ticket_notes_of_the_wrong_shape(tmp_path: Path) -> None:
    n = len(BAD_NOTES)
    pool = make_pool(tmp_path / "pool", n + 1)
    slots = [pool / f"slot.{i}" for i in range(n)]
    tickets = [pool / f"wait.{100 + i}" for i in range(n)]
    for path, note in zip(slots + tickets,
                          BAD_NOTES + [n.replace(b'"j', b'"t') for n in BAD_NOTES]):
        path.write_bytes(note)  # (a ticket naming a holder's job would be that job's)
    holder = hold(*slots, *tickets)
    try:
        for args in ((), ("--json",)):
            r = lp("status", "--pool", str(pool), *args)
            assert r.returncode == 0 and r.stderr == "", r.stderr
        st = status(pool)
        assert st["in_use"] == n and st["unknown_holders"] + len(st["holders"]) >= 1
        r = lp("doctor", "--pool", str(pool))
        no_crash(r)
    finally:
        holder.kill()
        holder.wait()
    holder = hold(*slots)  # the tickets released: a link may queue (one slot is free)
    try:
        out = tmp_path / "out"
        r = lp("run", "--strict", "--pool", str(pool), "--", *CMD, str(out))
        assert r.returncode == 3 and r.stderr == "" and out.read_text() == "ran\n", r.stderr
        r = lp("status", "--pool", str(pool))
        assert r.returncode == 0 and r.stderr == "", r.stderr
    finally:
        holder.kill()
        holder.wait()


# -- history lines ---------------------------------------------------------------------------

BAD_LINES = [
    b'{"time":"yesterday","exit":0}',
    b"[1,2,3]",
    b'{"time":1,"max_rss_kb":"big","exit":"0"}',
    b'{"time":1,"command":"rm -rf /","exit":0}',
    b'{"time":1,"weight":true,"slots":[0,"1"]}',
    b'{"time":1,"wait_s":[1],"run_s":{"a":1}}',
    DEEP,
    b'{"time":1e999,"exit":0}',
    b'{"time":NaN,"exit":0}',
    b'{"time":1,"time":2,"exit":0}',
    b'{"time":1,"output":"a\x00b","exit":0}',
    b'{"time":1,"output":"\xff\xfe","exit":1,"weight":1}',
    b'{"time":1,"output":"\\ud800\\udc80","exit":0,"weight":1,"command":["\\udfff"]}',
    b'{"time":1,"pad":"' + b"x" * (5 << 20) + b'"}',
    b'{"time":1,"max_rss_kb":' + b"9" * 5000 + b"}",
    b'{"time":1,"slots":[0,1,2],"weight":3,"admitted":1e15,"run_s":1e12,"exit":0}',
    b"\x00\x00\x00",
    # a torn record with the next one glued onto it (two appends racing a full disk)
    b'{"time":1,"output":"/torn","ex{"time":2,"exit":0,"command":["glued"]}',
]


def test_history_lines_of_the_wrong_shape(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    r = lp("run", "--pool", str(pool), "--", "sh", "-c", "exit 0", "mine")
    assert r.returncode == 0
    log = pool / "history.jsonl"
    wait_for(lambda: log.exists() and log.read_bytes().endswith(b"\n"), what="the record")
    with log.open("ab") as f:
        for line in BAD_LINES:
            f.write(line + b"\n")
        f.write(b'{"time":1,"torn":')  # and a torn last line
    (pool / "history.jsonl.1").write_bytes(b"\n".join(BAD_LINES))
    with (pool / "history.jsonl.1").open("ab") as f:  # huge (sparse): only its end is read
        f.truncate(40 << 20)
        f.seek(0, os.SEEK_END)
        f.write(b'\n{"time":3,"exit":0,"command":["at the end"]}\n')
    r = lp("history", "--pool", str(pool), "--json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    records = json.loads(r.stdout)
    assert [rec for rec in records if rec.get("command") == ["sh", "-c", "exit 0", "mine"]]
    assert len([rec for rec in records if rec.get("command") == ["glued"]]) == 1
    assert [rec for rec in records if rec.get("command") == ["at the end"]]
    assert not [rec for rec in records if rec.get("output") == "/torn"]
    for args in (["history"], ["stats"], ["stats", "--json"], ["trace"],
                 ["report", "--output", str(tmp_path / "r.svg")],
                 ["report", "--output", str(tmp_path / "r.html")]):
        r = lp(*args, "--pool", str(pool))
        assert r.returncode == 0 and r.stderr == "", (args, r.stderr)
    no_crash(lp("doctor", "--pool", str(pool)))
    # the next link is recorded whole, on a line of its own after the torn one
    r = lp("run", "--strict", "--pool", str(pool), "--", "sh", "-c", "exit 0", "next")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    records = json.loads(lp("history", "--pool", str(pool), "--json").stdout)
    assert [rec for rec in records if rec.get("command") == ["sh", "-c", "exit 0", "next"]]


# -- what a link learns from: outputs/ and policy/ -------------------------------------------

BAD_SUMMARIES = [
    DEEP,
    b"[1]",
    b'{"4": {"an": "x", "awall": "y", "acpu": [1]}, "2": 7, "recent": "now"}',
    b'{"1": {"an": 99, "awall": 1e999}}',
    b'{"recent": [["a", "b"], 1, [1e300, 2e300], [[1], [2]]]}',
    b"\xff\xfe\xfd",
    b'{"a": 1, "a": 2}',
    b'{"pad": "' + b"x" * (200 << 10) + b'"}',
    b'{"n": ' + b"9" * 5000 + b"}",
]


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("objs")
    (d / "m.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-c", "m.c", "-o", "m.o"], cwd=d, check=True)
    return d


def test_outputs_and_policy_files_of_the_wrong_shape(tmp_path: Path, objects: Path) -> None:
    assert shutil.which("ld.lld"), "scripts/setup.sh --test installs lld"
    pool = make_pool(tmp_path / "pool", 2)
    app = tmp_path / "app"
    link = ["gcc", "-fuse-ld=lld", str(objects / "m.o"), "-o", str(app)]
    for _ in range(2):  # an outputs record and the policy's summaries to corrupt
        assert lp("run", "--pool", str(pool), "--", *link).returncode == 0
        lp("history", "--pool", str(pool))  # waits for the record
    wrong = b'{"output": "%s", "exit": 0, "max_rss_kb": "huge", "anon_peak_kb": [1]}' % \
        str(app).encode()  # a record of this very output, of the wrong types
    for bad in [*BAD_SUMMARIES, wrong]:
        files = [p for p in (pool / "outputs").rglob("*.json")] + \
            [p for p in (pool / "policy").rglob("*.json")]
        assert files
        for p in files:
            p.write_bytes(bad)
        r = lp("run", "--strict", "--pool", str(pool), "--", *link)
        assert r.returncode == 0 and r.stderr == "", (bad[:60], r.stderr)
        r = lp("history", "--pool", str(pool))
        assert r.returncode == 0 and r.stderr == "", r.stderr
    records = json.loads(lp("history", "--pool", str(pool), "--json").stdout)
    assert len(records) == 2 + len(BAD_SUMMARIES) + 1
    assert all(rec["exit"] == 0 and rec["output"] == str(app) for rec in records)
