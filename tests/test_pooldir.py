"""The pool directory's rules (linkpool.pooldir), which the pool and `doctor` share: one
implementation, so one verdict on the same hostile directory or slot, and pool.json's
reader (linkpool.pool.read_config) giving what doctor prints. The waiting room's own tests
are tests/test_waiting.py; what opening a pool imports is tests/test_pool.py's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from linkpool import doctor
from linkpool.pool import Pool, PoolError, read_config

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
