"""The pool's rooms, each on its own: the directory rules that the pool and `doctor` share
(one implementation, so one verdict on the same hostile directory), pool.json's reader,
the mountinfo reader, the waiting room's sleep, and what opening a pool imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from linkpool import doctor
from linkpool.capacity import mounts
from linkpool.pool import Pool, PoolError, read_config
from linkpool.waiting import RETRY, SAFETY, Notice, Timeout, Waiter, fs_type, probe_inotify

from conftest import lp, make_pool

ROOT = os.geteuid() == 0
NOBODY = 65534


def pool_verdict(path: Path, weight: int = 0) -> str | None:
    """What the pool says when it opens ``path`` (and, with ``weight``, acquires): the
    refusal, or None."""
    try:
        with Pool.open(str(path), create=False) as pool:
            if weight:
                pool.acquire(weight, timeout=5).release()
    except PoolError as e:
        return str(e)
    return None


def doctor_fails(path: Path) -> list[str]:
    """The FAIL lines of doctor's look at the pool directory ``path``."""
    c = doctor.Checks()
    doctor.check_pool(c, str(path), "--pool")
    return [f"{check}: {message}" for level, check, message in c.lines if level == "FAIL"]


def world_writable_parent(tmp: Path) -> Path:
    pool = make_pool(tmp / "open" / "p", 1)
    pool.parent.chmod(0o777)  # after: `linkpool init` refuses to make a pool there
    return pool


def another_users_dir(tmp: Path) -> Path:
    pool = make_pool(tmp / "p", 1)
    os.chown(pool, NOBODY, NOBODY)
    return pool


def a_symlink(tmp: Path) -> Path:
    make_pool(tmp / "real", 1)
    (tmp / "p").symlink_to(tmp / "real")
    return tmp / "p"


def a_file(tmp: Path) -> Path:
    (tmp / "p").write_text("not a pool\n")
    return tmp / "p"


def group_writable(tmp: Path) -> Path:
    pool = make_pool(tmp / "p", 1)
    pool.chmod(0o770)
    return pool


def shared_without_sticky(tmp: Path) -> Path:
    lp("init", "--shared", str(tmp / "p"), "--slots", "1", check=True)
    (tmp / "p").chmod(0o777)
    return tmp / "p"


def too_many_slots(tmp: Path) -> Path:
    pool = make_pool(tmp / "p", 1)
    (pool / "pool.json").write_text('{"protocol": 1, "slots": 5000, "shared": false}\n')
    return pool


def newer_protocol(tmp: Path) -> Path:
    pool = make_pool(tmp / "p", 1)
    (pool / "pool.json").write_text('{"protocol": 2, "slots": 1}\n')
    return pool


def pool_json_symlink(tmp: Path) -> Path:
    pool = make_pool(tmp / "p", 1)
    (tmp / "elsewhere.json").write_text('{"protocol": 1, "slots": 1}\n')
    (pool / "pool.json").unlink()
    (pool / "pool.json").symlink_to(tmp / "elsewhere.json")
    return pool


DIRECTORIES: list[tuple[Callable[[Path], Path], str]] = [
    (world_writable_parent, "writable by anyone and not sticky"),
    (another_users_dir, f"is owned by uid {NOBODY}, not you"),
    (a_symlink, "is a symlink"),
    (a_file, "is not a directory"),
    (group_writable, "is writable by others; run `chmod 700"),
    (shared_without_sticky, "world-writable without the sticky bit; run `chmod +t"),
    (too_many_slots, "pool.json is corrupt"),
    (newer_protocol, "uses protocol 2, newer than this linkpool"),
    (pool_json_symlink, "pool.json is a symlink"),
]


@pytest.mark.parametrize("make, words", DIRECTORIES, ids=[m.__name__ for m, _ in DIRECTORIES])
def test_the_pool_and_doctor_give_one_verdict_on_a_hostile_directory(
        make: Callable[[Path], Path], words: str, tmp_path: Path) -> None:
    if make is another_users_dir and not ROOT:
        pytest.skip("needs root to chown the pool to another user")
    path = make(tmp_path)
    refusal = pool_verdict(path)
    assert refusal is not None and words in refusal, refusal
    fails = doctor_fails(path)
    # doctor reports the pool's own sentence, word for word, and adds only what it saw
    assert any(refusal in line for line in fails), (refusal, fails)


def test_the_pool_and_doctor_agree_on_a_good_pool(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 2)
    assert pool_verdict(pool, weight=2) is None
    assert doctor_fails(pool) == []


@pytest.mark.parametrize("plant, words", [
    ("symlink", "slot.0 is a symlink"),
    ("directory", "slot.0 is a directory"),
    ("fifo", "slot.0 is not a regular file"),
    ("nobody", f"slot.0 is owned by uid {NOBODY}"),
])
def test_the_pool_and_doctor_give_one_verdict_on_a_hostile_slot(
        plant: str, words: str, tmp_path: Path) -> None:
    if plant == "nobody" and not ROOT:
        pytest.skip("needs root to chown a slot to another user")
    pool = make_pool(tmp_path / "p", 1)
    slot = pool / "slot.0"
    slot.unlink(missing_ok=True)
    if plant == "symlink":
        slot.symlink_to(tmp_path / "target")
    elif plant == "directory":
        slot.mkdir()
    elif plant == "fifo":
        os.mkfifo(slot)
    else:
        slot.write_text("")
        os.chown(slot, NOBODY, NOBODY)
    refusal = pool_verdict(pool, weight=1)
    assert refusal is not None and words in refusal, refusal
    (line,) = [x for x in doctor_fails(pool) if x.startswith("files: ")]
    assert words in line and "linkpool refuses such files" in line


def test_doctor_checks_the_folder_above_the_pool_as_the_pool_does(tmp_path: Path) -> None:
    """The folder rule was the pool's alone: doctor said OK to a pool every link refused."""
    pool = world_writable_parent(tmp_path)
    r = lp("doctor", "--pool", str(pool))
    assert r.returncode == 1 and r.stderr == ""
    assert f"FAIL  pool: {pool} (--pool): private, owner " in r.stdout
    assert f"run `chmod +t {pool.parent}`" in r.stdout
    run = lp("run", "--pool", str(pool), "--", "true")
    assert run.returncode == 0 and "writable by anyone and not sticky" in run.stderr


def test_read_config_gives_what_doctor_prints(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 3)
    fd = os.open(pool, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_config(fd, str(pool)) == {"slots": 3, "shared": False, "protocol": 1}
    finally:
        os.close(fd)
    c = doctor.Checks()
    doctor.check_pool(c, str(pool), "--pool")
    assert ("OK", "pool.json", "3 slots, protocol 1") in c.lines


# -- the config's `pool` setting, as doctor and a link see it --------------------------------


def test_a_wrong_typed_pool_in_the_config_is_a_fail_and_links_run_without_a_pool(
        tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("pool = 3\n")
    env = {**os.environ, "LINKPOOL_CONFIG": str(config)}
    r = lp("doctor", env=env)
    assert r.returncode == 1
    assert "FAIL  setting: " in r.stdout and "FAIL  pool: not checked" in r.stdout
    assert "OK    pool" not in r.stdout
    out = tmp_path / "ran"
    run = lp("run", "--", "sh", "-c", 'echo ran > "$0"', str(out), env=env)
    assert run.returncode == 0 and out.read_text() == "ran\n"
    assert run.stderr.startswith("linkpool: warning: ") and run.stderr.count("\n") == 1


def test_a_relative_pool_in_the_config_warns_and_names_the_pool_links_use(
        tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('pool = "rel/dir"\n')
    env = {**os.environ, "LINKPOOL_CONFIG": str(config)}
    r = lp("doctor", "--json", env=env, cwd=tmp_path)
    checks = json.loads(r.stdout)["checks"]
    (setting,) = [c for c in checks if c["check"] == "setting"]
    assert setting["level"] == "WARN" and str(folder / "rel" / "dir") in setting["message"]
    (pool,) = [c for c in checks if c["check"] == "pool"]
    assert pool["message"].startswith(f"{folder / 'rel' / 'dir'} ({config})")
    # the pool doctor names is the one a link makes and uses, wherever the link runs
    assert lp("run", "--", "true", env=env, cwd=tmp_path).returncode == 0
    assert (folder / "rel" / "dir" / "pool.json").exists()
    assert not (tmp_path / "rel").exists()


# -- the mountinfo reader and the wake-up ----------------------------------------------------


def test_one_mountinfo_reader_unescapes_and_skips_optional_fields(tmp_path: Path) -> None:
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "mountinfo").write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:35 / /mnt/my\\040disk rw master:2 unbindable - nfs4 srv:/x rw,vers=4.2\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
        "garbage\n")
    assert mounts(str(tmp_path)) == [
        ("ext4", "/", "/", ["rw"]),
        ("nfs4", "/", "/mnt/my disk", ["rw", "vers=4.2"]),
        ("cgroup2", "/", "/sys/fs/cgroup/unified", ["rw", "nsdelegate"]),
    ]


def test_fs_type_is_the_longest_mount_above_the_path() -> None:
    assert fs_type("/proc/self") == "proc"
    found = subprocess.run(["stat", "-f", "-c", "%T", "/proc"], capture_output=True,
                           text=True, check=True).stdout.strip()
    assert found == "proc"
    assert fs_type("/") != ""


def test_wakeup_mode_and_the_inotify_probe_take_polling_as_a_parameter(tmp_path: Path) -> None:
    assert Waiter.mode_for(str(tmp_path)) == "inotify"
    assert Waiter.mode_for(str(tmp_path), polling=True) == "polling (forced)"
    assert probe_inotify(False) == (True, "works")
    assert probe_inotify(True)[0] is False


def test_the_heads_sleep_retries_quickly_after_a_wakeup_then_rests(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    waiter = Waiter.for_dir(str(tmp_path), fd, polling=False)
    try:
        assert waiter.fd >= 0 and waiter.quick == []
        (tmp_path / "f").write_text("x")  # a close of a file opened for writing: an event
        waiter.sleep(None, Notice(None, 1.0), "late")
        assert waiter.quick == list(RETRY)  # woken: the lock may still be held a moment
        for expected in RETRY:
            start = time.monotonic()
            waiter.sleep(None, Notice(None, 1.0), "late")
            assert time.monotonic() - start < expected + SAFETY / 2
        assert waiter.quick == []  # back to the long, safe wait
        with pytest.raises(Timeout, match=r"^late$"):
            waiter.sleep(time.monotonic() - 1, Notice(None, 1.0), "late")
    finally:
        waiter.close()
        os.close(fd)


def test_notice_speaks_once_before_the_deadline() -> None:
    said: list[int] = []
    notice = Notice(lambda: said.append(1), 0.0)
    assert notice.clip(None) is not None and notice.clip(time.monotonic() + 60) is not None
    assert notice.fire_if_due() and not notice.fire_if_due()
    assert said == [1] and notice.clip(None) is None


# -- what opening a pool costs ---------------------------------------------------------------


def test_opening_a_pool_asks_capacity_only_when_making_one(tmp_path: Path) -> None:
    """pool.py knows nothing of capacity, except for the N of a pool it makes itself."""
    existing = make_pool(tmp_path / "old", 2)
    code = (
        "import sys\nfrom linkpool.pool import Pool\n"
        f"Pool.open({str(existing)!r}).acquire(1).release()\n"
        f"Pool.open({str(tmp_path / 'given')!r}, default_slots=3).close()\n"
        "print('linkpool.capacity' in sys.modules)\n"
        f"Pool.open({str(tmp_path / 'new')!r}).close()\n"
        "print('linkpool.capacity' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


def test_acquiring_loads_only_the_pools_rooms(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    code = (
        "import sys\nfrom linkpool.pool import Pool\n"
        f"Pool.open({str(pool)!r}).acquire(1).release()\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('linkpool'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["linkpool", "linkpool.pool", "linkpool.pooldir", "linkpool.strictjson",
                   "linkpool.waiting"]
