"""The default policy (linkpool.policy, the cost and threads plugins) on machine shapes.

Each machine is a fake tree read through ``read_machine(root)`` (the interface the
tests feed), then links of each linker flavour are weighed and admitted by the policy as
the engine does: the least weight always, more when nobody waits behind (docs/policy.md).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from linkpool.capacity import default_slots, read_machine
from linkpool.linkers import Bfd, Gold, Lld, Mold
from linkpool.plugins.cost import MEMORY_BUDGET
from linkpool.policy import (
    extra_slots,
    plan,
    threads_for,
    threads_planned,
    weight_range,
)

from machines import V1, V2, make_tree, mount

GiB = 1 << 30
MB = 1 << 20

# (name, affinity, tree): 2, 16 and 64 cores; small and large memory; cgroup limits.
MACHINES = [
    ("2 cores, 24 GiB", 2, {"mounts": V2}),
    ("2 cores, 1.5 GiB", 2, {"mounts": V2, "mem_gib": 1.5}),
    ("16 cores, 64 GiB", 16, {"mounts": V2, "mem_gib": 64}),
    ("16 cores, 6 GiB", 16, {"mounts": V2, "mem_gib": 6}),
    ("64 cores, 256 GiB", 64, {"mounts": V2, "mem_gib": 256}),
    ("64 cores, 16 GiB", 64, {"mounts": V2, "mem_gib": 16}),
    ("16 cores, cgroup v2 cpu.max 4 cores, memory.max 8 GiB", 16, {
        "mounts": V2, "mem_gib": 64,
        "files": {"/sys/fs/cgroup/cpu.max": "400000 100000",
                  "/sys/fs/cgroup/memory.max": str(8 * GiB)}}),
    ("64 cores, cgroup v1 memory limit 3 GiB", 64, {
        "mounts": V1, "cgroup": "5:memory:/build/x\n3:cpu,cpuacct:/build/x\n", "mem_gib": 256,
        "files": {"/sys/fs/cgroup/memory/build/x/memory.limit_in_bytes": str(3 * GiB)}}),
]
# What one big link of each flavour is expected to add (the estimates of docs/estimate.md
# for ~1 GB of inputs are 0.1-0.4 GB) and a heavy one.
LINKS = [(Mold, 300 * MB), (Lld, 200 * MB), (Gold, 150 * MB), (Bfd, 400 * MB),
         (Mold, 3 * GiB), (Bfd, 5 * GiB)]


def machine_params() -> list[object]:
    return [pytest.param(affinity, tree, id=name) for name, affinity, tree in MACHINES]


def admit(linker: type, memory: int, count: int, slots: int, cores: float,
          budget: int, stats: dict | None = None) -> list[tuple[int, int]]:
    """``count`` identical links arriving together, admitted greedily in order as the
    engine would (a link runs when its least weight is free; the one nobody waits behind
    takes the free slots up to its most). With ``stats``, the links follow the plan a
    summary holding them gives (``linkpool.policy.plan``); without, the built-in rule.
    Returns (held, threads) of those running at once."""
    wanted = linker.threads_wanted([], max(1, int(cores)))
    low, high = weight_range(wanted, memory, slots, cores, budget)
    planned = plan(stats, wanted, low, slots, cores) if stats is not None else None
    if planned is not None:
        high = planned["high"]
    running: list[tuple[int, int]] = []
    free = slots
    for i in range(count):
        if low > free:
            break
        held = low
        if i == count - 1:
            held += min(free - low, extra_slots(low, high))
        free -= held
        threads = min(threads_planned(planned, held, slots, cores),
                      linker.max_threads(max(1, int(cores))))
        running.append((held, threads))
    return running


@pytest.mark.parametrize(("affinity", "tree"), machine_params())
@pytest.mark.parametrize(("linker", "memory"), LINKS, ids=lambda v: getattr(v, "id", None))
def test_shapes_keep_cores_and_memory_in_bounds(tmp_path: Path, affinity: int, tree: dict,
                                               linker: type, memory: int) -> None:
    machine = read_machine(make_tree(tmp_path, **tree), affinity=affinity)
    slots = default_slots(machine)
    budget = int(MEMORY_BUDGET * (machine.memory or 0))
    for count in (1, 2, 3, slots, 2 * slots + 1):
        running = admit(linker, memory, count, slots, machine.cores, budget)
        assert running, "the first link is always admitted"
        assert sum(held for held, _ in running) <= slots
        # total linker threads never exceed the usable cores
        assert sum(t for _, t in running) <= max(1, machine.cores)
        # the memory the running links add stays within the budget, unless one link
        # alone needs more than all of it (it still runs, alone)
        if len(running) > 1:
            assert len(running) * memory <= budget
        # threads and weight agree: T threads hold the slots of at least T cores
        for held, threads in running:
            assert threads <= max(1, math.floor(held * machine.cores / slots))


# Summaries a machine may have learnt, for any T and share k: lone links fastest at T
# and at T/2 alike (take fewer threads), or at T; links that met cheapest at twice their
# share (oversubscribe), or at their share.
def learnt(wanted: int, k: int, halve: bool, double: bool) -> dict:
    stats: dict = {}
    for t in range(1, max(wanted, 2 * k) + 1):
        stats[str(t)] = {"an": 5, "awall": 1.0 if halve or t == wanted else 2.0,
                         "sn": 5, "scpu": 2.0 if t <= k else 1.0 if double else 3.0}
    return stats


@pytest.mark.parametrize(("affinity", "tree"), machine_params())
@pytest.mark.parametrize(("linker", "memory"), LINKS, ids=lambda v: getattr(v, "id", None))
@pytest.mark.parametrize(("halve", "double"), [(False, False), (True, False), (False, True),
                                                (True, True)])
def test_learnt_plans_stay_in_bounds(tmp_path: Path, affinity: int, tree: dict,
                                     linker: type, memory: int, halve: bool,
                                     double: bool) -> None:
    """Whatever the summary says: slots within N, memory within the budget (unless one
    link alone needs more), threads at most twice the cores of the slots held and twice
    the machine's in all, and never more than the linker scales to."""
    machine = read_machine(make_tree(tmp_path, **tree), affinity=affinity)
    slots, cores = default_slots(machine), machine.cores
    budget = int(MEMORY_BUDGET * (machine.memory or 0))
    wanted = linker.threads_wanted([], max(1, int(cores)))
    low, _ = weight_range(wanted, memory, slots, cores, budget)
    stats = learnt(wanted, threads_for(low, slots, cores), halve, double)
    for count in (1, 2, 3, slots, 2 * slots + 1):
        running = admit(linker, memory, count, slots, cores, budget, stats)
        assert running
        assert sum(held for held, _ in running) <= slots
        assert sum(t for _, t in running) <= max(1, cores) * 2
        if len(running) > 1:
            assert len(running) * memory <= budget
        for held, threads in running:
            assert 1 <= threads <= linker.max_threads(max(1, int(cores)))
            assert threads <= max(1, math.floor(held * cores / slots)) * 2


@pytest.mark.parametrize(("affinity", "tree"), machine_params())
def test_a_lone_link_gets_every_core(tmp_path: Path, affinity: int, tree: dict) -> None:
    machine = read_machine(make_tree(tmp_path, **tree), affinity=affinity)
    slots, cores = default_slots(machine), machine.cores
    budget = int(MEMORY_BUDGET * (machine.memory or 0))
    for linker in (Mold, Lld):
        [(held, threads)] = admit(linker, 100 * MB, 1, slots, cores, budget)
        assert threads == min(linker.max_threads(int(cores)), max(1, int(cores)))
        assert held == slots or (linker is Mold and cores > 32)  # mold stops at 32
    for linker in (Gold, Bfd):  # one thread by default: the command stays as it is
        [(held, threads)] = admit(linker, 100 * MB, 1, slots, cores, budget)
        assert (held, threads) == (1, 1)


def test_links_that_meet_run_one_core_each_on_two_cores() -> None:
    """The measured case (docs/policy.md): four lld links on 2 cores and 24 GiB run two at
    a time with one thread each; mold too; bfd and gold two at a time."""
    budget = int(0.75 * 24 * GiB)
    for linker in (Lld, Mold, Gold, Bfd):
        assert admit(linker, 300 * MB, 4, 2, 2.0, budget) == [(1, 1), (1, 1)]


def test_links_that_meet_follow_what_this_machine_measured() -> None:
    """The same four links with a summary: lld's one-thread links cost more CPU here
    (benchmarks/lone_busy.py), mold's less; on two cores and two slots either runs two at
    a time with two threads each, as ninja's pool of depth 2 does (a link's most is its
    least, one slot: r changes nothing), and a lone link holds one slot and runs two
    threads (a second link then runs beside it)."""
    budget = int(0.75 * 24 * GiB)
    lld = {"1": {"an": 3, "awall": 2.6, "sn": 3, "scpu": 2.16},
           "2": {"an": 3, "awall": 1.7, "sn": 3, "scpu": 1.71}}
    mold = {"1": {"an": 3, "awall": 1.3, "sn": 3, "scpu": 1.25},
            "2": {"an": 3, "awall": 0.7, "sn": 3, "scpu": 1.32}}
    assert admit(Lld, 300 * MB, 4, 2, 2.0, budget, lld) == [(1, 2), (1, 2)]
    assert admit(Lld, 300 * MB, 1, 2, 2.0, budget, lld) == [(1, 2)]
    assert admit(Mold, 300 * MB, 4, 2, 2.0, budget, mold) == [(1, 2), (1, 2)]
    assert admit(Mold, 300 * MB, 1, 2, 2.0, budget, mold) == [(1, 2)]
    assert admit(Bfd, 300 * MB, 4, 2, 2.0, budget, lld) == [(1, 1), (1, 1)]  # nothing to learn


def test_memory_bounds_concurrency_under_a_cgroup_limit(tmp_path: Path) -> None:
    """The capped benchmark's shape: 2 cores, a 0.94 GB cgroup v1 limit, bfd links adding
    ~300 MB each: at most two run at once (three would not fit the 0.7 GB budget)."""
    root = make_tree(tmp_path, cgroup="4:memory:/cap\n", mounts=[
        mount("/sys/fs/cgroup/memory", "cgroup", "rw,memory")], mem_gib=24,
        files={"/sys/fs/cgroup/memory/cap/memory.limit_in_bytes": str(940 * MB)})
    machine = read_machine(root, affinity=2)
    assert machine.memory == 940 * MB
    budget = int(MEMORY_BUDGET * machine.memory)
    assert weight_range(1, 300 * MB, 2, 2.0, budget) == (1, 1)
    assert weight_range(1, 400 * MB, 2, 2.0, budget) == (2, 2)  # more than half: alone


@pytest.mark.parametrize(
    ("threads", "memory", "slots", "cores", "budget", "expected"),
    [
        (2, 100 * MB, 2, 2.0, 18 * GiB, (1, 2)),  # lld/mold on this machine
        (1, 100 * MB, 2, 2.0, 18 * GiB, (1, 1)),  # bfd, gold
        (64, 1 * GiB, 64, 64.0, 192 * GiB, (1, 64)),
        (32, 1 * GiB, 64, 64.0, 192 * GiB, (1, 32)),  # mold scales to 32
        (1, 10 * GiB, 64, 64.0, 192 * GiB, (4, 4)),  # memory-heavy single-threaded
        (64, 10 * GiB, 16, 64.0, 12 * GiB, (14, 16)),  # memory binds first
        (8, 100 * GiB, 16, 64.0, 12 * GiB, (16, 16)),  # more than the budget: whole pool
        (4, 100 * MB, 1, 1.5, 1 * GiB, (1, 1)),
        (4, 100 * MB, 4, 4.0, None, (1, 4)),  # memory unknown: only threads count
        (4, 0, 4, 4.0, GiB, (1, 4)),
    ],
)
def test_weight_range(threads: int, memory: int, slots: int, cores: float,
                      budget: int | None, expected: tuple[int, int]) -> None:
    assert weight_range(threads, memory, slots, cores, budget) == expected


@pytest.mark.parametrize(
    ("low", "high", "slots", "cores", "extra"),
    [
        (1, 2, 2, 2.0, 1),  # the whole machine
        (1, 16, 16, 16.0, 15),
        (2, 4, 4, 16.0, 2),  # N < cores: slots of 4 cores each
        (1, 1, 2, 2.0, 0),  # nothing to grow into
        (3, 3, 4, 4.0, 0),
    ],
)
def test_extra_slots_do_not_depend_on_the_load(low: int, high: int, slots: int,
                                               cores: float, extra: int) -> None:
    """Up to ``high`` when nobody waits (the pool asks only then), whatever the machine's
    shape or load: a lone link is the build's critical path (docs/policy.md). (Shapes are
    kept in the table: the answer must not depend on them either.)"""
    del slots, cores
    assert extra_slots(low, high) == extra


@pytest.mark.parametrize(
    ("weight", "slots", "cores", "threads"),
    [
        (1, 2, 2.0, 1),
        (2, 2, 2.0, 2),
        (1, 16, 64.0, 4),
        (16, 16, 64.0, 64),
        (1, 4, 1.5, 1),  # never fewer than one thread
        (3, 8, 8.0, 3),
        (1, 1, 1.5, 1),  # floor: 1.5 cores run one thread
        (2, 3, 4.0, 2),  # three holders of 1 slot on 4 cores: 1 + 1 + 1, not 3 x round(1.33)
    ],
)
def test_threads_for(weight: int, slots: int, cores: float, threads: int) -> None:
    assert threads_for(weight, slots, cores) == threads


def test_threads_never_exceed_cores() -> None:
    for cores in (1.0, 1.5, 2.0, 3.0, 6.5, 16.0, 64.0):
        for slots in range(1, int(cores) + 1):
            for weights in ([1] * slots, [slots], [1, slots - 1] if slots > 1 else [1]):
                assert sum(threads_for(w, slots, cores) for w in weights) <= max(1, cores)


@pytest.mark.parametrize(
    ("linker", "args", "cores", "wanted"),
    [
        (Lld, [], 8, 8),
        (Lld, ["--threads=3"], 8, 3),
        (Mold, [], 64, 32),
        (Mold, ["--no-threads"], 8, 1),
        (Mold, ["--threads"], 8, 8),  # bare: every core
        (Gold, [], 8, 1),  # gold is single-threaded unless asked
        (Gold, ["--threads", "--thread-count=4"], 8, 4),
        (Gold, ["--threads", "--thread-count", "6"], 8, 6),
        (Gold, ["--threads"], 8, 8),
        (Bfd, [], 8, 1),
        (Lld, ["--threads=2", "--threads=5"], 8, 5),  # the last one wins
    ],
)
def test_threads_wanted(linker: type, args: list[str], cores: int, wanted: int) -> None:
    assert linker.threads_wanted(args, cores) == wanted


def test_a_real_cgroup_limit_is_the_usable_memory(tmp_path: Path) -> None:
    """In a real memory cgroup (v1 here, v2 elsewhere), the wrapper's machine reading takes
    the limit as usable memory, so the memory budget is a share of the container's memory."""
    if os.geteuid() != 0:
        pytest.skip("making a cgroup needs root")
    v1 = Path("/sys/fs/cgroup/memory")
    if v1.is_dir():
        group = v1 / f"linkpool-test-{os.getpid()}"
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(768 * MB))
    else:
        Path("/sys/fs/cgroup/cgroup.subtree_control").write_text("+memory")
        group = Path(f"/sys/fs/cgroup/linkpool-test-{os.getpid()}")
        group.mkdir()
        (group / "memory.max").write_text(str(768 * MB))
    try:
        code = ("import os, sys; open(sys.argv[1] + '/cgroup.procs', 'w').write(str(os.getpid()))\n"
                "from linkpool.capacity import read_machine, default_slots\n"
                "m = read_machine(); print(m.memory, m.mem_limit, default_slots(m))")
        out = subprocess.run([sys.executable, "-c", code, str(group)], capture_output=True,
                             text=True, check=True).stdout.split()
    finally:
        group.rmdir()
    assert [int(x) for x in out] == [768 * MB, 768 * MB, 1]
