"""A shared pool against another user of it (issue 19, class 6): integrity, availability
and set-up, with real unprivileged users, real symlinks, real FIFOs and real locks.

In a shared pool (sticky, world-writable) any user may create, fill or lock any name at
any moment. The attacker here is one user; the victim is the other user, and root. What
must hold for the victim's `linkpool run --strict --timeout T`: it runs pooled (the
witness never sees more jobs inside than the usable slots), it ends well within T (a hang
is a failure), says nothing, and does not spin. A slot name taken by a hostile entry is a
slot that is never free (the pool is one smaller); only when too few are left for the
job's weight is the pool unusable (a warning and the command unpooled, or 69 with
--strict). `status` and `doctor` show who holds what, as the kernel says.

Black-box: only the `linkpool` command (the env fixture's copy for users, the venv's for
root) and the files of the pool directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import test_hostile_pools as hostile
from test_hostile_pools import SYS_PY, Env

from conftest import lp, status, wait_for, witness_log

env = hostile.env  # two real users and a copy of linkpool they can run
pytestmark = hostile.pytestmark

WHO = ["user", "root"]
TIMEOUT = 20.0  # the victims' --timeout: generous, the machine is shared
MARGIN = 15.0  # beyond it, a victim that has not ended hangs


@pytest.fixture
def area(env: Env) -> Path:
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="trust-", dir=env.base))
    d.chmod(0o755)
    return d


def bare_shared(env: Env, area: Path, slots: int) -> tuple[Path, Path]:
    """A shared pool of root's (1777) holding only its pool.json, as a pool made before
    its files were (slot files and queue.lock come on demand): every name is free to be
    taken. And a witness folder every user can write."""
    pool, seen = hostile.shared_pool(env, area, slots)
    for f in pool.iterdir():
        if f.name != "pool.json":
            f.unlink()
    return pool, seen


def victim(env: Env, who: str, pool: Path, seen: Path, job: str, seconds: float = 0.3,
           *more: str) -> subprocess.Popen:
    return env.popen(who, "run", "--strict", "--timeout", str(TIMEOUT), *more, "--pool",
                     str(pool), "--", *hostile.witness_for(seen, job, seconds))


def victims_run_pooled(env: Env, who: str, pool: Path, seen: Path, usable: int,
                       jobs: int = 2) -> None:
    """``jobs`` strict links of ``who`` at once: each exits 0 without a word, within the
    timeout, and never more than ``usable`` inside at once (pooled)."""
    start = time.monotonic()
    procs = [victim(env, who, pool, seen, f"{who}-{i}") for i in range(jobs)]
    results = []
    for p in procs:
        try:
            code = p.wait(timeout=TIMEOUT + MARGIN)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise AssertionError(f"{who}'s link hangs past its --timeout") from None
        results.append((code, p.stderr.read() if p.stderr else ""))
    assert results == [(0, "")] * jobs, results
    assert time.monotonic() - start < TIMEOUT
    most, entered, done = witness_log(seen)
    assert len(entered) == jobs and len(done) == jobs
    assert most <= usable, f"{most} jobs inside at once, {usable} usable slot(s)"


def as_attacker(env: Env, script: str) -> None:
    r = env.sh(env.users[0], script)
    assert r.returncode == 0, r.stderr


def victim_of(env: Env, who: str) -> str:
    return "root" if who == "root" else env.users[1]


def cases(attacks: dict[str, str]) -> list[tuple[str, str]]:
    """(attack, victim) pairs: root may open a file another user made unreadable, so
    that one is an attack on users only."""
    return [(a, who) for a in attacks for who in WHO if not (who == "root" and "unreadable" in a)]


# -- availability: a hostile entry in place of a slot, queue.lock or a ticket ------------------

SLOT_ATTACKS = {
    "symlink": "ln -s /etc/passwd {p}/slot.1",
    "dangling symlink": "ln -s {p}/../made-by-link {p}/slot.1",
    "fifo": "mkfifo {p}/slot.1",
    "fifo 0666": "mkfifo -m 666 {p}/slot.1",
    "directory": "mkdir {p}/slot.1",
    "unreadable file": "touch {p}/slot.1 && chmod 0 {p}/slot.1",
}


@pytest.mark.parametrize(("attack", "who"), cases(SLOT_ATTACKS))
def test_a_hostile_slot_is_a_slot_never_free(env: Env, area: Path, who: str,
                                             attack: str) -> None:
    """A slot name taken by another user (a symlink, a FIFO, a directory, a file nobody
    else may open) makes the pool one slot smaller: the victim's strict links run pooled
    in the slots left, at once, with no word; nothing is made where a symlink points."""
    pool, seen = bare_shared(env, area, 2)
    as_attacker(env, SLOT_ATTACKS[attack].format(p=pool))
    me = victim_of(env, who)
    victims_run_pooled(env, me, pool, seen, usable=1)
    assert not (area / "made-by-link").exists()
    assert (pool / "slot.0").is_file()
    r = env.linkpool(me, "status", "--json", "--pool", str(pool))
    st = json.loads(r.stdout)
    assert st["in_use"] == 0 and st["unusable_slots"] == [1], st


@pytest.mark.parametrize("who", WHO)
def test_a_heavy_job_takes_the_slots_left(env: Env, area: Path, who: str) -> None:
    """A job of weight 3 in a 3-slot pool where another user took a slot name runs with
    the two slots left, strict, silently, and holds both: a light job waits for it."""
    pool, seen = bare_shared(env, area, 3)
    as_attacker(env, f"mkfifo {pool}/slot.2")
    me = victim_of(env, who)
    heavy = env.popen(me, "run", "--strict", "--weight", "3", "--timeout", str(TIMEOUT),
                      "--pool", str(pool), "--", *hostile.witness_for(seen, "heavy", 1.0))
    try:
        wait_for(lambda: witness_log(seen)[1], what="the heavy job inside")
        st = status(pool)
        assert st["in_use"] == 2 and st["holders"][0]["slot_indices"] == [0, 1], st
        light = victim(env, me, pool, seen, "light", 0.1)
        assert light.wait(timeout=TIMEOUT + MARGIN) == 0
    finally:
        heavy.kill()  # only if the asserts above failed: it has ended by now
    assert heavy.wait(timeout=TIMEOUT + MARGIN) == 0 and heavy.stderr is not None
    assert heavy.stderr.read() == ""
    most, entered, _ = witness_log(seen)
    assert entered == ["heavy", "light"] and most == 1  # each job inside alone


@pytest.mark.parametrize("who", WHO)
def test_a_hard_link_to_the_victims_file_is_never_written(env: Env, area: Path,
                                                          who: str) -> None:
    """Another user hard-links a file of the victim's that they may write (mode 0666) in
    place of a slot: the victim's link never writes its note into it nor changes its
    mode; that slot counts as never free."""
    pool, seen = bare_shared(env, area, 2)
    me = victim_of(env, who)
    mine = area / "mine.log"
    mine.write_text("the victim's own\n")
    env.chown(mine, me)
    mine.chmod(0o666)
    as_attacker(env, f"ln {mine} {pool}/slot.0")
    victims_run_pooled(env, me, pool, seen, usable=1)
    assert mine.read_text() == "the victim's own\n"
    assert mine.stat().st_mode & 0o777 == 0o666 and mine.stat().st_uid == env.uid(me)


@pytest.mark.parametrize("attack", ["fifo"])
def test_a_pool_left_too_small_is_unusable(env: Env, area: Path, attack: str) -> None:
    """When hostile entries leave fewer slots than a job's weight the pool is truly
    unusable for it: one warning and the command unpooled, or 69 with --strict; either at
    once, never a hang. With one slot left, a weight-1 job runs pooled."""
    pool, _ = bare_shared(env, area, 2)
    as_attacker(env, SLOT_ATTACKS[attack].format(p=pool).replace("slot.1", "slot.0") + " && " +
                SLOT_ATTACKS[attack].format(p=pool))
    me = env.users[1]
    w = area / "w"
    w.mkdir()
    env.chown(w, me)
    hostile.assert_fail_open_and_strict(lambda strict: env.linkpool(
        me, "run", *(["--strict"] if strict else []), "--timeout", str(TIMEOUT), "--pool",
        str(pool), "--", *hostile.CMD, str(w / "out")), w / "out", "slot.0")


QUEUE_ATTACKS = {
    "symlink": "ln -s {p}/../made-by-link {p}/queue.lock",
    "fifo": "mkfifo {p}/queue.lock",
    "directory": "mkdir {p}/queue.lock",
    "unreadable file": "touch {p}/queue.lock && chmod 0 {p}/queue.lock",
}


@pytest.mark.parametrize(("attack", "who"), cases(QUEUE_ATTACKS))
def test_a_hostile_queue_lock_changes_nothing(env: Env, area: Path, who: str,
                                              attack: str) -> None:
    """queue.lock taken by another user: the draw goes without it (a ticket number is
    made ours by O_EXCL); links still run pooled, strict, at once, silently."""
    pool, seen = bare_shared(env, area, 1)
    as_attacker(env, QUEUE_ATTACKS[attack].format(p=pool))
    victims_run_pooled(env, victim_of(env, who), pool, seen, usable=1)
    assert not (area / "made-by-link").exists()


TICKET_ATTACKS = {
    "fifo ahead": "mkfifo {p}/wait.0",
    "symlink ahead": "ln -s /etc/passwd {p}/wait.0",
    "unreadable ahead": "touch {p}/wait.0 && chmod 0 {p}/wait.0",
    "non-ASCII digit": "touch {p}/wait.\u0663 {p}/slot.\u0661",  # Arabic-Indic 3 and 1
    "odd numbers": "touch {p}/wait.+1 {p}/wait.-1 {p}/wait.00 {p}/wait.01 {p}/wait.1_0 "
                   "{p}/wait.99999999999999999999999 {p}/wait.999999999999999999",
    "the next numbers": "for n in 1 2 3 4 5 6 7 8; do ln -s /etc/passwd {p}/wait.$n; done",
}


@pytest.mark.parametrize(("attack", "who"), cases(TICKET_ATTACKS))
def test_hostile_tickets_are_passed_over(env: Env, area: Path, who: str, attack: str) -> None:
    """Names like tickets put there by another user (a FIFO, a symlink, a directory, a
    file we may not open, names that are no ticket number) are nobody's place in line:
    the victim's strict links pass them over and run pooled, at once."""
    pool, seen = hostile.shared_pool(env, area, 1)
    as_attacker(env, TICKET_ATTACKS[attack].format(p=pool))
    victims_run_pooled(env, victim_of(env, who), pool, seen, usable=1)
    r = env.linkpool(victim_of(env, who), "status", "--json", "--pool", str(pool))
    assert r.returncode == 0 and json.loads(r.stdout)["waiting"] == 0, r.stderr


def cpu_of(p: subprocess.Popen) -> tuple[int, float, float]:
    """Reap ``p``: (exit status, CPU seconds it and its children used, wall seconds)."""
    start = time.monotonic()
    _, status_, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status_)
    return p.returncode, usage.ru_utime + usage.ru_stime, time.monotonic() - start


@pytest.mark.parametrize("who", WHO)
def test_a_waiter_among_hostile_entries_sleeps(env: Env, area: Path, who: str) -> None:
    """Behind a real holder, with hostile entries everywhere (a FIFO slot, a non-ASCII
    ticket, a FIFO ticket ahead, a FIFO queue.lock), the victim's strict link sleeps (its
    CPU well under 30 % of the wait), then runs pooled when the holder leaves."""
    pool, seen = bare_shared(env, area, 2)
    attacker = env.users[0]
    as_attacker(env, f"mkfifo {pool}/slot.1 {pool}/queue.lock {pool}/wait.0 && "
                     f"touch {pool}/wait.٣")
    holder = env.popen(attacker, "run", "--pool", str(pool), "--", "sleep", "3")
    try:
        wait_for(lambda: status(pool)["in_use"] == 1, what="the attacker's real link")
        start = time.monotonic()
        p = victim(env, victim_of(env, who), pool, seen, "waiter", 0.1, "--quiet")
        code, cpu, _ = cpu_of(p)
        wall = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert code == 0 and p.stderr is not None and p.stderr.read() == ""
    assert wall < TIMEOUT, wall
    assert wall > 1.0 and cpu < 0.3 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s"
    assert witness_log(seen)[1] == ["waiter"]


STORM = ("import os, sys\n"
         "name = os.path.join(sys.argv[1], 'storm')\n"
         "while True:\n"
         "    os.close(os.open(name, os.O_WRONLY | os.O_CREAT, 0o644))\n")


@pytest.mark.parametrize("who", WHO)
def test_a_storm_of_closes_does_not_make_waiters_spin(env: Env, area: Path, who: str) -> None:
    """Another user closes a file of theirs in the pool in a loop (each close wakes the
    head of the line): the victim waiting behind a real holder still sleeps (its CPU well
    under 30 % of the wait) and runs pooled when the holder leaves."""
    pool, seen = hostile.shared_pool(env, area, 1)
    attacker = env.users[0]
    holder = env.popen(attacker, "run", "--pool", str(pool), "--", "sleep", "3")
    storm = subprocess.Popen([*env.prefix(attacker), SYS_PY, "-c", STORM, str(pool)])
    try:
        wait_for(lambda: status(pool)["in_use"] == 1, what="the attacker's real link")
        start = time.monotonic()
        p = victim(env, victim_of(env, who), pool, seen, "waiter", 0.1, "--quiet")
        code, cpu, _ = cpu_of(p)
        wall = time.monotonic() - start
    finally:
        storm.kill()
        storm.wait()
        holder.kill()
        holder.wait()
    assert code == 0 and p.stderr is not None and p.stderr.read() == ""
    assert wall > 1.0 and cpu < 0.3 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s"
    assert witness_log(seen)[1] == ["waiter"]


def test_a_locked_ticket_ahead_never_holds_past_the_timeout(env: Env, area: Path) -> None:
    """A ticket ahead that another user locks for ever (they can: any name, any lock) is
    a wait a shared pool cannot prevent: it ends at --timeout, not later. A FIFO between
    it and the victim does not make the victim (or status) block."""
    pool, _ = hostile.shared_pool(env, area, 1)
    attacker, me = env.users
    as_attacker(env, f"mkfifo {pool}/wait.1 && echo '{{}}' > {pool}/wait.0")
    locker = subprocess.Popen(
        [*env.prefix(attacker), SYS_PY, "-c",
         "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n",
         str(pool / "wait.0")], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdout.readline() == "held\n"
        start = time.monotonic()
        r = env.linkpool(me, "run", "--timeout", "2", "--pool", str(pool), "--", "true")
        assert time.monotonic() - start < 2 + MARGIN
        assert r.returncode == 75 and r.stderr.startswith("linkpool: "), r
        st = json.loads(env.linkpool(me, "status", "--json", "--pool", str(pool)).stdout)
        assert st["waiting"] == 0  # a forged ticket is no waiter, but status shows whose
        assert [(t["ticket"], t["uids"]) for t in st["unknown_tickets"]] == \
            [(0, [env.uid(attacker)])], st
        r = env.linkpool(me, "status", "--pool", str(pool))
        assert f"ticket 0: held by {attacker}, pid {locker.pid}" in r.stdout, r.stdout
    finally:
        locker.kill()
        locker.wait()


def test_queue_lock_held_for_ever_delays_a_draw_only_briefly(env: Env, area: Path) -> None:
    """queue.lock is held for microseconds by a drawer; another user holding it for ever
    (any lock) makes a draw go without it after a moment, not wait for ever: links of
    the victim, with no --timeout and with --strict, still run pooled."""
    pool, seen = hostile.shared_pool(env, area, 1)
    locker = subprocess.Popen([*env.prefix(env.users[0]), SYS_PY, "-c", HOLD, "ex",
                               str(pool / "queue.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdout.readline() == "held\n"
        procs = [env.popen(env.users[1], "run", "--strict", "--pool", str(pool), "--",
                           *hostile.witness_for(seen, f"q{i}", 0.2)) for i in range(3)]
        try:
            results = [(p.wait(timeout=MARGIN), p.stderr.read() if p.stderr else "")
                       for p in procs]
        finally:
            for p in procs:
                p.kill()
        assert results == [(0, "")] * 3, results
        assert witness_log(seen)[0] == 1
    finally:
        locker.kill()
        locker.wait()


# -- status and doctor: who holds, as the kernel says ---------------------------------------------

HOLD = ("import fcntl, os, sys, time\n"
        "op = fcntl.LOCK_SH if sys.argv[1] == 'sh' else fcntl.LOCK_EX\n"
        "for p in sys.argv[2:]:\n"
        "    fd = os.open(p, os.O_RDWR)\n"
        "    fcntl.flock(fd, op)\n"
        "    if op == fcntl.LOCK_EX:\n"
        "        os.write(fd, b'{\"job\": \"forged\", \"pid\": 1, \"weight\": 1}\\n')\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("how", ["sh", "ex-forged"])
def test_status_counts_any_lock_and_names_its_user(env: Env, area: Path, who: str,
                                                   how: str) -> None:
    """Another user holds every slot with shared locks (or exclusive ones under a forged
    note): status, as the victim, counts them in use and names that user; doctor says
    so; and the victim's link waits (it ends at its timeout)."""
    pool, _ = hostile.shared_pool(env, area, 2)
    attacker = env.users[0]
    me = victim_of(env, who)
    holder = subprocess.Popen([*env.prefix(attacker), SYS_PY, "-c", HOLD, how[:2],
                               str(pool / "slot.0"), str(pool / "slot.1")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        r = env.linkpool(me, "status", "--json", "--pool", str(pool))
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        assert st["in_use"] == 2, st
        uids = {u for h in st["holders"] for u in h["uids"]} | \
            {u for h in st["unknown"] for u in h["uids"]}
        assert uids == {env.uid(attacker)}, st
        r = env.linkpool(me, "status", "--pool", str(pool))
        assert r.returncode == 0 and "2 in use" in r.stdout and attacker in r.stdout, r.stdout
        r = env.linkpool(me, "doctor", "--pool", str(pool))
        lines = [line for line in r.stdout.splitlines() if "held by other users" in line]
        assert len(lines) == 1 and attacker in lines[0] and str(holder.pid) in lines[0], \
            r.stdout
        r = env.linkpool(me, "run", "--timeout", "0.5", "--pool", str(pool), "--", "true")
        assert r.returncode == 75, r
    finally:
        holder.kill()
        holder.wait()


def test_doctor_reports_hostile_entries_and_their_owner(env: Env, area: Path) -> None:
    """doctor names each hostile entry and its owner, and files of the pool made by
    another user than the pool's owner; the pool still counts as usable."""
    pool, _ = bare_shared(env, area, 3)
    attacker = env.users[0]
    as_attacker(env, f"ln -s /etc/passwd {pool}/slot.1 && mkfifo {pool}/wait.4 && "
                     f"touch {pool}/slot.2 {pool}/queue.lock")
    r = env.linkpool(env.users[1], "doctor", "--pool", str(pool), "--json")
    checks = json.loads(r.stdout)["checks"]
    files = [c for c in checks if c["check"] == "files"]
    text = " ".join(c["message"] for c in files)
    assert "slot.1 is a symlink" in text and "wait.4 is not a regular file" in text, files
    assert f"slot.2 ({attacker})" in text and f"queue.lock ({attacker})" in text, files
    assert text.count(attacker) >= 4, files
    assert r.returncode == 0, r.stdout


# -- set-up: never adopt a directory another user made; root-owned files at boot ------------------


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("premade", ["directory", "pool"])
def test_init_shared_never_adopts_another_users_directory(env: Env, area: Path, who: str,
                                                          premade: str) -> None:
    attacker = env.users[0]
    me = victim_of(env, who)
    tmp = area / "tmp"  # like /tmp: anyone may make a directory there
    tmp.mkdir()
    tmp.chmod(0o1777)
    pool = tmp / "shared"
    if premade == "pool":
        r = env.linkpool(attacker, "init", "--shared", str(pool), "--slots", "2")
        assert r.returncode == 0, r.stderr
    else:
        pool.mkdir()
        pool.chmod(0o1777)
        env.chown(pool, attacker)
    before = sorted(os.listdir(pool))
    r = env.linkpool(me, "init", "--shared", str(pool), "--slots", "2")
    assert r.returncode != 0 and r.stdout == "", r
    hostile.one_line(r.stderr, "linkpool: ")
    assert f"uid {env.uid(attacker)}" in r.stderr and "remove it" in r.stderr, r.stderr
    assert sorted(os.listdir(pool)) == before


def test_setup_system_never_adopts_another_users_directory(env: Env, area: Path) -> None:
    """Another user made the pool where `setup system` puts the host's (a shared pool
    of theirs, in a /run anyone may write): root's `setup system --install` refuses it."""
    root = area / "root"
    (root / "run").mkdir(parents=True)
    (root / "run").chmod(0o1777)
    pool = root / "run" / "linkpool"
    r = env.linkpool(env.users[0], "init", "--shared", str(pool), "--slots", "2")
    assert r.returncode == 0, r.stderr
    before = hostile_snapshot(pool)
    r = lp("setup", "system", "--root", str(root), "--install", "--slots", "3")
    assert r.returncode != 0, r
    hostile.one_line(r.stderr, "linkpool: ")
    assert f"uid {env.uid(env.users[0])}" in r.stderr, r.stderr
    assert hostile_snapshot(pool) == before
    assert not (root / "etc").exists()


def hostile_snapshot(pool: Path) -> list[tuple[str, int, int, str]]:
    return [(f.name, f.lstat().st_mode, f.lstat().st_uid,
             f.read_text() if f.is_file() else "") for f in sorted(pool.iterdir())]


def test_a_pool_json_another_user_put_in_roots_directory_is_refused(env: Env,
                                                                     area: Path) -> None:
    """A directory root made for a shared pool (1777) but without its pool.json yet:
    another user writes one. It is theirs to rewrite at will, so the victim's link does
    not adopt it: one warning and the command unpooled, or 69 with --strict."""
    pool = area / "shared"
    pool.mkdir()
    pool.chmod(0o1777)
    attacker, me = env.users
    as_attacker(env, f"echo '{{\"protocol\": 1, \"slots\": 4096, \"shared\": true}}' "
                     f"> {pool}/pool.json")
    w = area / "w"
    w.mkdir()
    env.chown(w, me)
    for who in (me, "root"):
        hostile.assert_fail_open_and_strict(lambda strict, who=who: env.linkpool(
            who, "run", *(["--strict"] if strict else []), "--pool", str(pool), "--",
            *hostile.CMD, str(w / "out")), w / "out", f"made by uid {env.uid(attacker)}")


def test_init_shared_makes_every_file_a_link_needs(env: Env, area: Path) -> None:
    """`init --shared` makes queue.lock with the slots: no name a link needs is left for
    another user to take first."""
    pool, _ = hostile.shared_pool(env, area, 2)
    for name in ("pool.json", "queue.lock", "slot.0", "slot.1"):
        st = (pool / name).lstat()
        assert st.st_uid == 0 and (pool / name).is_file(), name
    as_attacker(env, f"ln -s /etc/passwd {pool}/queue.lock || mkfifo {pool}/queue.lock || true")
    assert (pool / "queue.lock").is_file()


def test_boot_entries_make_root_owned_slots(env: Env, area: Path) -> None:
    """The boot entry of `setup system`, applied by systemd-tmpfiles after a reboot
    wiped the pool, makes pool.json, queue.lock and every slot file, owned by root: an
    attacker's `ln -s` at a slot name fails, and links of two users run pooled."""
    tmpfiles = shutil.which("systemd-tmpfiles")
    assert tmpfiles, "scripts/setup.sh --test installs systemd-tmpfiles"
    root = area / "root"
    root.mkdir()
    r = lp("setup", "system", "--root", str(root), "--install", "--slots", "3")
    assert r.returncode == 0, r.stderr
    pool = root / "run" / "linkpool"
    shutil.rmtree(pool)  # the reboot
    r = subprocess.run([tmpfiles, "--create", f"--root={root}", "linkpool.conf"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for name in ("pool.json", "queue.lock", "slot.0", "slot.1", "slot.2"):
        st = (pool / name).lstat()
        assert (pool / name).is_file() and st.st_uid == 0, name
        assert st.st_mode & 0o777 == (0o644 if name == "pool.json" else 0o666), name
    r = env.sh(env.users[0], f"ln -s /etc/passwd {pool}/slot.2")
    assert r.returncode != 0
    seen = area / "seen"
    seen.mkdir()
    seen.chmod(0o1777)
    (seen / "log").touch()
    (seen / "log").chmod(0o666)
    procs = [victim(env, u, pool, seen, f"{u}{i}", 0.1) for i in range(2) for u in env.users]
    results = [(p.wait(timeout=TIMEOUT + MARGIN), p.stderr.read() if p.stderr else "")
               for p in procs]
    assert results == [(0, "")] * 4, results
    assert witness_log(seen)[0] <= 3
    assert "nothing to change" in lp("setup", "system", "--root", str(root)).stdout
