"""The pool's history as a timeline: one ``Span`` per finished job (when it waited, when
it held its slots), and the lanes they are drawn on. ``linkpool.observe`` (stats, trace)
and ``linkpool.chart`` (report) both stand on this module; it imports nothing of theirs.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Bars = list[tuple[float, float, "Span"]]  # (start, end, job) on one lane
    Lanes = list[tuple[str, Bars]]

QUEUED = 0.02  # a shorter wait is the cost of taking a slot (~1 ms; more on a loaded host)


class Span:
    """One job of the history: when it waited, when it held its slots, and its record."""

    __slots__ = ("end", "held_until", "record", "slots", "start", "wait_start", "weight")

    def __init__(self, r: dict[str, Any]) -> None:
        run = float(r.get("run_s") or 0) + float(r.get("tail_s") or 0)
        done = float(r.get("time") or 0)
        # Records written before `admitted` existed: admission was about `run` before `time`.
        self.start = float(r.get("admitted") or done - run)
        self.end = self.start + run
        self.wait_start = self.start - float(r.get("wait_s") or 0)
        # The slots stay held through the bookkeeping, until the record is written.
        self.held_until = max(self.end, min(done, self.end + 1.0))
        slots = r.get("slots")
        self.slots: list[int] | None = [int(i) for i in slots] if isinstance(slots, list) \
            else None
        self.weight = len(self.slots) if self.slots else int(r.get("weight") or 1)
        self.record = r

    @property
    def waited(self) -> float:
        return self.start - self.wait_start

    @property
    def label(self) -> str:
        r = self.record
        return os.path.basename(r.get("output") or "") or " ".join(r.get("command") or ["?"])


def lanes(spans: list[Span], slots: int) -> tuple[Lanes, Lanes]:
    """(slot lanes, waiting lanes): each a name and its (start, end, span) bars, no overlaps.

    A job is drawn on each slot it held; jobs whose record names no slots, and waits, are
    packed greedily into as many lanes as they need.
    """
    by_slot: dict[int, Bars] = {i: [] for i in range(slots)}
    unknown: Bars = []
    waits: Bars = []
    for s in spans:
        for i in s.slots or []:
            by_slot.setdefault(i, []).append((s.start, s.end, s))
        if not s.slots:
            unknown.append((s.start, s.end, s))
        if s.waited >= QUEUED:
            waits.append((s.wait_start, s.start, s))
    slot_lanes = [(f"slot {i}", _trim(by_slot[i])) for i in sorted(by_slot)]
    slot_lanes += [(f"slot ? {k + 1}", bars) for k, bars in enumerate(_pack(unknown))]
    wait_lanes = [("waiting" if k == 0 else f"waiting {k + 1}", bars)
                  for k, bars in enumerate(_pack(waits))]
    return slot_lanes, wait_lanes


def _trim(bars: Bars) -> Bars:
    """Sort one slot's bars and cut a rounding overlap (a slot has one holder at a time)."""
    bars = sorted(bars, key=lambda b: b[0])
    return [(a, min(b, nxt[0]) if nxt else b, s)
            for (a, b, s), nxt in zip(bars, [*bars[1:], None])]


def _pack(bars: Bars) -> list[Bars]:
    out: list[Bars] = []
    for bar in sorted(bars, key=lambda b: b[0]):
        lane = next((lane for lane in out if lane[-1][1] <= bar[0]), None)
        if lane is None:
            out.append([bar])
        else:
            lane.append(bar)
    return out
