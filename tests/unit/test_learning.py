"""The learning policy (linkpool.policy.plan / learn / threads_planned) fed histories of
several shapes: pure functions, no process and no file.

A shape is what a linker measures on a machine: wall time and CPU time per GiB of input
at each thread count. The simulated links alternate between running alone and meeting
others, as a build's links do, and the policy must settle on the thread count the shape
calls for, with a bounded number of exploring links. tests/test_learning_links.py has the real
links through the real `linkpool`.
"""

from __future__ import annotations

import pytest

from linkpool.policy import (
    MAX_TRIES,
    MIN_SAMPLES,
    learn,
    met,
    plan,
    remember,
    size_class,
    threads_for,
    threads_planned,
)

GiB = 1 << 30
MB = 1 << 20

# threads -> (wall s per GiB of a lone link, CPU s per GiB), on 2 cores
SHAPES = {
    # wall and CPU both fall with threads: two threads each even when links meet
    "scales": {1: (4.0, 4.0), 2: (1.9, 3.6)},
    # mold-like: wall halves, CPU rises a little with threads
    "mold-like": {1: (1.3, 1.25), 2: (0.7, 1.32)},
    # lld measured here (benchmarks/lone_busy.py, 1200 MB): one thread costs more CPU
    "lld-like": {1: (2.6, 2.16), 2: (2.45, 1.71)},
    # bfd-like: threads change nothing (within the noise)
    "flat": {1: (4.0, 3.9), 2: (3.95, 4.1)},
}
# (alone threads, threads per core of its share when links meet, most slots)
EXPECTED = {"scales": (2, 2.0, 1), "mold-like": (2, 2.0, 1), "lld-like": (2, 2.0, 1),
            "flat": (1, 1.0, 1)}
# The same on 4 cores and 4 slots, where a lone link's most (2 slots) is above its least
# (1): what links that met measured decides r (T = 4; wall and CPU per thread count).
SHAPES_4 = {
    "mold-like": {1: (2.6, 1.15), 2: (1.3, 1.26), 4: (0.7, 1.32)},
    "lld-like": {1: (5.2, 2.16), 2: (3.0, 1.71), 4: (2.45, 1.71)},
}
EXPECTED_4 = {"mold-like": (4, 1.0, 2), "lld-like": (4, 2.0, 2)}


def simulate(shape: dict[int, tuple[float, float]], links: int, alone_every: int = 2,
             slots: int = 2, cores: float = 2.0, wanted: int = 2, low: int = 1,
             summary: dict | None = None) -> tuple[dict, list[dict]]:
    """``links`` links of 1 GiB, every ``alone_every``-th alone (it then takes the slots
    its plan allows), the others meeting links (they hold their least weight). A link's
    CPU is the shape's, its wall time too when alone (a little deterministic noise)."""
    summary = {} if summary is None else summary
    plans = []
    for i in range(links):
        p = plan(summary, wanted, low, slots, cores)
        assert p is not None
        plans.append(p)
        alone = alone_every > 0 and i % alone_every == 0
        held = p["high"] if alone else low
        threads = threads_planned(p, held, slots, cores)
        wall, cpu = shape[min(shape, key=lambda t: abs(t - threads))]
        noise = 1 + 0.01 * ((i * 7) % 3 - 1)
        learn(summary, threads, GiB, cpu * noise, wall * noise, alone=alone,
              explored=p.get("explore"), share=bool(p.get("share")))
    return summary, plans


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_converges_to_its_thread_counts(shape: str) -> None:
    summary, plans = simulate(SHAPES[shape], 40)
    alone, ratio, high = EXPECTED[shape]
    final = plan(summary, 2, 1, 2, 2.0)
    assert final is not None and "explore" not in final
    assert (final["alone"], final["ratio"], final["high"]) == (alone, ratio, high)
    # converged: the last half of the links all ran that plan
    assert all({k: p[k] for k in ("alone", "ratio", "high")} ==
               {"alone": alone, "ratio": ratio, "high": high} for p in plans[20:])
    # exploration is bounded: at most MAX_TRIES links per candidate, two candidates here
    assert sum("explore" in p for p in plans) <= 2 * MAX_TRIES


@pytest.mark.parametrize(("shape", "four"), [*((s, False) for s in SHAPES),
                                             *((s, True) for s in SHAPES_4)])
def test_a_plan_says_learning_until_its_choices_are_measured(shape: str, four: bool) -> None:
    """While a count it compares lacks its samples (or it explores) the plan says
    "learning": the C front door then plans the next link again; once converged, never."""
    args = (4, 1, 4, 4.0) if four else (2, 1, 2, 2.0)
    first = plan(None, *args)
    assert first is not None and first.get("learning") is True
    summary, plans = simulate((SHAPES_4 if four else SHAPES)[shape], 40,
                              **({"slots": 4, "cores": 4.0, "wanted": 4} if four else {}))
    assert all(p.get("learning") for p in plans if "explore" in p)
    final = plan(summary, *args)
    assert final is not None and "learning" not in final
    assert not any(p.get("learning") for p in plans[30:])


@pytest.mark.parametrize("shape", list(SHAPES_4))
def test_where_a_lone_link_may_hold_more_r_follows_what_links_that_met_measured(
        shape: str) -> None:
    """4 cores, 4 slots: mold-like links that met cost fewer CPU-seconds at a core's share,
    so r = 1; lld-like ones more, so r stays 2. Alone, either holds 2 slots (half the
    cores of its 4 threads) and runs 4."""
    summary, plans = simulate(SHAPES_4[shape], 40, slots=4, cores=4.0, wanted=4)
    final = plan(summary, 4, 1, 4, 4.0)
    assert final is not None and "explore" not in final
    assert (final["alone"], final["ratio"], final["high"]) == EXPECTED_4[shape]
    assert threads_planned(final, 2, 4, 4.0) == 4
    assert threads_planned(final, 1, 4, 4.0) == (1 if shape == "mold-like" else 2)
    assert any(p.get("share") for p in plans)  # a core's share was tried
    assert sum("explore" in p for p in plans) <= 2 * MAX_TRIES


@pytest.mark.parametrize("shape", list(SHAPES))
def test_threads_and_weights_picked_alone_and_when_links_meet(shape: str) -> None:
    """What a converged summary gives a link on 2 cores, 2 slots, memory weight 1: the
    slots it holds alone (all it may take) and its threads, and when another link holds
    the other slot (it holds its least weight)."""
    summary, _ = simulate(SHAPES[shape], 40)
    p = plan(summary, 2, 1, 2, 2.0)
    assert p is not None
    low, high = 1, p["high"]
    alone = (high, threads_planned(p, high, 2, 2.0))
    meeting = (low, threads_planned(p, low, 2, 2.0))
    assert {"scales": ((1, 2), (1, 2)),  # two threads on its one slot: the measured best
            "lld-like": ((1, 2), (1, 2)),
            "mold-like": ((1, 2), (1, 2)),  # its most is its least here: r changes nothing
            "flat": ((1, 1), (1, 1))}[shape] == (alone, meeting)


def test_no_history_is_the_built_in_rule() -> None:
    """Missing summary: every thread alone, twice a core's share each when links meet, and
    the slots that ``wanted`` threads stand for at two threads a core (at least ``low``)."""
    for slots, cores, wanted, low, high in ((2, 2.0, 2, 1, 1), (16, 16.0, 16, 1, 8),
                                            (64, 64.0, 32, 4, 16), (4, 16.0, 16, 1, 2)):
        p = plan(None, wanted, low, slots, cores)
        assert p is not None and "explore" not in p
        assert (p["alone"], p["ratio"], p["high"]) == (wanted, 2.0, high)
        for held in range(low, slots + 1):
            expected = wanted if held >= high else 2 * threads_for(held, slots, cores)
            assert threads_planned(p, held, slots, cores) == min(expected, wanted)
        assert threads_planned(None, low, slots, cores) == threads_for(low, slots, cores)
    # twice the share, never more than the linker uses: 3 threads on a share of 2 cores
    p = plan(None, 3, 1, 2, 4.0)
    assert p is not None and (p["ratio"], p["high"]) == (1.5, 1)
    # nothing to choose: its least weight's cores cover its threads
    assert plan(None, 1, 1, 2, 2.0) is None
    assert plan(None, 8, 16, 16, 16.0) is None


def test_the_first_links_run_the_default_then_explore_in_turn() -> None:
    """Lone and meeting links in turn: the default (every core alone, twice a core's share
    when meeting) runs until it has MIN_SAMPLES lone measurements; then the links are
    planned to try half the threads alone (a planned try counts, whether the link then
    runs alone or not: MAX_TRIES), then a core's share when meeting; then no more
    exploring."""
    _, plans = simulate(SHAPES["lld-like"], 16)
    explored = [(p.get("explore"), bool(p.get("share"))) for p in plans]
    first = explored.index((1, False))
    assert first == 2 * MIN_SAMPLES - 1  # right after the second lone link
    assert all(e == (None, False) for e in explored[:first])
    assert explored[first:first + MAX_TRIES] == [(1, False)] * MAX_TRIES
    # On two cores and two slots a link's most is its least: r changes nothing, and a
    # core's share is never tried (SHAPES_4's test has a machine where it is)
    assert all(e == (None, False) for e in explored[first + MAX_TRIES:])


def test_a_linker_that_keeps_its_cores_busy_is_never_tried_with_fewer() -> None:
    """Lone links that kept more than 1.2 cores busy with 2 threads: one thread could not
    be as fast, so it is never tried alone (mold, lld on an idle machine)."""
    for shape in ("scales", "mold-like"):
        _, plans = simulate(SHAPES[shape], 20)
        assert not any(p.get("explore") == 1 and not p.get("share") for p in plans)


def test_exploring_gives_up_when_links_never_run_alone() -> None:
    """A flavour whose links always meet: the lone-link candidate is never measured; it
    gets MAX_TRIES planned tries, then the default stays."""
    summary: dict = {"2": {"an": MIN_SAMPLES, "awall": 1.0}}
    _, plans = simulate(SHAPES["scales"], 30, alone_every=0, summary=summary)
    tries_alone = sum(p.get("explore") == 1 and p["alone"] == 1 for p in plans)
    assert tries_alone == MAX_TRIES
    assert plans[-1]["alone"] == 2 and "explore" not in plans[-1]


def test_sixty_four_cores_halve_down_to_where_the_linker_stops_scaling() -> None:
    """T = 64 on 64 cores and 64 slots: lone links try 64, 32, 16, 8 threads; a linker
    whose wall time stops falling at 16 settles there, and holds 16 slots."""
    walls = {64: 1.0, 32: 1.0, 16: 1.02, 8: 1.5, 2: 6.0, 1: 10.0}
    cpus = {64: 9.0, 32: 8.0, 16: 7.0, 8: 7.0, 2: 6.5, 1: 6.0}
    shape = {t: (walls[t], cpus[t]) for t in walls}
    summary, plans = simulate(shape, 60, slots=64, cores=64.0, wanted=64)
    p = plan(summary, 64, 1, 64, 64.0)
    assert p is not None and "explore" not in p
    assert (p["alone"], p["high"]) == (16, 8)  # the slots of half the cores it runs
    assert threads_planned(p, 8, 64, 64.0) == 16
    assert threads_planned(p, 1, 64, 64.0) == 1  # meeting: 2 threads cost more CPU
    assert sum("explore" in pl for pl in plans) <= 4 * MAX_TRIES


def test_memory_weight_bounds_the_least_weight() -> None:
    """A link whose memory needs 2 of 4 slots on 4 cores: its share is 2 cores; alone it
    may take all 4 for T = 4; links that met ran cheaper at 4 threads on 2 slots."""
    stats = {"2": {"sn": 3, "scpu": 3.0, "an": 3, "awall": 1.8},
             "4": {"sn": 3, "scpu": 2.5, "an": 3, "awall": 1.0}}
    p = plan(stats, 4, 2, 4, 4.0)
    assert p is not None
    assert p["ratio"] == 2.0 and p["high"] == 2
    assert threads_planned(p, 2, 4, 4.0) == 4


@pytest.mark.parametrize("stats", [
    {"2": [1, 2], "1": "x"}, {"2": {"an": "3", "awall": None}, "1": {"an": True}},
    {"2": {"an": 5, "awall": -1.0, "acpu": "a"}, "1": {"an": 5, "awall": float("nan")}},
    [], "garbage", {"2": {"an": 10 ** 30, "awall": 1e308, "acpu": 1e308}},
])
def test_a_corrupt_summary_plans_like_no_history_or_a_valid_one(stats: object) -> None:
    """Whatever a summary file holds, plan() answers a valid plan (the hot path must
    never fail on it), and learn() starts the broken entries afresh."""
    p = plan(stats, 2, 1, 2, 2.0)  # type: ignore[arg-type]
    assert p is not None and p["alone"] in (1, 2) and p["ratio"] in (1.0, 2.0)
    assert p["high"] in (1, 2) and threads_planned(p, 1, 2, 2.0) in (1, 2)
    if isinstance(stats, dict):
        learn(stats, 2, GiB, 1.0, 1.0, alone=True, explored=1)
        assert isinstance(stats["2"], dict) and isinstance(stats["1"], dict)


def test_learn_keeps_means_per_thread_count() -> None:
    s: dict = {}
    learn(s, 2, GiB, 2.0, 1.0, alone=True)
    learn(s, 2, GiB, 4.0, 3.0, alone=True)
    learn(s, 1, GiB // 2, 1.5, 2.0, alone=False, explored=1)
    e2, e1 = s["2"], s["1"]
    assert (e2["an"], e2["awall"], e2["acpu"]) == (2, 2.0, 3.0)  # mean of the first two
    assert (e1["sn"], e1["scpu"], e1["tries"]) == (1, 3.0, 1)  # per GiB
    for _ in range(20):
        learn(s, 2, GiB, 10.0, 5.0, alone=True)
    assert abs(s["2"]["awall"] - 5.0) < 0.01  # a moving average follows
    learn(s, 2, 0, 1.0, 1.0, alone=True)  # no input size: nothing measured
    learn(s, 0, GiB, 1.0, 1.0, alone=True)
    assert s["2"]["an"] == 22


def test_size_classes() -> None:
    assert [size_class(n) for n in (0, 20 * MB, 63 * MB, 64 * MB, 300 * MB, 1200 * MB,
                                    5 * GiB, 70 * GiB)] == \
        ["16M", "16M", "16M", "64M", "256M", "1G", "4G", "64G"]


def test_met_and_remember() -> None:
    s: dict = {}
    for i in range(40):
        remember(s, 100.0 + i, 100.5 + i)
    assert len(s["recent"]) == 16 and s["recent"][-1] == [139.0, 139.5]
    assert met(s["recent"], 139.2, 150.0)
    assert not met(s["recent"], 139.5, 150.0)  # it ended as we began: never met
    assert not met(s["recent"], 10.0, 20.0)
    assert not met("garbage", 0.0, 1e12)
    assert not met([["x", 1], None, [5]], 0.0, 1e12)
