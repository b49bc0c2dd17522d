"""Broken and hostile pools, with real processes, real users and real namespaces.

Needs root (to make users, mounts and namespaces); docs/security.md is the prose for what
is tested here. Unprivileged users cannot run the venv's Python (it lives under /root,
mode 0700), so they run the same `core/` (and pluggy) with the system Python through a
small shim.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    LINKPOOL,
    WITNESS,
    copy_linkpool,
    lp,
    make_pool,
    status,
    wait_for,
    witness_log,
)

ROOT = os.geteuid() == 0
HAVE_TOOLS = all(shutil.which(t) for t in ("unshare", "setpriv", "useradd", "userdel", "mount"))
SYS_PY = "/usr/bin/python3"
pytestmark = pytest.mark.skipif(
    not (ROOT and HAVE_TOOLS and os.path.exists(SYS_PY)),
    reason="needs root, unshare/setpriv/useradd/mount and /usr/bin/python3",
)
CORE = Path(__file__).resolve().parent.parent / "core"
CMD = ["sh", "-c", 'echo ran > "$0"; exit 3']  # the user's command: exit 3, leaves a mark


class Env:
    """Two unprivileged users and a `linkpool` they can run."""

    def __init__(self, base: Path, users: list[str]) -> None:
        self.base, self.users = base, users
        self.shim = str(base / "bin" / "linkpool")

    def prefix(self, who: str) -> list[str]:
        if who == "root":
            return []
        pw = pwd.getpwnam(who)
        return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]

    def linkpool(self, who: str, *args: str, **kw) -> subprocess.CompletedProcess:
        exe = LINKPOOL if who == "root" else self.shim
        kw.setdefault("cwd", "/")
        return subprocess.run([*self.prefix(who), exe, *args], capture_output=True, text=True,
                              timeout=60, env=self.environ(), **kw)

    def popen(self, who: str, *args: str, **kw) -> subprocess.Popen:
        exe = LINKPOOL if who == "root" else self.shim
        return subprocess.Popen([*self.prefix(who), exe, *args], cwd="/", text=True,
                                env=self.environ(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, **kw)

    def environ(self) -> dict[str, str]:
        # the conftest's XDG_CONFIG_HOME is under root's tmp_path, unreadable to users
        return {**os.environ, "XDG_CONFIG_HOME": str(self.base / "config-home")}

    def sh(self, who: str, script: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.prefix(who), "sh", "-c", script], capture_output=True,
                              text=True, cwd="/", timeout=30)

    def uid(self, who: str) -> int:
        return 0 if who == "root" else pwd.getpwnam(who).pw_uid

    def chown(self, path: Path, who: str) -> None:
        pw = pwd.getpwnam(who) if who != "root" else None
        os.chown(path, pw.pw_uid if pw else 0, pw.pw_gid if pw else 0)


@pytest.fixture(scope="module")
def env():
    base = Path(tempfile.mkdtemp(prefix="lp-hostile-", dir="/tmp"))
    base.chmod(0o755)
    (base / "bin").mkdir()
    (base / "lib").mkdir()
    # Copies, not links: the checkout may sit in a folder other users cannot enter.
    copy_linkpool(base / "lib")
    for folder, name in (("tests", "witness.py"), ("benchmarks", "pool_witness.py")):
        (base / folder).mkdir()
        shutil.copy(CORE.parent / folder / name, base / folder / name)
    shim = base / "bin" / "linkpool"
    shim.write_text(f"#!{SYS_PY}\nimport sys\nsys.path.insert(0, {str(base / 'lib')!r})\n"
                    "from linkpool.cli import main\nsys.exit(main())\n")
    shim.chmod(0o755)
    users = [f"lph{os.getpid() % 100000}{c}" for c in "ab"]
    made = []
    try:
        for u in users:
            subprocess.run(["useradd", "-M", "-r", "-s", "/bin/sh", u], check=True,
                           capture_output=True)
            made.append(u)
        global USER_WITNESS
        USER_WITNESS = base / "tests" / "witness.py"
        yield Env(base, users)
    finally:
        for u in made:
            if subprocess.run(["userdel", u], capture_output=True).returncode:
                subprocess.run(["userdel", "-f", u], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def area(env: Env, request: pytest.FixtureRequest) -> Path:
    """A fresh directory every user can reach (tmp_path is root's, mode 0700)."""
    d = Path(tempfile.mkdtemp(prefix="t-", dir=env.base))
    d.chmod(0o755)
    return d


def one_line(stderr: str, start: str) -> None:
    assert stderr.startswith(start) and stderr.count("\n") == 1, stderr


def assert_fail_open_and_strict(run, out: Path, what: str = "") -> None:
    """``run(strict)`` is the CLI call: fail-open runs the command with one warning,
    --strict refuses it (exit 69) with one line."""
    r = run(False)
    assert r.returncode == 3 and out.read_text() == "ran\n", (r.returncode, r.stderr)
    one_line(r.stderr, "linkpool: warning: ")
    assert what in r.stderr and "running the command without the pool" in r.stderr
    out.unlink()
    r = run(True)
    assert r.returncode == 69 and not out.exists(), (r.returncode, r.stderr)
    one_line(r.stderr, "linkpool: ")
    assert "strict" in r.stderr


def in_mount_ns(script: str) -> list[str]:
    return ["unshare", "-m", "sh", "-ec", "mount --make-rprivate /\n" + script]


# -- 1. broken pools: fail open, or closed with --strict --------------------------------------


def test_read_only_pool_as_root(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    out = tmp_path / "out"
    p, q = shlex.quote(str(pool)), shlex.quote(str(out))

    def run(strict: bool) -> subprocess.CompletedProcess:
        s = "--strict " if strict else ""
        return subprocess.run(in_mount_ns(
            f"mount --bind {p} {p}\nmount -o remount,bind,ro {p}\n"
            f"exec {LINKPOOL} run {s}--pool {p} -- sh -c 'echo ran > \"$0\"; exit 3' {q}"),
            capture_output=True, text=True, timeout=60)

    assert_fail_open_and_strict(run, out, "Read-only file system")


def test_read_only_pool_as_user(env: Env, area: Path) -> None:
    user = env.users[0]
    home = area / "home"
    home.mkdir(mode=0o700)
    env.chown(home, user)
    pool = home / "pool"
    assert env.linkpool(user, "init", "--pool", str(pool), "--slots", "2").returncode == 0
    pool.chmod(0o500)  # still theirs, private, but they cannot add a file to it
    out = home / "out"

    def run(strict: bool) -> subprocess.CompletedProcess:
        return env.linkpool(user, "run", *(["--strict"] if strict else []), "--pool",
                            str(pool), "--", *CMD, str(out))

    assert_fail_open_and_strict(run, out, "Permission denied")


def test_pool_location_not_writable_by_user(env: Env, area: Path) -> None:
    user = env.users[0]
    out = area / "w" / "out"
    out.parent.mkdir()
    env.chown(out.parent, user)

    def run(strict: bool) -> subprocess.CompletedProcess:
        return env.linkpool(user, "run", *(["--strict"] if strict else []), "--pool",
                            str(area / "pool"), "--", *CMD, str(out))

    assert_fail_open_and_strict(run, out, "Permission denied")
    assert not (area / "pool").exists()


FILL = "dd if=/dev/zero of={m}/fill bs=4k 2>/dev/null || true\n"


def on_full_tmpfs(tmp_path: Path, setup: str) -> tuple[Any, Path]:
    """A ``run(strict)`` that mounts a 64 KiB tmpfs in a private mount namespace, runs
    ``setup`` there (``{m}`` is the mount), fills the disk, then runs a command through a
    pool on it; and the file that command writes."""
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir()
    m, q = shlex.quote(str(mnt)), shlex.quote(str(out))

    def run(strict: bool) -> subprocess.CompletedProcess:
        s = "--strict " if strict else ""
        return subprocess.run(in_mount_ns(
            setup.format(m=m, linkpool=LINKPOOL) + FILL.format(m=m) +
            f"exec {LINKPOOL} run {s}--pool {m}/pool -- sh -c 'echo ran > \"$0\"; exit 3' {q}"),
            capture_output=True, text=True, timeout=60)

    return run, out


def test_full_disk_new_pool_fails_open(tmp_path: Path) -> None:
    run, out = on_full_tmpfs(tmp_path, "mount -t tmpfs -o size=64k tmpfs {m}\n")
    assert_fail_open_and_strict(run, out, "No space left on device")


def test_full_disk_no_inodes_fails_open(tmp_path: Path) -> None:
    """A pool made before the disk filled, whose slot files cannot be created any more."""
    run, out = on_full_tmpfs(tmp_path, (
        "mount -t tmpfs -o size=64k,nr_inodes=8 tmpfs {m}\n"
        "{linkpool} init --pool {m}/pool --slots 2 >/dev/null\n"
        "rm {m}/pool/slot.*\n"
        "i=0; while touch {m}/f$i 2>/dev/null; do i=$((i+1)); done\n"))
    assert_fail_open_and_strict(run, out, "No space left on device")


def test_full_disk_existing_pool_still_works(tmp_path: Path) -> None:
    """Slot files exist: the pool still limits; only the identity text is lost."""
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir()
    m, q = shlex.quote(str(mnt)), shlex.quote(str(out))
    r = subprocess.run(in_mount_ns(
        f"mount -t tmpfs -o size=64k tmpfs {m}\n{LINKPOOL} init --pool {m}/pool --slots 1\n"
        + FILL.format(m=m) +
        f"exec {LINKPOOL} run --pool {m}/pool -- sh -c 'echo ran > \"$0\"; exit 3' {q}"),
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and out.read_text() == "ran\n"
    assert "without the pool" not in r.stderr


def test_pool_deleted_while_jobs_wait(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 1)
    holder = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--", "sleep", "30"],
                              stderr=subprocess.PIPE, text=True)
    wait_for(lambda: status(pool)["in_use"] == 1, what="holder")
    outs = [tmp_path / "o1", tmp_path / "o2"]
    waiters = []
    for i, out in enumerate(outs):
        waiters.append(subprocess.Popen(
            [LINKPOOL, "run", "--quiet", *(["--strict"] if i else []), "--pool", str(pool),
             "--", *CMD, str(out)], stderr=subprocess.PIPE, text=True))
        wait_for(lambda n=i + 1: status(pool)["waiting"] == n, what="waiter")
    shutil.rmtree(pool)
    t0 = time.monotonic()
    try:
        loose, strict = (w.communicate(timeout=15)[1] for w in waiters)
    finally:
        holder.terminate()  # forwarded to sleep: a SIGKILLed wrapper would leave it holding
        holder.wait()
        for w in waiters:
            w.kill()
    assert time.monotonic() - t0 < 10
    assert waiters[0].returncode == 3 and outs[0].read_text() == "ran\n"
    one_line(loose, "linkpool: warning: ")
    assert waiters[1].returncode == 69 and not outs[1].exists()
    one_line(strict, "linkpool: ")
    assert "pool.json" in loose and "pool.json" in strict


@pytest.mark.parametrize("what", ["pool.json empty", "pool.json a directory",
                                  "pool.json a symlink"])
def test_pool_json_broken_other_ways(tmp_path: Path, what: str) -> None:
    """Complements test_pool.py's corrupt-JSON case: a torn write, a directory, a symlink."""
    pool = make_pool(tmp_path / "pool", 1)
    conf, victim = pool / "pool.json", tmp_path / "victim"
    victim.write_text('{"protocol": 1, "slots": 1}')
    conf.unlink()
    if what.endswith("empty"):
        conf.write_text("")
    elif what.endswith("directory"):
        conf.mkdir()
    else:
        conf.symlink_to(victim)
    out = tmp_path / "out"
    assert_fail_open_and_strict(lambda strict: lp(
        "run", *(["--strict"] if strict else []), "--pool", str(pool), "--", *CMD, str(out)),
        out)
    assert victim.read_text() == '{"protocol": 1, "slots": 1}'


@pytest.mark.parametrize("kind", ["directory", "symlink"])
@pytest.mark.parametrize("slot", [0, 1])
def test_slot_replaced_while_in_use(tmp_path: Path, kind: str, slot: int) -> None:
    """slot.0 is held by a running job when slot ``slot`` is replaced."""
    pool = make_pool(tmp_path / "pool", 2)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    victim.chmod(0o640)
    holder = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--", "sleep", "30"],
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: status(pool)["in_use"] == 1, what="holder")
        (pool / f"slot.{slot}").unlink()
        if kind == "directory":
            (pool / f"slot.{slot}").mkdir()
        else:
            (pool / f"slot.{slot}").symlink_to(victim)
        out = tmp_path / "out"
        assert_fail_open_and_strict(lambda strict: lp(
            "run", *(["--strict"] if strict else []), "--pool", str(pool), "--", *CMD,
            str(out)), out, f"slot.{slot} is a {kind}")
    finally:
        holder.terminate()  # forwarded to sleep: a SIGKILLed wrapper would leave it holding
        holder.wait()
    assert victim.read_text() == "precious" and victim.stat().st_mode & 0o777 == 0o640


# -- 2. hostile directories, as root and as a user ---------------------------------------------

WHO = ["root", "user"]


def who_is(env: Env, who: str) -> tuple[str, str]:
    """(the user under test, another user)."""
    return ("root", env.users[0]) if who == "root" else (env.users[0], env.users[1])


def own_dir(env: Env, area: Path, user: str, name: str = "home") -> Path:
    d = area / name
    d.mkdir(mode=0o700)
    env.chown(d, user)
    return d


@pytest.mark.parametrize("who", WHO)
def test_symlink_at_pool_path_is_refused(env: Env, area: Path, who: str) -> None:
    me, _ = who_is(env, who)
    home = own_dir(env, area, me)
    target = home / "target"
    assert env.linkpool(me, "init", "--pool", str(target), "--slots", "1").returncode == 0
    before = sorted(os.listdir(target))
    link = home / "pool"
    link.symlink_to(target)
    env.chown(home, me)
    os.lchown(link, env.uid(me), -1)
    out = home / "out"
    assert_fail_open_and_strict(lambda strict: env.linkpool(
        me, "run", *(["--strict"] if strict else []), "--pool", str(link), "--", *CMD,
        str(out)), out, "is a symlink")
    assert sorted(os.listdir(target)) == before
    r = env.linkpool(me, "init", "--pool", str(link), "--slots", "3")
    assert r.returncode != 0 and "symlink" in r.stderr
    assert json.loads((target / "pool.json").read_text())["slots"] == 1


@pytest.mark.parametrize("who", WHO)
def test_symlink_at_slot_path_is_refused(env: Env, area: Path, who: str) -> None:
    me, _ = who_is(env, who)
    home = own_dir(env, area, me)
    pool = home / "pool"
    assert env.linkpool(me, "init", "--pool", str(pool), "--slots", "1").returncode == 0
    victim = home / "victim"
    victim.write_text("precious")
    env.chown(victim, me)
    victim.chmod(0o600)
    (pool / "slot.0").unlink()
    (pool / "slot.0").symlink_to(victim)
    out = home / "out"
    assert_fail_open_and_strict(lambda strict: env.linkpool(
        me, "run", *(["--strict"] if strict else []), "--pool", str(pool), "--", *CMD,
        str(out)), out, "slot.0 is a symlink")
    st = victim.stat()
    assert victim.read_text() == "precious" and st.st_mode & 0o777 == 0o600


@pytest.mark.parametrize("who", WHO)
def test_pool_precreated_by_another_user_is_refused(env: Env, area: Path, who: str) -> None:
    me, other = who_is(env, who)
    if who == "user":
        other = "root"
    pool = area / "pool"
    assert env.linkpool("root", "init", "--pool", str(pool), "--slots", "1").returncode == 0
    for f in [pool, *pool.iterdir()]:
        env.chown(f, other)
    pool.chmod(0o755)  # readable, so the owner check (not EACCES) is what refuses it
    out = own_dir(env, area, me, "w") / "out"
    assert_fail_open_and_strict(lambda strict: env.linkpool(
        me, "run", *(["--strict"] if strict else []), "--pool", str(pool), "--", *CMD,
        str(out)), out, f"owned by uid {env.uid(other)}")
    assert not (pool / "queue.lock").exists()


@pytest.mark.parametrize("who", WHO)
def test_pool_under_world_writable_non_sticky_parent_is_refused(env: Env, area: Path,
                                                                who: str) -> None:
    """In a parent anyone can write (mode 0777, no sticky bit) another user could rename
    the pool away and the next job would make a second pool unnoticed, so such a pool is
    refused: fail-open with one warning, or 69 with --strict. Nothing is created there."""
    me, _ = who_is(env, who)
    parent = area / "ww"
    parent.mkdir()
    parent.chmod(0o777)
    pool = parent / "pool"
    out = parent / "ran"  # the user may write here
    r = env.linkpool(me, "run", "--pool", str(pool), "--", "touch", str(out))
    assert r.returncode == 0 and out.exists()
    assert r.stderr.startswith(f"linkpool: warning: pool {pool} (from --pool): the pool's "
                               f"folder") and r.stderr.count("\n") == 1, r.stderr
    assert "chmod +t" in r.stderr
    r = env.linkpool(me, "run", "--strict", "--pool", str(pool), "--", "true")
    assert r.returncode == 69 and "writable by anyone and not sticky" in r.stderr
    assert not (pool / "pool.json").exists()
    parent.chmod(0o1777)  # sticky: fine (like /tmp)
    r = env.linkpool(me, "run", "--pool", str(pool), "--", "true")
    assert r.returncode == 0 and r.stderr == "", r.stderr


# -- 3. a shared pool used by two users at once --------------------------------------------------


def shared_pool(env: Env, area: Path, slots: int) -> tuple[Path, Path]:
    pool = area / "shared"
    r = env.linkpool("root", "init", "--shared", str(pool), "--slots", str(slots))
    assert r.returncode == 0, r.stderr
    seen = area / "seen"
    seen.mkdir()
    seen.chmod(0o1777)
    (seen / "log").touch()
    (seen / "log").chmod(0o666)
    return pool, seen


USER_WITNESS: Path = Path()  # the witness copied where other users can run it (env sets it)


def witness_for(seen: Path, job: str, seconds: float) -> list[str]:
    # the witness makes its alive file 0600: made here 0666 so the other user can probe it
    alive = seen / f"alive.{job}.1"
    alive.touch()
    alive.chmod(0o666)
    return [SYS_PY, str(USER_WITNESS), str(seen), job, "1", str(seconds)]


def test_shared_pool_two_users_limit_holds(env: Env, area: Path) -> None:
    pool, seen = shared_pool(env, area, 2)
    procs = []
    for i in range(6):
        for user in env.users:
            job = f"{user}-{i}"
            procs.append(env.popen(user, "run", "--quiet", "--pool", str(pool), "--",
                                   *witness_for(seen, job, 0.15)))
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    most, entered, done = witness_log(seen)
    assert [code for code, _ in results] == [0] * 12, results
    assert most <= 2, f"the witness saw {most} inside a 2-slot pool"
    assert len(entered) == 12 and len(done) == 12
    assert all(not err for _, err in results), results  # nothing said: --quiet, history ok


def test_shared_pool_second_user_gets_no_warning(env: Env, area: Path) -> None:
    pool, _ = shared_pool(env, area, 1)
    for user in env.users:
        r = env.linkpool(user, "run", "--pool", str(pool), "--", "true")
        assert r.returncode == 0 and r.stderr == "", r.stderr


def test_shared_pool_users_cannot_touch_each_others_files(env: Env, area: Path) -> None:
    a, b = env.users
    pool, _ = shared_pool(env, area, 2)
    holders = [env.popen(a, "run", "--pool", str(pool), "--", "sleep", "30") for _ in range(2)]
    waiter = None
    try:
        wait_for(lambda: status(pool)["in_use"] == 2, what="two holders of user a")
        waiter = env.popen(a, "run", "--quiet", "--pool", str(pool), "--", "true")
        wait_for(lambda: status(pool)["in_use"] == 2 and status(pool)["waiting"] == 1,
                 what="two holders and a waiter of user a")
        ticket = next(pool.glob("wait.*"))
        assert ticket.stat().st_uid == env.uid(a)
        for victim in (ticket, pool / "slot.0", pool / "pool.json", pool / "queue.lock"):
            r = env.sh(b, f"rm -f {victim}")
            assert r.returncode != 0 and "Operation not permitted" in r.stderr, (victim, r)
            assert victim.exists()
        r = env.sh(b, f"echo x > {pool}/mine && mv -f {pool}/mine {pool}/slot.1")
        assert r.returncode != 0 and "not permitted" in r.stderr, r
        r = env.sh(b, f"echo '{{\"protocol\": 1, \"slots\": 99}}' > {pool}/pool.json")
        assert r.returncode != 0 and "Permission denied" in r.stderr, r
        assert env.sh(b, f"echo 'garbage' > {ticket}").returncode == 0  # a ticket is 0666 too
        # The known limit: slot (and ticket) files are 0666, so b can overwrite the
        # identity text of a's held slot. Only the text: the lock is untouched.
        r = env.sh(b, f"echo 'not json' > {pool}/slot.0")
        assert r.returncode == 0
        st = status(pool)
        assert st["in_use"] == 2 and st["slots"] == 2  # the waiter's text is gone too
        assert st["unknown_holders"] >= 1  # status cannot name that holder any more
        # b's own job waits in line like anyone: the limit still holds
        r = env.linkpool(b, "run", "--timeout", "0.5", "--pool", str(pool), "--", "true")
        assert r.returncode == 75
    finally:
        for p in holders:
            p.terminate()  # forwarded to sleep (a SIGKILLed wrapper leaves sleep holding)
    # a's waiter then runs: b made nothing of a's fail
    assert waiter is not None and waiter.wait(timeout=20) == 0
    for p in holders:
        p.wait()
    assert env.linkpool(a, "run", "--pool", str(pool), "--", "true").returncode == 0


def test_shared_pool_dead_ticket_of_another_user(env: Env, area: Path) -> None:
    a, b = env.users
    pool, _ = shared_pool(env, area, 1)
    # b's waiter died in line (SIGKILL): its ticket stays, unlocked, owned by b
    assert env.sh(b, f"echo '{{}}' > {pool}/wait.5").returncode == 0
    p = env.popen(a, "run", "--timeout", "1", "--pool", str(pool), "--", "true")
    try:
        assert p.wait(timeout=3) == 0
    finally:
        p.kill()
        p.wait()


# -- 4. containers: other mount and pid namespaces ---------------------------------------------


def test_pool_shared_with_a_container(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 1)
    seen = tmp_path / "seen"
    seen.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    e, p = shlex.quote(str(elsewhere)), shlex.quote(str(pool))
    wit = [sys.executable, WITNESS, str(seen)]

    def contained(job: str, seconds: float) -> subprocess.Popen:
        cmd = " ".join(shlex.quote(a) for a in [*wit, job, "1", str(seconds)])
        return subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount", "sh", "-ec",
             f"mount --make-rprivate /\nmount --bind {p} {e}\n"
             f"exec {LINKPOOL} run --quiet --pool {e} -- {cmd}"], stderr=subprocess.PIPE, text=True)

    first = contained("c0", 1.5)
    wait_for(lambda: witness_log(seen)[1], what="the contained job inside")
    r = lp("status", "--pool", str(pool))
    assert r.returncode == 0
    assert "another pid namespace" in r.stdout, r.stdout
    held = [h for h in status(pool)["holders"]]
    assert len(held) == 1 and held[0]["pidns"] != os.readlink("/proc/self/ns/pid")
    assert any("*" in line and str(held[0]["pid"]) in line for line in r.stdout.splitlines())
    procs = [first]
    for i in range(3):
        procs.append(contained(f"c{i + 1}", 0.1))
        procs.append(subprocess.Popen(
            [LINKPOOL, "run", "--quiet", "--pool", str(pool), "--", *wit, f"h{i}", "1", "0.1"],
            stderr=subprocess.PIPE, text=True))
    results = [(q.wait(timeout=60), q.stderr.read()) for q in procs]
    assert results == [(0, "")] * 7, results
    most, entered, done = witness_log(seen)
    assert most == 1 and len(entered) == 7 and len(done) == 7
