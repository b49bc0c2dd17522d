"""The default link policy: how many slots a link holds and how many threads it runs.

The rule, and the measurements it rests on, are stated once, in docs/policy.md. This
module is its code: :func:`weight_range` (the least and the most slots a link holds),
:func:`extra_slots` (how many beyond its least a link that nobody waits behind may take),
:func:`threads_for` (the cores that k of the pool's N slots stand for), :func:`plan`
(what this machine has learnt, per linker flavour and input size: the threads of a lone
link, the threads per core of its share when links meet, the most slots),
:func:`threads_planned` (the threads for the slots held, with a plan or without), and
:func:`learn`, :func:`met` and :func:`remember`, which fold a finished link into the
summary that :func:`plan` reads (``policy/<flavour>-<size>.json`` in the pool, kept by
``linkpool.history``).

Pure functions, no imports at load time (they are on the path of every link Python plans
or runs), and the tests feed them machine shapes and histories
(tests/unit/test_policy.py, tests/unit/test_learning.py, tests/test_learning_links.py).
"""

from __future__ import annotations

__all__ = ["extra_slots", "learn", "met", "plan", "remember",
           "size_class", "threads_for", "threads_planned", "weight_range"]

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from typing import Any

#: Threads a link may run per core of the slots it holds: twice (a lone link holds the
#: slots of half the cores it runs; links that meet run twice their share unless a
#: core's share measured cheaper).
OVERSUBSCRIBE = 2
#: Measurements a candidate thread count needs before it is compared; tries it gets (links
#: planned with it while it has fewer) before it is given up; how much better than the
#: incumbent it must be to replace it; the weight of a new measurement once it has MIN.
MIN_SAMPLES = 2
MAX_TRIES = 4
MARGIN = 0.03
ALPHA = 0.3
#: A lone link whose CPU time was more than BUSY x t x its wall time kept more than t
#: cores busy: t threads are not tried (they could not be as fast).
BUSY = 1.2
#: The halvings of T tried for a lone link: T, T/2, T/4, T/8 at most.
CHAIN = 4
#: Size classes: links are compared with links of the same class, 16-64 MB, 64-256 MB, ...
CLASS_BASE = 16 << 20
RECENT = 16  # intervals of the last jobs kept in the summary, to tell who met whom


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


def extra_slots(low: int, high: int) -> int:
    """How many slots beyond ``low`` a link may take when nobody waits behind it (the pool
    asks only then, and hands over only free slots): up to ``high``. The machine's load
    does not count: a lone link while a build's compiles run is still the build's critical
    path, and it finishes sooner with every core it can use (docs/policy.md, "A lone link
    while compiles run")."""
    return max(0, high - low)


def threads_for(weight: int, slots: int, cores: float) -> int:
    """The cores' share of a link holding ``weight`` of ``slots`` slots on ``cores``
    cores: ``max(1, floor(weight * cores / slots))``. When a link runs more than its
    share is the policy's rule, docs/policy.md."""
    return max(1, int(weight * cores / max(1, slots) + 1e-9))


# -- learning --------------------------------------------------------------------------


def size_class(input_bytes: int) -> str:
    """The class of a link's input size: "16M" (under 64 MB), "64M", "256M", "1G", ..."""
    limit, label = CLASS_BASE * 4, CLASS_BASE
    while input_bytes >= limit:
        limit, label = limit * 4, label * 4
    mb = label >> 20
    return f"{mb >> 10}G" if mb >= 1024 else f"{mb}M"


def _n(entry: Any, field: str) -> int:
    """A count of a summary entry; 0 for anything that is not one (a corrupt summary)."""
    value = entry.get(field, 0) if isinstance(entry, dict) else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _value(entry: Any, field: str) -> float | None:
    """A positive figure of a summary entry, or None."""
    value = entry.get(field) if isinstance(entry, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def plan(stats: dict[str, Any] | None, wanted: int, low: int, slots: int,
         cores: float) -> dict[str, Any] | None:
    """The thread plan of a link that can use ``wanted`` threads and must hold ``low`` of
    ``slots`` slots, from ``stats``, the summary of its flavour and size class (None or
    empty: no history). None when there is nothing to choose (its least weight's cores
    already cover every thread it can use). Otherwise a dict:

    - ``alone``: the threads it runs when it holds ``high`` (nobody else wanted the
      slots): the first of T, T/2, T/4, ... whose next halving is measurably slower
      (wall time per byte of lone links; as fast within ``MARGIN``: the fewer threads,
      which hold fewer slots), or could not be as fast (the lone links kept more cores
      busy than it has threads); T with no history;
    - ``ratio``: threads per core of its share when it holds fewer: 2 (never more than
      ``alone``), or 1 when links that met ran with fewer CPU-seconds per byte (by
      ``MARGIN``) at a core's share; 2 with no history;
    - ``high``: the most slots it takes: those that ``alone`` threads stand for at
      ``OVERSUBSCRIBE`` (2) threads a core, whatever ``ratio``, at least ``low``;
    - ``explore`` (only while exploring): the thread count this link tries, and
      ``share`` (True) when that try is of a core's share when links meet;
    - ``learning`` (True, only then): the plan wants this link's measurements, while it
      explores or while a count it compares still lacks its ``MIN_SAMPLES``; a plan
      without it stays what it is until the summary changes by more than a drift (the
      C front door reuses it, ``linkpool.plans``; one with it is made again each link).
    """
    stats = stats if isinstance(stats, dict) else {}
    k = threads_for(low, slots, cores)
    if wanted <= k:
        return None
    chain = [wanted]
    while len(chain) < CHAIN and chain[-1] // 2 >= k and chain[-1] > 1:
        chain.append(chain[-1] // 2)
    explore = None
    learning = False  # a choice waits for measurements: what this link measures counts
    alone = chain[0]
    for nxt in chain[1:]:
        mine, other = stats.get(str(alone)), stats.get(str(nxt))
        if _n(mine, "an") < MIN_SAMPLES:
            learning = True
            break  # the incumbent is measured first: it runs anyway
        busy, wall = _value(mine, "acpu"), _value(mine, "awall")
        if busy and wall and busy > wall * nxt * BUSY:
            break  # it kept more cores busy than nxt threads could: nxt cannot be as fast
        if _n(other, "an") < MIN_SAMPLES:
            if _n(other, "tries") < MAX_TRIES:
                alone = explore = nxt
            break
        a, b = _value(mine, "awall"), _value(other, "awall")
        if a and b and b < a * (1 + MARGIN):  # as fast (within the margin): fewer threads
            alone = nxt
            continue
        break
    # Alone it holds the slots of half the cores its threads need, whatever r: a link that
    # reaches the pool first in a burst of links must not shut the others out for its
    # whole run (docs/policy.md, "Why twice the threads when links meet")
    high = max(low, min(slots, _ceil_div(alone * slots, OVERSUBSCRIBE * max(cores, 1e-9))))
    ratio, share = 1.0, False
    double = min(2 * k, alone)
    if double > k:
        # Twice the threads of its share, unless links that met measured a core's share
        # cheaper: the incumbent, because a link that outlives the others still keeps
        # every core busy. When its most is its least (two cores, two slots) it runs
        # ``alone`` threads whatever it meets: r changes nothing, nothing is tried.
        ratio = double / k
        mine, other = stats.get(str(double)), stats.get(str(k))
        if high > low and _n(mine, "sn") < MIN_SAMPLES:
            learning = True  # the incumbent, measured when links meet, comes first
        elif high > low:
            if _n(other, "sn") >= MIN_SAMPLES:
                a, b = _value(mine, "scpu"), _value(other, "scpu")
                if a and b and b < a * (1 - MARGIN):
                    ratio = 1.0
            elif _n(other, "stries") < MAX_TRIES:
                learning = True  # tried now, or once the lone try is done
                if explore is None:
                    explore, ratio, share = k, 1.0, True
    out: dict[str, Any] = {"alone": alone, "ratio": ratio, "high": high}
    if explore is not None:
        out["explore"] = explore
        if share:
            out["share"] = True  # the try is of the threads when links meet
    if learning or explore is not None:
        out["learning"] = True
    return out


def threads_planned(planned: dict[str, Any] | None, held: int, slots: int,
                    cores: float) -> int:
    """Threads for a link holding ``held`` slots under ``planned`` (:func:`plan`; None: the
    built-in rule, :func:`threads_for`)."""
    base = threads_for(held, slots, cores)
    if not planned:
        return base
    try:
        alone, ratio, high = int(planned["alone"]), float(planned["ratio"]), int(planned["high"])
    except (KeyError, TypeError, ValueError):
        return base
    if held >= high:
        return max(1, alone)
    return max(1, min(alone, int(base * ratio + 1e-9)))


def _ewma(old: Any, sample: float, n: int) -> float:
    if not isinstance(old, (int, float)) or old <= 0:
        return sample
    w = max(ALPHA, 1.0 / n)  # a plain mean of the first samples, then a moving average
    return old + w * (sample - old)


def _round(x: float) -> float:
    return float(f"{x:.5g}")


def learn(stats: dict[str, Any], threads: int, input_bytes: int, cpu_s: float, run_s: float,
          alone: bool, explored: int | None = None, share: bool = False) -> dict[str, Any]:
    """Fold one finished link into ``stats``, the summary of its flavour and size class
    (changed in place and returned): its CPU seconds per GiB of input under ``threads``
    as a link that met others, or its wall time (and CPU) per GiB as a lone link; a link
    planned to try ``explored`` threads counts as a try of that count (alone, or when
    links meet if ``share``: the plan's ``share``)."""
    if explored:
        tried = stats.get(str(explored))
        if not isinstance(tried, dict):
            tried = stats[str(explored)] = {}
        field = "stries" if share else "tries"
        tried[field] = _n(tried, field) + 1
    gib = input_bytes / (1 << 30)
    if threads < 1 or gib <= 0 or cpu_s <= 0 or run_s <= 0:
        return stats
    entry = stats.get(str(threads))
    if not isinstance(entry, dict):
        entry = stats[str(threads)] = {}
    if alone:
        n = entry["an"] = _n(entry, "an") + 1
        entry["awall"] = _round(_ewma(entry.get("awall"), run_s / gib, n))
        entry["acpu"] = _round(_ewma(entry.get("acpu"), cpu_s / gib, n))
    else:
        n = entry["sn"] = _n(entry, "sn") + 1
        entry["scpu"] = _round(_ewma(entry.get("scpu"), cpu_s / gib, n))
    return stats


def met(recent: Any, start: float, end: float) -> bool:
    """Whether any job of ``recent`` ([start, end] pairs) ran during [start, end]."""
    if not isinstance(recent, list):
        return False
    for item in recent:
        try:
            s, e = float(item[0]), float(item[1])
        except (TypeError, ValueError, IndexError):
            continue
        if s < end and e > start:
            return True
    return False


def remember(summary: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """Add a finished job's interval to ``summary["recent"]`` (the last RECENT)."""
    recent = summary.get("recent")
    recent = [r for r in recent if isinstance(r, list)] if isinstance(recent, list) else []
    recent.append([round(start, 3), round(end, 3)])
    summary["recent"] = recent[-RECENT:]
    return summary
