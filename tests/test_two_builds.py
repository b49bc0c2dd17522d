"""Two different build systems at once, one small pool: the links never exceed it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import lp, make_pool

ROOT = Path(__file__).resolve().parent.parent
LINKER_NAMES = {"ld", "ld.bfd", "ld.gold", "ld.lld", "ld.mold", "mold"}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


class LinkerWatch(threading.Thread):
    """An independent witness: counts running linker processes in /proc every ~1 ms, those
    working under ``root`` only (other builds on the machine are not this test's)."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = str(root)
        self.most, self.samples, self.done = 0, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            running = 0
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() not in LINKER_NAMES:
                            continue
                    with open(f"/proc/{pid}/stat") as f:
                        state = f.read().rsplit(")", 1)[1].split()[0]
                    cwd = os.readlink(f"/proc/{pid}/cwd")
                except OSError:
                    continue
                running += state not in "ZX" and cwd.startswith(self.root)
            self.most = max(self.most, running)
            self.samples += 1
            time.sleep(0.001)


def test_scons_and_make_share_one_slot(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 1)
    scons_dir = Path(shutil.copytree(ROOT / "examples" / "scons", tmp_path / "scons"))
    make_dir = Path(shutil.copytree(ROOT / "examples" / "make", tmp_path / "make"))
    env = {**os.environ, "LINKPOOL_DIR": str(pool)}
    watch = LinkerWatch(tmp_path)
    watch.start()

    def both() -> None:
        builds = [
            subprocess.Popen([str(Path(sys.executable).parent / "scons"), "-j4"],
                             cwd=scons_dir, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True),
            subprocess.Popen(["make", "-j4", "LINK.o=linkpool $(CC) $(LDFLAGS) $(TARGET_ARCH)"],
                             cwd=make_dir, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True),
        ]
        outputs = [b.communicate(timeout=300)[0] for b in builds]
        assert [b.returncode for b in builds] == [0, 0], outputs

    # A build, then both again with every program removed: the first plans each link
    # (Python, docs/plans.md), the second's links reach the pool as fast as the builds
    # start them, from their plans
    both()
    first = json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)
    for r in first:
        os.unlink(r["output"])
    both()
    watch.done.set()
    watch.join()

    records = json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)
    by_build = {d: [r for r in records if r["output"].startswith(str(d))]
                for d in (scons_dir, make_dir)}
    assert len(by_build[scons_dir]) == 2 * 5 and len(by_build[make_dir]) == 2 * 4, records
    assert all(r["exit"] == 0 and r["weight"] == 1 for r in records)
    # The witness saw linkers running, never two at once.
    assert watch.samples > 50
    assert watch.most == 1, f"{watch.most} linkers ran at once on a 1-slot pool"
    # The history agrees: no two links' [start, end] overlap. A record's time is taken a
    # moment after its link ended (the bookkeeping), hence 10 ms of slack; links here last
    # 20 ms and more, so a real overlap would stand out.
    spans = sorted((r["time"] - r["run_s"] - r["tail_s"], r["time"]) for r in records)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end - 0.01, spans
    # the two builds did wait (in the rebuild, whose links start no Python)
    assert sum(r["wait_s"] > 0.001 for r in records[len(first):]) >= 2
