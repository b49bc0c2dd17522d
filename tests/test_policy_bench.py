"""The policy benchmark's command works end to end (a tiny run: bfd only, one round).

Not a timed test: it checks that the harness drives real ninja builds under every policy
and writes its table, JSON and chart; the figures come from `bash scripts/bench.sh policy`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_policy_bench_runs_every_policy(tmp_path: Path) -> None:
    if shutil.which("ninja", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}") is None:
        pytest.skip("ninja not installed (pip install -e .[test])")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "LINKPOOL_DIR"}
    r = subprocess.run([sys.executable, "benchmarks/policy_bench.py", "--linkers", "bfd",
                        "--sizes", "bfd=8", "--rounds", "1", "--lone-rounds", "1",
                        "--no-cap", "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "policy.json").read_text())
    policies = {(row["scenario"], row["policy"]) for row in data["rows"]}
    assert policies == {(s, p) for s in ("1 x 4", "2 x 3")
                        for p in ("unthrottled", "ninja pool 1", "ninja pool 2", "linkpool")}
    assert all(row["failed"] == 0 for row in data["rows"])
    assert all(run["codes"] == [0] * run["builds"] for run in data["runs"])
    assert len(data["runs"]) == 8 and all(len(run["links"]) == run["builds"] *
                                          run["links_per_build"] for run in data["runs"])
    [lone] = data["lone"]
    assert lone["linker"] == "bfd" and lone["bare"] > 0 and lone["linkpool"] > 0
    table = (out / "policy.md").read_text()
    assert "| bfd | 2 x 3 | **linkpool** |" in table and "lone link" in table
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (out / "policy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
