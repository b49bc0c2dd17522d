"""The README's demo runs, and the code base stays ruff-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_links_every_program_within_the_pool(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo" / "demo.py"), "--work", str(tmp_path),
         "--builds", "2", "--links", "3", "--slots", "2"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "6 links finished" in r.stdout
    assert "at most 2 of 2 slots were ever in use at once" in r.stdout
    assert "HOLDERS" in r.stdout and "WAITING" in r.stdout
    import json

    trace = json.loads((tmp_path / "trace.json").read_text())
    runs = [e for e in trace["traceEvents"] if e.get("ph") == "X"]
    assert len({e["args"].get("output") for e in runs if "output" in e.get("args", {})}) == 6
    for b in range(2):
        for k in range(3):
            assert f"build {b} program {k}: {4 * k}" in r.stdout


def test_ruff_is_clean() -> None:
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_is_clean() -> None:
    r = subprocess.run([sys.executable, "-m", "mypy", "core", "integrations",
                        "--ignore-missing-imports"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
