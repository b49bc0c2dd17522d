"""Small shared pieces of the pool benchmark: statistics, markdown, the machine, targets."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from linkpool.waiting import fs_type


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(
            len(values),
            percentile(values, 50),
            percentile(values, 90),
            percentile(values, 99),
            max(values) if values else float("nan"),
        )


def num(x: float, digits: int = 2) -> str:
    """A figure for a table: fixed digits, or n/a."""
    return "n/a" if x != x else f"{x:.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table; the first column is left-aligned, the others right-aligned."""
    align = [":---"] + ["---:"] * (len(headers) - 1)
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(align) + " |",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Target:
    """One acceptance figure: what, the goal, the measured value, met or not."""

    what: str
    goal: str
    value: str
    met: bool


@dataclass
class Section:
    """What one benchmark section found: markdown tables and notes, raw data, targets."""

    title: str
    intro: str
    blocks: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    def markdown(self) -> str:
        return "\n\n".join([f"### {self.title}", self.intro, *self.blocks])

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "data": self.data,
            "targets": [asdict(t) for t in self.targets],
        }


def targets_table(sections: Sequence[Section]) -> str:
    rows = [
        (t.what, t.goal, t.value, "met" if t.met else "**missed**")
        for s in sections
        for t in s.targets
    ]
    return table(["target", "goal", "measured", ""], rows)


def revision() -> str:
    """The commit of this tree, and whether the pool's code differs from it (read-only git)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "core")
    return f"{commit} (core/ modified)" if dirty else commit


def machine(workdir: str) -> dict[str, Any]:
    import linkpool

    return {
        "revision": revision(),
        "linkpool": os.path.dirname(os.path.realpath(linkpool.__file__)),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": len(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_path": sys.executable,
        "workdir": workdir,
        "workdir_fs": fs_type(workdir) or "?",
    }
