"""The default link policy: how many slots a link holds and how many threads it runs.

A pool of N slots on a machine of C usable cores and M usable bytes: a slot stands for
C / N cores and for budget / N bytes, budget = ``memory_budget`` x M. A link that can use
T threads and is expected to add R bytes holds, at the least, the slots its memory needs
(never fewer than one), and at the most the slots its threads need::

    low  = clamp(ceil(R * N / budget), 1, N)
    high = clamp(ceil(T * N / C), low, N)

It always gets ``low``. It takes more, up to ``high``, only when it is last in line and
the cores they stand for are idle (:func:`extra_slots`), so a lone link on an idle
machine gets every core while links that meet each other run on one core's share each,
where the linkers measured here do more work per core (docs/policy.md). Once the slots are
held, the link runs ``threads_for(held)`` threads: its threads and its weight agree, and
the threads of all links together never exceed C.

Pure functions and a few reads of /proc/loadavg, no imports at load time: the wrapper
calls them on its hot path, and the tests feed them machine shapes (tests/test_policy.py).
"""

from __future__ import annotations

__all__ = ["extra_slots", "runnable_others", "threads_for", "weight_range"]


def _ceil_div(a: float, b: float) -> int:
    q = int(a // b)
    return q + 1 if q * b < a else q


def weight_range(threads: int, memory: int, slots: int, cores: float,
                 budget: int | None) -> tuple[int, int]:
    """(low, high): the slots a link of ``threads`` threads adding ``memory`` bytes must
    hold and may hold, in a pool of ``slots`` on ``cores`` cores with ``budget`` bytes
    for links (None or 0: memory unknown, it does not count)."""
    slots = max(1, slots)
    by_memory = _ceil_div(memory * slots, budget) if budget and memory > 0 else 1
    by_threads = _ceil_div(max(1, threads) * slots, max(cores, 1e-9))
    low = max(1, min(slots, by_memory))
    return low, max(low, min(slots, by_threads))


def extra_slots(low: int, high: int, slots: int, cores: float, busy: int) -> int:
    """How many slots beyond ``low`` a link may take, given ``busy`` runnable tasks on the
    machine other than itself: the slots whose cores are idle, up to ``high``."""
    if high <= low or cores <= 0:
        return 0
    idle_slots = int(max(0.0, cores - busy) * slots / cores + 1e-9)
    return max(0, min(high - low, idle_slots - low))


def threads_for(weight: int, slots: int, cores: float) -> int:
    """Threads for a link holding ``weight`` of ``slots`` slots on ``cores`` cores:
    ``max(1, floor(weight * cores / slots))``, so the links together never run more
    threads than there are cores."""
    return max(1, int(weight * cores / max(1, slots) + 1e-9))


def runnable_others(loadavg: str = "/proc/loadavg", samples: int = 4,
                    gap: float = 0.0005) -> int | None:
    """Runnable tasks on the machine other than the caller: the 4th field of
    /proc/loadavg ("running/total") less one, the least of ``samples`` readings ``gap``
    seconds apart (a task that runs for a moment, a daemon's tick, is not a busy core; a
    build's other processes run for longer). None if it cannot be read."""
    from time import sleep

    least = None
    for i in range(samples):
        if i:
            sleep(gap)
        try:
            with open(loadavg, "rb") as f:
                running = int(f.read().split()[3].split(b"/")[0])
        except (OSError, IndexError, ValueError):
            return None
        least = running if least is None else min(least, running)
        if least <= 1:
            break  # nothing else runs: no need to look again
    return None if least is None else max(0, least - 1)
