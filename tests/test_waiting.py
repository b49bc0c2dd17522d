"""The waiting room (linkpool.waiting) on its own: the file system a pool sits on, the
wake-up mode and the inotify probe, how the head of the line sleeps and wakes, and the
notice that speaks once. The line itself, with real processes in real pools, is
tests/test_process.py's (arrival order, Ctrl-C while waiting, the polling fallback) and
tests/test_slotclient.py's (C and Python clients in one line)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from linkpool.waiting import RETRY, SAFETY, Notice, Timeout, Waiter, fs_type, probe_inotify


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


