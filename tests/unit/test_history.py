"""The pool's history (linkpool.history): the log's rotation, the outputs/ index, and the
wait of a reader for records still being written (policy/pending)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

import linkpool.history as history
from linkpool.history import LOG, History


def record(i: int, output: str = "app") -> dict:
    return {"time": float(i), "output": f"/b/{output}", "exit": 0, "pad": "x" * 200, "i": i}


def test_the_log_rotates_past_its_size_keeping_one_older_generation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "MAX_BYTES", 4096)
    h = History(str(tmp_path))
    for i in range(100):  # ~25 KB of records: several rotations
        h.append(record(i))
    log, older = tmp_path / LOG, tmp_path / (LOG + ".1")
    assert older.exists() and log.exists()
    # bounded: each generation is at most one record past the limit
    assert older.stat().st_size <= 4096 + 300 and log.stat().st_size <= 4096 + 300
    got = [r["i"] for r in h.records()]
    assert got == sorted(got) and got[-1] == 99  # oldest first, the newest kept
    assert len(got) < 100  # the generation before .1 was dropped
    assert not list(tmp_path.glob(LOG + ".2"))


def test_a_rotation_by_another_writer_is_not_repeated(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two writers past the limit at once: the one that locks first renames; the other
    sees the file renamed and keeps it (no second rename dropping the fresh .1)."""
    monkeypatch.setattr(history, "MAX_BYTES", 1024)
    h = History(str(tmp_path))
    for i in range(6):
        h.append(record(i))
    assert (tmp_path / (LOG + ".1")).exists()
    fd = os.open(tmp_path / LOG, os.O_WRONLY | os.O_APPEND)
    try:
        os.replace(tmp_path / LOG, tmp_path / "elsewhere")  # someone else rotated it
        h._rotate(fd)  # our descriptor is of the renamed file: nothing more happens
    finally:
        os.close(fd)
    assert (tmp_path / "elsewhere").exists() and not (tmp_path / LOG).exists()


def test_the_last_record_of_each_output_is_found(tmp_path: Path) -> None:
    h = History(str(tmp_path))
    h.append(record(1, "a"))
    h.append(record(2, "b"))
    h.append(record(3, "a"))
    assert h.last("/b/a")["i"] == 3 and h.last("/b/b")["i"] == 2
    assert h.last("/b/c") is None
    key = History.key("/b/a")
    assert len(key) == 16 and key == History.key("/b/a") != History.key("/b/b")
    assert (tmp_path / "outputs" / f"{key}.json").exists()


def test_records_wait_for_a_record_still_being_written(tmp_path: Path) -> None:
    """A job that has answered holds a shared lock on policy/pending until its record is
    written: records() waits for it, then sees the record."""
    h = History(str(tmp_path))
    fd = h.pending()
    fcntl.flock(fd, fcntl.LOCK_SH)

    def write_later() -> None:
        time.sleep(0.5)
        h.append(record(7))
        os.close(fd)  # the recorder's exit

    writer = threading.Thread(target=write_later)
    writer.start()
    try:
        assert [r["i"] for r in h.records()] == [7]
    finally:
        writer.join()


def test_records_do_not_wait_forever(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "SETTLE_S", 0.3)
    h = History(str(tmp_path))
    h.append(record(1))
    fd = h.pending()
    fcntl.flock(fd, fcntl.LOCK_SH)  # a recorder that never finishes
    try:
        start = time.monotonic()
        h.settle(0.3)
        assert [r["i"] for r in h.records()] == [1]
        assert time.monotonic() - start < 5
    finally:
        os.close(fd)


def test_no_pending_file_no_wait(tmp_path: Path) -> None:
    h = History(str(tmp_path))
    start = time.monotonic()
    h.settle()
    assert list(h.records()) == [] and time.monotonic() - start < 1
