"""What this machine can give to links: usable cores, usable memory, and the default N.

Every file is read under a ``root`` directory ("/" on a real machine, a fake tree in
tests). Nothing here raises on a strange machine: a missing or unreadable file means
"no limit from there". The files read and the formula are in docs/capacity.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "SLOT_MIN_MEMORY",
    "Machine",
    "affinity_cores",
    "default_slots",
    "memory_per_slot",
    "mounts",
    "read_machine",
]

SLOT_MIN_MEMORY = 1 << 30
"""Memory one slot stands for at least: 1 GiB."""

# cgroup v1 says "no memory limit" with a huge page-aligned number (9223372036854771712
# with 4 KiB pages, a little less with 64 KiB pages); anything this big is no limit.
_V1_NO_LIMIT = 1 << 62


@dataclass(frozen=True)
class Machine:
    """The usable capacity of a machine, and where each figure came from (immutable)."""

    cores: float  # usable cores: the affinity mask, lowered by a cgroup CPU quota
    affinity_cores: int  # CPUs in this process's affinity mask
    cpu_quota_cores: float | None  # the tightest cgroup CPU quota, in cores
    mem_available: int | None  # MemAvailable from /proc/meminfo, bytes
    mem_limit: int | None  # the tightest cgroup memory limit, bytes
    memory: int | None  # usable memory: the smaller of the two above that are known
    sources: tuple[str, ...] = ()  # one line per figure, for `linkpool doctor`

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))


def read_machine(root: str = "/", affinity: int | None = None) -> Machine:
    """Read the usable cores and memory of the machine under ``root``.

    ``affinity`` is the number of CPUs this process may run on; by default
    ``len(os.sched_getaffinity(0))``.
    """
    if affinity is None:
        affinity = affinity_cores()
        sources = [f"affinity: {affinity} CPUs (sched_getaffinity)"]
    else:
        sources = [f"affinity: {affinity} CPUs (given)"]
    cpu, limit = _cgroup_limits(root)
    available = _mem_available(root)
    sources.append(cpu[1] if cpu else "no cgroup CPU quota")
    sources.append(available[1] if available else "no MemAvailable in /proc/meminfo")
    sources.append(limit[1] if limit else "no cgroup memory limit")

    quota = cpu[0] if cpu else None
    known = [figure[0] for figure in (available, limit) if figure is not None]
    return Machine(
        cores=float(affinity) if quota is None else min(float(affinity), quota),
        affinity_cores=affinity,
        cpu_quota_cores=quota,
        mem_available=available[0] if available else None,
        mem_limit=limit[0] if limit else None,
        memory=min(known) if known else None,
        sources=tuple(sources),
    )


def default_slots(machine: Machine) -> int:
    """The default number of slots N: a slot is one core and at least 1 GiB of memory.

    ``N = max(1, min(floor(cores), memory // SLOT_MIN_MEMORY))``; when the memory is
    unknown, only the cores count.
    """
    by_cores = int(machine.cores)  # floor: cores is never negative
    if machine.memory is None:
        return max(1, by_cores)
    return max(1, min(by_cores, machine.memory // SLOT_MIN_MEMORY))


def memory_per_slot(machine: Machine, slots: int) -> int | None:
    """The memory, in bytes, that one of ``slots`` slots stands for (None if unknown)."""
    return None if machine.memory is None else machine.memory // slots


def affinity_cores() -> int:
    """The CPUs this process may run on (its affinity mask; cpu_count where unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux, or a sandbox that refuses the call
        return os.cpu_count() or 1


def _read(root: str, path: str) -> str | None:
    """The stripped text of ``path`` under ``root``, or None if it cannot be read."""
    try:
        with open(os.path.join(root, path.lstrip("/")), encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except (OSError, ValueError):  # ValueError: a NUL byte in a path from a weird file
        return None


def _int(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:  # "max", "", garbage
        return None


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def _mem_available(root: str) -> tuple[int, str] | None:
    for line in (_read(root, "/proc/meminfo") or "").splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()  # "24394968 kB"
        if key == "MemAvailable" and fields and fields[0].isdigit():
            n = int(fields[0]) * (1024 if fields[1:] == ["kB"] else 1)
            return n, f"/proc/meminfo MemAvailable={_gib(n)}"
    return None


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    for escaped, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(escaped, char)
    return field


def mounts(root: str = "/") -> list[tuple[str, str, str, list[str]]]:
    """(fstype, mount root, mount point, super options) of every mount this process sees,
    in /proc/self/mountinfo's order (a later mount on the same point hides an earlier one).
    The one mountinfo reader: the pool's waiting room asks it for a filesystem's type."""
    found = []
    for line in (_read(root, "/proc/self/mountinfo") or "").splitlines():
        # "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw": optional
        # fields may sit between the options and " - ", so the tail is found by that mark
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if sep and len(fields) >= 5 and len(tail) >= 3:
            found.append((tail[0], _unescape(fields[3]), _unescape(fields[4]), tail[2].split(",")))
    return found


def _cgroup_mounts(root: str) -> list[tuple[str, str, str, list[str]]]:
    """(fstype, mount root, mount point, super options) of every cgroup mount."""
    return [m for m in mounts(root) if m[0] in ("cgroup", "cgroup2")]


def _relative(path: str, mount_root: str) -> list[str] | None:
    """``path`` as components below ``mount_root``, or None if it is not below it."""
    if mount_root != "/" and path != mount_root and not path.startswith(mount_root + "/"):
        return None
    parts = [p for p in path[len(mount_root) :].split("/") if p]
    return None if ".." in parts else parts


def _cgroup_dirs(root: str) -> list[tuple[str, str]]:
    """(kind, directory) for this process's cgroup, then each ancestor up to the mount.

    ``kind`` is "v2" (the unified hierarchy), or "cpu" or "memory" (v1 controllers).
    """
    mounts = _cgroup_mounts(root)
    dirs = []
    for line in (_read(root, "/proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)  # "4:memory:/user.slice", "0::/user.slice"
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            kinds = ["v2"]
        else:
            kinds = [c for c in ("cpu", "memory") if c in controllers.split(",")]
        for kind in kinds:
            found = [
                (mount_root, point)
                for fstype, mount_root, point, options in mounts
                if (kind == "v2" and fstype == "cgroup2")
                or (kind != "v2" and fstype == "cgroup" and kind in options)
            ]
            if not found:
                continue
            # A hierarchy may be mounted twice: prefer a mount that shows our cgroup.
            found.sort(key=lambda mount: _relative(path, mount[0]) is None)
            mount_root, point = found[0]
            # In a container the mount root is often our own cgroup ("/docker/abc"); with
            # a cgroup namespace the path may not be below it at all. Either way the
            # mount point is then the innermost directory we can see.
            below = _relative(path, mount_root) or []
            dirs += [(kind, os.path.join(point, *below[:i])) for i in range(len(below), -1, -1)]
    return dirs


def _quota(quota: str | None, period: str | None) -> float | None:
    q, p = _int(quota), _int(period)  # v1 quota -1 or v2 "max": no quota
    return q / p if q is not None and p is not None and q > 0 and p > 0 else None


def _cgroup_limits(root: str) -> tuple[tuple[float, str] | None, tuple[int, str] | None]:
    """The tightest cgroup CPU quota (cores) and memory limit (bytes), with sources."""
    cpus: list[tuple[float, str]] = []
    mems: list[tuple[int, str]] = []
    for kind, d in _cgroup_dirs(root):
        if kind == "v2":
            cpu_max = _read(root, f"{d}/cpu.max") or ""  # "max 100000", "150000 100000"
            quota, _, period = cpu_max.partition(" ")
            cores = _quota(quota, period)
            if cores is not None:
                cpus.append((cores, f"cgroup v2 cpu.max={cpu_max} at {d}"))
            limit = _int(_read(root, f"{d}/memory.max"))  # "max": no limit
            if limit is not None and limit > 0:
                mems.append((limit, f"cgroup v2 memory.max={limit} ({_gib(limit)}) at {d}"))
        elif kind == "cpu":
            quota = _read(root, f"{d}/cpu.cfs_quota_us") or ""
            period = _read(root, f"{d}/cpu.cfs_period_us") or ""
            cores = _quota(quota, period)
            if cores is not None:
                cpus.append((cores, f"cgroup v1 cpu.cfs_quota_us={quota}/{period} at {d}"))
        else:
            limit = _int(_read(root, f"{d}/memory.limit_in_bytes"))
            if limit is not None and 0 < limit < _V1_NO_LIMIT:
                source = f"cgroup v1 memory.limit_in_bytes={limit} ({_gib(limit)}) at {d}"
                mems.append((limit, source))
    # The tightest wins; on a tie the innermost, which was found first.
    return (
        min(cpus, key=lambda c: c[0], default=None),
        min(mems, key=lambda m: m[0], default=None),
    )
