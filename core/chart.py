"""The timeline of ``linkpool report`` drawn as a chart: SVG and HTML written by hand,
PNG through matplotlib (the optional ``chart`` extra). One lane per slot, the waits
below, laid out by ``linkpool.timeline``; ``linkpool.observe`` reads the history and
calls this module, never the other way round.
"""

from __future__ import annotations

import math
import time

from .timeline import Span, lanes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

COLOURS = {"bfd": "#4e79a7", "gold": "#f28e2b", "lld": "#59a14f", "mold": "#b07aa1"}
OTHER, FAILED, WAITING = "#9c755f", "#e15759", "#c9c3bf"


def _colour(s: Span) -> str:
    return FAILED if s.record.get("exit") != 0 else COLOURS.get(str(s.record.get("linker")), OTHER)


def _ticks(length: float) -> list[float]:
    step = 10 ** math.floor(math.log10(max(length, 1e-3) / 8))
    step *= next(m for m in (1, 2, 5, 10) if length / (step * m) <= 10)
    return [k * step for k in range(int(length / step) + 1)]


def _esc(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&quot;")


def svg(path: str, slots: int, spans: list[Span]) -> str:
    """The timeline as an SVG drawing: a lane per slot, then the waiting lanes, an axis."""
    slot_lanes, wait_lanes = lanes(spans, slots)
    all_lanes = [*slot_lanes, *wait_lanes]
    t0 = min((s.wait_start for s in spans), default=0.0)
    length = max((s.held_until for s in spans), default=t0 + 1) - t0 or 1.0
    left, width, top, lane_h = 90, 1000, 40, 24
    height = top + lane_h * len(all_lanes) + 50

    def x(t: float) -> float:
        return left + (t - t0) / length * width

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" '
           f'height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="20" font-size="14">linkpool {_esc(path)}: {len(spans)} links, '
           f'{slots} slots</text>']
    for k, (name, bars) in enumerate(all_lanes):
        y = top + k * lane_h
        out.append(f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">{_esc(name)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{width}" height="{lane_h - 4}" '
                   f'fill="#f4f4f4"/>')
        for a, b, s in bars:
            w = max(1.0, x(b) - x(a))
            fill = WAITING if name.startswith("waiting") else _colour(s)
            tip = (f"{s.record.get('output') or s.label}: waited {s.waited:.3f} s, ran "
                   f"{s.end - s.start:.3f} s, weight {s.weight}, exit {s.record.get('exit')}")
            out.append(f'<rect x="{x(a):.2f}" y="{y}" width="{w:.2f}" height="{lane_h - 4}" '
                       f'fill="{fill}" stroke="#fff" stroke-width="0.5">'
                       f'<title>{_esc(tip)}</title></rect>')
            chars = int(w // 6.5)
            if chars >= 3:
                text = s.label if len(s.label) <= chars else s.label[:chars - 1] + "~"
                out.append(f'<text x="{x(a) + 3:.2f}" y="{y + 14}" fill="#fff">{_esc(text)}</text>')
    axis = top + lane_h * len(all_lanes) + 4
    out.append(f'<line x1="{left}" y1="{axis}" x2="{left + width}" y2="{axis}" stroke="#333"/>')
    for t in _ticks(length):
        out.append(f'<line x1="{x(t0 + t):.2f}" y1="{axis}" x2="{x(t0 + t):.2f}" '
                   f'y2="{axis + 5}" stroke="#333"/><text x="{x(t0 + t):.2f}" y="{axis + 17}" '
                   f'text-anchor="middle">{t:g}</text>')
    out.append(f'<text x="{left + width}" y="{axis + 32}" text-anchor="end">seconds since '
               f'{_esc(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t0)))}</text>')
    legend = [*COLOURS.items(), ("other", OTHER), ("failed", FAILED), ("waiting", WAITING)]
    for k, (name, colour) in enumerate(legend):
        out.append(f'<rect x="{left + 70 * k}" y="{axis + 23}" width="10" height="10" '
                   f'fill="{colour}"/><text x="{left + 70 * k + 14}" y="{axis + 32}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out)


def html(path: str, slots: int, spans: list[Span], summary: str) -> str:
    """A page: the ``summary`` text (``linkpool stats``), the SVG timeline, a table of jobs."""
    rows = "\n".join(
        f"<tr><td>{_esc(s.record.get('output') or s.label)}</td><td>{_esc(s.slots)}</td>"
        f"<td>{s.waited:.3f}</td><td>{s.end - s.start:.3f}</td><td>{s.record.get('exit')}</td></tr>"
        for s in spans)
    return (f'<!doctype html>\n<html><head><meta charset="utf-8"><title>linkpool '
            f'{_esc(path)}</title><style>body{{font-family:sans-serif}} td,th{{padding:0 8px;'
            f'text-align:left}}</style></head><body>\n<h1>linkpool {_esc(path)}</h1>\n'
            f"<pre>{_esc(summary)}</pre>\n{svg(path, slots, spans)}\n"
            f"<table><tr><th>output</th><th>slots</th><th>wait s</th><th>run s</th>"
            f"<th>exit</th></tr>\n{rows}\n</table>\n</body></html>\n")


def png(path: str, slots: int, spans: list[Span], output: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slot_lanes, wait_lanes = lanes(spans, slots)
    all_lanes = [*slot_lanes, *wait_lanes]
    t0 = min((s.wait_start for s in spans), default=0.0)
    fig, ax = plt.subplots(figsize=(12, 1 + 0.4 * len(all_lanes)))
    for k, (name, bars) in enumerate(all_lanes):
        colours = [WAITING if name.startswith("waiting") else _colour(s) for _, _, s in bars]
        ax.broken_barh([(a - t0, b - a) for a, b, _ in bars], (k - 0.4, 0.8), facecolors=colours)
    ax.set_yticks(range(len(all_lanes)), [name for name, _ in all_lanes])
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(f"linkpool {path}: {len(spans)} links, {slots} slots")
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)
