"""Capacity: fake machine trees under tmp_path for each shape, plus the real machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from linkpool.capacity import (
    SLOT_MIN_MEMORY,
    Machine,
    default_slots,
    memory_per_slot,
    mounts,
    read_machine,
)

from machines import HYBRID, HYBRID_CGROUP, NO_LIMIT_V1, V1, V1_CGROUP, V2, GiB, make_tree, mount


def shape(name: str, affinity: int, expected: tuple, **tree: object) -> object:
    """A machine shape: ``expected`` is (cores, quota, limit GiB, memory GiB, N)."""
    return pytest.param(affinity, tree, expected, id=name)


SHAPES = [
    shape("plain 2 cores 24 GiB", 2, (2, None, None, 24, 2), mounts=V2),
    shape("16 cores 64 GiB", 16, (16, None, None, 64, 16), mounts=V2, mem_gib=64),
    shape("64 cores 256 GiB", 64, (64, None, None, 256, 64), mounts=V2, mem_gib=256),
    shape("3 GiB on 16 cores", 16, (16, None, None, 3, 3), mounts=V2, mem_gib=3),
    shape("under 1 GiB still one slot", 4, (4, None, None, 0.5, 1), mounts=V2, mem_gib=0.5),
    shape(
        "v2 cpu.max 1.5 cores on 8",
        8,
        (1.5, 1.5, None, 24, 1),
        cgroup="0::/user.slice/build.scope\n",
        mounts=V2,
        files={"/sys/fs/cgroup/user.slice/build.scope/cpu.max": "150000 100000"},
    ),
    shape(
        "v2 cpu.max max is no quota",
        8,
        (8, None, None, 24, 8),
        cgroup="0::/a\n",
        mounts=V2,
        files={"/sys/fs/cgroup/a/cpu.max": "max 100000"},
    ),
    shape(
        "v2 memory.max in an ancestor",
        16,
        (16, None, 4, 4, 4),
        cgroup="0::/build.slice/job.scope\n",
        mounts=V2,
        mem_gib=32,
        files={
            "/sys/fs/cgroup/build.slice/job.scope/memory.max": "max",
            "/sys/fs/cgroup/build.slice/memory.max": str(4 * GiB),
        },
    ),
    shape(
        "v2 tightest of child and parent",
        16,
        (2, 2, 5, 5, 2),
        cgroup="0::/p/c\n",
        mounts=V2,
        files={
            "/sys/fs/cgroup/p/cpu.max": "200000 100000",
            "/sys/fs/cgroup/p/c/cpu.max": "600000 100000",
            "/sys/fs/cgroup/p/memory.max": str(10 * GiB),
            "/sys/fs/cgroup/p/c/memory.max": str(5 * GiB),
        },
    ),
    shape(
        "v1 cfs quota, huge memory limit is none",
        8,
        (2.5, 2.5, None, 24, 2),
        cgroup=V1_CGROUP,
        mounts=V1,
        files={
            "/sys/fs/cgroup/cpu,cpuacct/build/x/cpu.cfs_quota_us": "250000",
            "/sys/fs/cgroup/cpu,cpuacct/build/x/cpu.cfs_period_us": "100000",
            "/sys/fs/cgroup/memory/build/x/memory.limit_in_bytes": NO_LIMIT_V1,
            "/sys/fs/cgroup/memory/build/memory.limit_in_bytes": NO_LIMIT_V1,
        },
    ),
    shape(
        "v1 quota -1, memory limit in an ancestor",
        8,
        (8, None, 6, 6, 6),
        cgroup=V1_CGROUP,
        mounts=V1,
        files={
            "/sys/fs/cgroup/cpu,cpuacct/build/x/cpu.cfs_quota_us": "-1",
            "/sys/fs/cgroup/cpu,cpuacct/build/x/cpu.cfs_period_us": "100000",
            "/sys/fs/cgroup/memory/build/x/memory.limit_in_bytes": NO_LIMIT_V1,
            "/sys/fs/cgroup/memory/build/memory.limit_in_bytes": str(6 * GiB),
        },
    ),
    shape(
        "hybrid like this machine",
        2,
        (2, None, None, 24, 2),
        cgroup=HYBRID_CGROUP,
        mounts=HYBRID,
        files={
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1",
            "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000",
            "/sys/fs/cgroup/memory/process_api/ae64/memory.limit_in_bytes": NO_LIMIT_V1,
            "/sys/fs/cgroup/memory/memory.limit_in_bytes": NO_LIMIT_V1,
            "/sys/fs/cgroup/unified/cgroup.controllers": "",
        },
    ),
    shape(
        "hybrid with a v1 memory limit",
        4,
        (4, None, 3, 3, 3),
        cgroup=HYBRID_CGROUP,
        mounts=HYBRID,
        files={"/sys/fs/cgroup/memory/process_api/ae64/memory.limit_in_bytes": str(3 * GiB)},
    ),
    shape(
        "container v2: mount root is our cgroup",
        8,
        (3, 3, 6, 6, 3),
        cgroup="0::/docker/abc\n",
        mounts=[mount("/sys/fs/cgroup", root="/docker/abc")],
        files={
            "/sys/fs/cgroup/cpu.max": "300000 100000",
            "/sys/fs/cgroup/memory.max": str(6 * GiB),
        },
    ),
    shape(
        "container v1: mount root is our cgroup",
        8,
        (4, 4, 2, 2, 2),
        cgroup="5:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n",
        mounts=[
            mount("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct", "/docker/abc"),
            mount("/sys/fs/cgroup/memory", "cgroup", "rw,memory", "/docker/abc"),
        ],
        files={
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "400000",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes": str(2 * GiB),
        },
    ),
    shape(
        "cgroup namespace: path outside the mount",
        8,
        (1, 1, None, 24, 1),
        cgroup="0::/../../other\n",
        mounts=V2,
        files={"/sys/fs/cgroup/cpu.max": "100000 100000"},
    ),
    shape(
        "escaped space in the mount point",
        8,
        (2, 2, None, 24, 2),
        cgroup="0::/a\n",
        mounts=[mount("/cg\\040roups")],
        files={"/cg roups/a/cpu.max": "200000 100000"},
    ),
    shape(
        "missing /proc files",
        6,
        (6, None, None, None, 6),
        cgroup=None,
        mounts=None,
        mem_gib=None,
    ),
    shape(
        "cgroup files but no mountinfo",
        6,
        (6, None, None, 24, 6),
        mounts=None,
        files={"/sys/fs/cgroup/cpu.max": "100000 100000"},
    ),
    shape(
        "garbage everywhere",
        4,
        (4, None, None, 24, 4),
        cgroup="nonsense\n0::/a\n::\n",
        mounts=["garbage", "1 2 3 - cgroup2", mount("/sys/fs/cgroup")],
        files={
            "/sys/fs/cgroup/a/cpu.max": "lots 0",
            "/sys/fs/cgroup/cpu.max": "100000 0",
            "/sys/fs/cgroup/a/memory.max": "-5",
            "/sys/fs/cgroup/memory.max": "\x00",
        },
    ),
]


@pytest.mark.parametrize(("affinity", "tree", "expected"), SHAPES)
def test_shapes(tmp_path: Path, affinity: int, tree: dict, expected: tuple) -> None:
    cores, quota, limit, memory, slots = expected
    machine = read_machine(make_tree(tmp_path, **tree), affinity=affinity)

    assert machine.affinity_cores == affinity
    assert machine.cores == cores
    assert machine.cpu_quota_cores == quota
    assert machine.mem_limit == (None if limit is None else int(limit * GiB))
    assert machine.memory == (None if memory is None else int(memory * GiB))
    assert default_slots(machine) == slots
    assert len(machine.sources) == 4


def test_sources_say_where_figures_came_from(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        cgroup=V1_CGROUP,
        mounts=V1,
        files={
            "/sys/fs/cgroup/cpu,cpuacct/build/x/cpu.cfs_quota_us": "150000",
            "/sys/fs/cgroup/cpu,cpuacct/build/x/cpu.cfs_period_us": "100000",
            "/sys/fs/cgroup/memory/build/memory.limit_in_bytes": str(2 * GiB),
        },
    )
    assert read_machine(root, affinity=4).sources == (
        "affinity: 4 CPUs (given)",
        "cgroup v1 cpu.cfs_quota_us=150000/100000 at /sys/fs/cgroup/cpu,cpuacct/build/x",
        "/proc/meminfo MemAvailable=24.0 GiB",
        f"cgroup v1 memory.limit_in_bytes={2 * GiB} (2.0 GiB) at /sys/fs/cgroup/memory/build",
    )
    assert read_machine(make_tree(tmp_path / "empty", mem_gib=None)).sources[1:] == (
        "no cgroup CPU quota",
        "no MemAvailable in /proc/meminfo",
        "no cgroup memory limit",
    )


def test_real_machine() -> None:
    machine = read_machine()
    affinity = len(os.sched_getaffinity(0))
    assert machine.affinity_cores == affinity
    assert 0 < machine.cores <= affinity
    assert machine.cores >= 1 or machine.cpu_quota_cores is not None
    assert machine.memory is not None and machine.memory > 0
    assert 1 <= default_slots(machine) <= affinity
    assert machine.sources[0] == f"affinity: {affinity} CPUs (sched_getaffinity)"


@pytest.mark.parametrize(
    ("cores", "memory", "slots"),
    [
        (2.0, 24 * GiB, 2),
        (1.5, 24 * GiB, 1),
        (0.5, 24 * GiB, 1),
        (16.0, 3 * GiB, 3),
        (16.0, 3 * GiB - 1, 2),
        (16.0, SLOT_MIN_MEMORY // 2, 1),
        (12.9, None, 12),
    ],
)
def test_default_slots(cores: float, memory: int | None, slots: int) -> None:
    machine = Machine(cores, int(cores), None, memory, None, memory)
    assert default_slots(machine) == slots


def test_memory_per_slot() -> None:
    assert memory_per_slot(Machine(2.0, 2, None, 24 * GiB, None, 24 * GiB), 2) == 12 * GiB
    assert memory_per_slot(Machine(2.0, 2, None, None, None, None), 2) is None


def test_machine_is_an_immutable_value() -> None:
    machine = Machine(2.0, 2, None, 24 * GiB, None, 24 * GiB, ("x",))
    assert machine == Machine(2.0, 2, None, 24 * GiB, None, 24 * GiB, ("x",))
    assert machine != Machine(1.5, 2, 1.5, 24 * GiB, None, 24 * GiB, ("x",))
    assert hash(machine) == hash(Machine(2.0, 2, None, 24 * GiB, None, 24 * GiB, ("x",)))
    assert repr(machine).startswith("Machine(cores=2.0, affinity_cores=2, cpu_quota_cores=None")
    with pytest.raises(AttributeError):
        machine.cores = 8.0


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
