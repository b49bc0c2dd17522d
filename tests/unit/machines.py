"""Fake machines for the unit tests of capacity and policy: /proc and cgroup trees written
under a temporary directory, the mountinfo lines of the common cgroup layouts."""

from __future__ import annotations

from pathlib import Path

GiB = 1 << 30
NO_LIMIT_V1 = "9223372036854771712"


def mount(point: str, fstype: str = "cgroup2", options: str = "rw", root: str = "/") -> str:
    """One /proc/self/mountinfo line for a cgroup mount."""
    return f"35 31 0:32 {root} {point} rw,nosuid,relatime shared:9 - {fstype} {fstype} {options}"


V2 = [mount("/sys/fs/cgroup")]
# Like this machine: v1 controllers each on their own mount, cgroup2 with no controllers.
HYBRID = [
    mount("/sys/fs/cgroup/cpu", "cgroup", "rw,cpu"),
    mount("/sys/fs/cgroup/cpuacct", "cgroup", "rw,cpuacct"),
    mount("/sys/fs/cgroup/memory", "cgroup", "rw,memory"),
    mount("/sys/fs/cgroup/systemd", "cgroup", "rw,name=systemd"),
    mount("/sys/fs/cgroup/unified"),
]
HYBRID_CGROUP = "9:name=systemd:/\n4:memory:/process_api/ae64\n2:cpuacct:/\n1:cpu:/\n0::/\n"
# The common distribution layout: "cpu,cpuacct" mounted together (a "cpu" symlink beside).
V1 = [
    mount("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"),
    mount("/sys/fs/cgroup/memory", "cgroup", "rw,memory"),
]
V1_CGROUP = "5:memory:/build/x\n3:cpu,cpuacct:/build/x\n"


def make_tree(
    root: Path,
    cgroup: str | None = "0::/\n",
    mounts: list[str] | None = None,
    mem_gib: float | None = 24,
    files: dict[str, str] | None = None,
) -> str:
    """Write a fake machine under ``root``; None leaves a /proc file out."""
    proc = root / "proc"
    (proc / "self").mkdir(parents=True)
    if cgroup is not None:
        (proc / "self" / "cgroup").write_text(cgroup)
    if mounts is not None:
        lines = ["22 27 0:21 / /proc rw,relatime - proc proc rw", *mounts]
        (proc / "self" / "mountinfo").write_text("\n".join(lines) + "\n")
    if mem_gib is not None:
        kb = int(mem_gib * GiB) // 1024
        (proc / "meminfo").write_text(f"MemTotal: {kb + 1024} kB\nMemAvailable: {kb} kB\n")
    for path, text in (files or {}).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n")
    return str(root)
