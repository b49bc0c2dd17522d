"""``linkpool stats``, ``trace`` and ``report``: what the pool did, read from its history.

    linkpool stats  [--pool DIR] [--since DURATION|ISO] [--json]
    linkpool trace  [--pool DIR] [--since ...] [--output FILE]      (Chrome trace-event JSON)
    linkpool report [--pool DIR] [--since ...] --output FILE.svg|.html|.png

Every finished job left one record in the pool's history (``linkpool.history``): it
waited over [admitted - wait_s, admitted] and ran over [admitted, admitted + run_s +
tail_s] on the slots it names. These three commands only read those records and the
pool's N; they never touch a slot. The charts are written by hand (SVG, HTML); only
.png needs matplotlib (the ``chart`` extra; :func:`chart_hint` says how to install it
here). docs/observe.md shows each.

The jobs as spans and their lanes are ``linkpool.timeline``; the three commands share
the sweep over them here; the drawing for ``report`` is ``linkpool.chart``.
"""

from __future__ import annotations

import math
import os
import sys
import time

from .configfile import UsageError as UserError  # a mistake on the command line: exit 2
from .names import say
from .settings import MEMORY_BUDGET
from .timeline import QUEUED, Span, lanes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

TOP = 5
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# -- reading -----------------------------------------------------------------------------


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """``30m``, ``1h``, ``2d``, ``1.5w`` ago, or an ISO date (local time unless it says)."""
    if text is None:
        return None
    now = time.time() if now is None else now
    number, unit = text[:-1], text[-1:].lower()
    if unit in UNITS:
        try:
            return now - float(number) * UNITS[unit]
        except ValueError:
            pass
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        raise UserError(f"--since takes a duration such as 30m, 1h or 2d, or an ISO date "
                        f"such as 2025-06-01T09:00, not {text!r}") from None


def load(path: str, since: float | None) -> tuple[str, int, list[Span]]:
    """(the pool's path, its N, the jobs that ended at or after ``since``, by admission)."""
    from .history import History
    from .pool import Pool

    with Pool.open(path, create=False) as p:
        history = History(p.path, 0o666 if p.shared else 0o600)
        spans = [Span(r) for r in history.records() if _valid(r)]
        path, slots = p.path, p.slots
    spans = [s for s in spans if since is None or s.held_until >= since]
    return path, slots, sorted(spans, key=lambda s: s.start)


def _valid(r: dict[str, Any]) -> bool:
    """A record whose figures are numbers (another tool may have written the line)."""
    numbers = ("time", "admitted", "wait_s", "run_s", "tail_s", "weight", "max_rss_kb",
               "anon_peak_kb")
    slots = r.get("slots")
    return all(type(r.get(k)) in (int, float, type(None)) for k in numbers) and \
        (slots is None or (isinstance(slots, list) and all(type(i) is int for i in slots)))


# -- stats -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def sweep(spans: list[Span], slots: int) -> dict[str, float]:
    """Walk the timeline: seconds busy, full, with links queued, queued while not full."""
    events: list[tuple[float, int, int, int]] = []  # time, held, queued, anon kB
    for s in spans:
        anon = int(s.record.get("anon_peak_kb") or 0)
        events += [(s.start, s.weight, 0, anon), (s.held_until, -s.weight, 0, -anon)]
        if s.waited >= QUEUED:
            events += [(s.wait_start, 0, 1, 0), (s.start, 0, -1, 0)]
    events.sort(key=lambda e: (e[0], e[1] > 0 or e[2] > 0))  # ends before starts at a tie
    out = dict.fromkeys(("busy_s", "full_s", "queued_s", "queued_not_full_s"), 0.0)
    out.update(most_held=0, most_anon_kb=0)
    held = queued = anon = 0
    for (t, dh, dq, da), nxt in zip(events, [*events[1:], None]):
        held, queued, anon = held + dh, queued + dq, anon + da
        out["most_held"] = max(out["most_held"], held)
        out["most_anon_kb"] = max(out["most_anon_kb"], anon)
        dt = (nxt[0] - t) if nxt else 0.0
        out["busy_s"] += dt if held > 0 else 0.0
        out["full_s"] += dt if held >= slots else 0.0
        out["queued_s"] += dt if queued > 0 else 0.0
        out["queued_not_full_s"] += dt if queued > 0 and held < slots else 0.0
    return out


def stats(path: str, slots: int, spans: list[Span], since: float | None,
          machine: Any = None, budget: float = MEMORY_BUDGET) -> dict[str, Any]:
    records = [s.record for s in spans]
    waits = [float(r.get("wait_s") or 0) for r in records]
    runs = [float(r.get("run_s") or 0) for r in records]
    start = min((s.wait_start for s in spans), default=0.0)
    end = max((s.held_until for s in spans), default=0.0)

    def summary(values: list[float]) -> dict[str, float]:
        return {"p50": round(percentile(values, 50), 6), "p95": round(percentile(values, 95), 6),
                "max": round(max(values, default=0.0), 6), "total": round(sum(values), 6)}

    def peak(key: str) -> dict[str, Any] | None:
        best = max(records, key=lambda r: r.get(key) or 0, default=None)
        return None if not best or not best.get(key) else {"kb": best[key],
                                                            "output": best.get("output")}

    slowest = sorted(records, key=lambda r: -(r.get("run_s") or 0))[:TOP]
    out: dict[str, Any] = {
        "pool": path, "slots": slots, "since": since, "links": len(records),
        "failures": sum(1 for r in records if r.get("exit") != 0),
        "queued": sum(1 for w in waits if w >= QUEUED),
        "wait_s": summary(waits), "run_s": summary(runs),
        "slowest": [{"what": r.get("output") or " ".join(r.get("command") or []),
                     **{k: r.get(k) for k in ("output", "run_s", "wait_s", "weight", "linker",
                                              "exit")}} for r in slowest],
        "peak_memory": {"anon_peak_kb": peak("anon_peak_kb"), "max_rss_kb": peak("max_rss_kb")},
        "window": {"start": start, "end": end, "seconds": round(max(0.0, end - start), 6)},
        **{k: round(v, 6) for k, v in sweep(spans, slots).items()},
    }
    seconds = out["window"]["seconds"]
    out["full_fraction"] = round(out["full_s"] / seconds, 4) if seconds > 0 else 0.0
    out["full_of_busy"] = round(out["full_s"] / out["busy_s"], 4) if out["busy_s"] > 0 else 0.0
    out["hints"] = hints(out, spans, machine, budget)
    return out


def hints(st: dict[str, Any], spans: list[Span], machine: Any, budget: float) -> list[str]:
    """Plain-language hints when the capacity looks wrong for this history."""
    out = []
    n, waited, queued = st["slots"], st["wait_s"]["total"], st["queued_s"]
    cores = int(machine.cores) if machine is not None else None
    more = f"; this machine has {cores} cores: `linkpool init --slots {cores}`" \
        if cores and cores > n else ""
    if waited > 1.0 and queued > 0 and st["queued_not_full_s"] > queued / 2:
        out.append(f"links waited {waited:.1f} s in all, {st['queued_not_full_s'] / queued:.0%} "
                   f"of it while fewer than {n} slots were held: a heavy link waits until "
                   f"several slots are free at once, so cores sat idle; more slots or lighter "
                   f"weights (a higher memory_budget) would use them{more}")
    elif st["full_of_busy"] > 0.8 and st["wait_s"]["p95"] > 1.0:
        out.append(f"the pool was full {st['full_of_busy']:.0%} of the time it was in use and "
                   f"links waited "
                   f"(p95 {st['wait_s']['p95']:.1f} s): that is the pool holding back a busy "
                   f"machine{more or '; more slots would only oversubscribe it'}")
    memory = machine.memory if machine is not None else None
    if memory:
        per_slot = budget * memory / n
        near = [s for s in spans if (s.record.get("anon_peak_kb") or 0) * 1024
                >= 0.9 * per_slot * s.weight]
        if near:
            worst = max(near, key=lambda s: s.record.get("anon_peak_kb") or 0)
            out.append(f"{len(near)} link(s) used 90 % or more of the memory their slots stand "
                       f"for ({_size(per_slot)} a slot: memory_budget {budget:g} of "
                       f"{_size(memory)} / {n}); {worst.label} peaked at "
                       f"{_size(worst.record['anon_peak_kb'] * 1024)}: fewer slots, or a lower "
                       f"memory_budget, give big links more weight")
        if st["most_anon_kb"] * 1024 >= 0.9 * budget * memory:
            out.append(f"links running together peaked at {_size(st['most_anon_kb'] * 1024)}, "
                       f"near the memory budget of {_size(budget * memory)}: fewer slots "
                       f"(`linkpool init --slots {max(1, n - 1)}`) avoid swapping")
    return out


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    return ""


def _secs(s: float) -> str:
    return f"{s:.3f} s" if s < 10 else f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def format_stats(st: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st["since"])) if st["since"] else ""
    head = f"pool {st['pool']}: {st['slots']} slots, {st['links']} links" + \
        (f" since {when}" if when else "") + f", {st['failures']} failed"
    if not st["links"]:
        return head
    w, r, mem = st["wait_s"], st["run_s"], st["peak_memory"]
    lines = [
        head,
        f"wait   p50 {_secs(w['p50'])}, p95 {_secs(w['p95'])}, max {_secs(w['max'])}; "
        f"{st['queued']} link(s) queued, {_secs(w['total'])} in all",
        f"run    p50 {_secs(r['p50'])}, p95 {_secs(r['p95'])}, max {_secs(r['max'])}; "
        f"{_secs(r['total'])} in all",
        f"pool   full {_secs(st['full_s'])} ({st['full_of_busy']:.0%} of the "
        f"{_secs(st['busy_s'])} in use, {st['full_fraction']:.0%} of the "
        f"{_secs(st['window']['seconds'])} window); at most {st['most_held']} of "
        f"{st['slots']} slots held",
    ]
    for key, name in (("anon_peak_kb", "anonymous"), ("max_rss_kb", "RSS")):
        if mem[key]:
            lines.append(f"memory peak {name} {_size(mem[key]['kb'] * 1024)} "
                         f"({mem[key]['output'] or '?'})")
    lines += ["", "slowest:"]
    for x in st["slowest"]:
        lines.append(f"  {_secs(x['run_s'] or 0):>9}  weight {x['weight'] or '-'}  "
                     f"{x['linker'] or '-':<5} exit {x['exit']}  {x['what'] or '?'}")
    lines += ["", *(f"hint: {h}" for h in st["hints"] or
                    ["none: the history shows no sign of a wrong capacity"])]
    return "\n".join(lines)


# -- trace -------------------------------------------------------------------------------


def _args(s: Span) -> dict[str, Any]:
    r = s.record
    keys = ("output", "weight", "threads", "linker", "exit", "wait_s", "run_s", "tail_s",
            "max_rss_kb", "anon_peak_kb", "slots")
    return {**{k: r.get(k) for k in keys}, "command": " ".join(r.get("command") or [])}


def trace(path: str, slots: int, spans: list[Span]) -> dict[str, Any]:
    """The Chrome trace-event document: one process (the pool), one thread per lane."""
    slot_lanes, wait_lanes = lanes(spans, slots)
    t0 = min((s.wait_start for s in spans), default=0.0)
    events: list[dict[str, Any]] = [{"ph": "M", "pid": 1, "tid": 0, "name": "process_name",
                                     "args": {"name": f"linkpool {path} ({slots} slots)"}}]
    for tid, (name, bars) in enumerate([*slot_lanes, *wait_lanes], start=1):
        waiting = name.startswith("waiting")
        events += [{"ph": "M", "pid": 1, "tid": tid, "name": "thread_name", "args": {"name": name}},
                   {"ph": "M", "pid": 1, "tid": tid, "name": "thread_sort_index",
                    "args": {"sort_index": tid}}]
        for a, b, s in bars:
            event = {"ph": "X", "pid": 1, "tid": tid, "name": s.label,
                     "cat": "wait" if waiting else "link", "ts": round((a - t0) * 1e6, 3),
                     "dur": round(max(0.0, b - a) * 1e6, 3), "args": _args(s)}
            if not waiting and s.record.get("exit") != 0:
                event["cname"] = "terrible"
            events.append(event)
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"pool": path, "slots": slots, "start_unix_time": t0}}


# -- command -----------------------------------------------------------------------------


DESCRIPTIONS = {
    "stats": """\
Summarise what the pool did, from its history: how many links ran and failed, their
waits and run times (p50, p95, max, total), how long the pool was full, the slowest
links, peak memory, and plain-language hints when the capacity looks wrong for this
history. Reads only; never creates a pool.
""",
    "trace": """\
Write the pool's history as a Chrome trace-event JSON file: one track per slot with
the links that held it, and the waits beside them. Open it in https://ui.perfetto.dev
or chrome://tracing. Reads only; never creates a pool.
""",
    "report": """\
Draw the pool's history as a chart: the slots over time, the links on them, the waits,
and the numbers of `linkpool stats`. .svg and .html need nothing; .png needs matplotlib
(python -m pip install 'linkpool[chart]' with linkpool's own Python; in a clone, bash
scripts/setup.sh --bench). Reads only; never creates a pool.
""",
}
SINCE_HELP = ("keep the links that ended after this moment: a duration back from now "
              "(90s, 30m, 1h, 2d, 1w) or an ISO date or time (2025-06-01, 2025-06-01T09:00, "
              "local time unless it ends in Z or +HH:MM)")


def _parser(command: str) -> Any:
    from .configfile import argument_parser

    parser = argument_parser(f"linkpool {command}", DESCRIPTIONS[command],
                             pool="the pool (default: the one `linkpool run` would use: "
                                  "$LINKPOOL_DIR, else `pool` in the config file, else the "
                                  "per-user default)")
    parser.add_argument("--since", metavar="DURATION|ISO", help=SINCE_HELP)
    if command == "stats":
        parser.add_argument("--json", action="store_true",
                            help="print the figures as JSON (for tools)")
    elif command == "trace":
        parser.add_argument("--output", metavar="FILE",
                            help="write the trace to FILE (default, or -: standard output)")
    else:
        parser.add_argument("--output", metavar="FILE.svg|.html|.png", required=True,
                            help="the chart to write; its suffix chooses the format")
    return parser


def cmd_stats(args: Sequence[str]) -> int:
    """``linkpool stats ARGS``."""
    return main("stats", args)


def cmd_trace(args: Sequence[str]) -> int:
    """``linkpool trace ARGS``."""
    return main("trace", args)


def cmd_report(args: Sequence[str]) -> int:
    """``linkpool report ARGS``."""
    return main("report", args)


def main(command: str, args: Sequence[str]) -> int:
    """``linkpool COMMAND ARGS``, COMMAND being stats, trace or report."""
    from .pool import PoolError
    from .settings import resolve

    ns = _arguments(command, args)
    since = parse_since(ns.since)
    settings = resolve({"pool": ns.pool})
    try:
        path, slots, spans = load(settings.pool, since)
    except PoolError as e:  # naming where the pool's path came from
        from .settings import about_pool

        say(about_pool(str(e), settings.pool, settings["pool"].source))
        return 1
    try:  # a lone surrogate in a recorded path is shown escaped, never an error
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    if command == "trace":
        import json

        text = json.dumps(trace(path, slots, spans), separators=(",", ":")) + "\n"
        return _write(ns.output, text)
    st = _figures(path, slots, spans, since, settings.memory_budget)
    if command == "stats":
        if ns.json:
            import json

            print(json.dumps(st, indent=2))
        else:
            print(format_stats(st))
        return 0
    return _report(ns.output, path, slots, spans, st)


def _arguments(command: str, args: Sequence[str]) -> Any:
    """The options of ``command`` (stats, trace or report), checked: UserError if wrong."""
    if command not in DESCRIPTIONS:
        raise UserError("usage: linkpool stats|trace|report [--pool DIR] [--since ...]")
    ns = _parser(command).parse_args(list(args))
    kind = os.path.splitext(ns.output)[1].lower() if command == "report" else ""
    if command == "report" and kind not in (".svg", ".html", ".htm", ".png"):
        raise UserError(f"report: --output must end in .svg, .html or .png, not {ns.output!r}")
    if kind == ".png":
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError(f"report: a .png needs matplotlib: `{chart_hint()}` "
                            f"(or write .svg or .html, which need nothing)") from None
    return ns


def chart_hint(prefix: str = sys.prefix, executable: str = sys.executable) -> str:
    """The command that installs matplotlib where this linkpool runs: in a clone's
    ``.venv`` (``prefix``), the clone's ``scripts/setup.sh --bench`` (pip would fetch
    linkpool itself from the index, not the clone); else the pip of linkpool's own Python
    (``executable``: not whichever ``pip`` is first on PATH), the extra quoted for the
    shell's globbing."""
    import shlex

    clone = os.path.dirname(prefix)
    setup = os.path.join(clone, "scripts", "setup.sh")
    if os.path.basename(prefix) == ".venv" and os.path.isfile(setup):
        try:
            with open(os.path.join(clone, "pyproject.toml"), encoding="utf-8") as f:
                ours = 'name = "linkpool"' in f.read()
        except (OSError, UnicodeDecodeError):
            ours = False
        if ours:
            return f"bash {shlex.quote(setup)} --bench"
    return f"{shlex.quote(executable)} -m pip install 'linkpool[chart]'"


def _figures(path: str, slots: int, spans: list[Span], since: float | None,
             budget: float) -> dict[str, Any]:
    """The ``stats`` of these jobs, with this machine and the pool's memory budget."""
    from .capacity import read_machine

    return stats(path, slots, spans, since, read_machine(), budget)


def _report(output: str, path: str, slots: int, spans: list[Span], st: dict[str, Any]) -> int:
    """Draw the chart ``report --output`` asks for: its suffix says .png, .html or .svg."""
    from . import chart

    kind = os.path.splitext(output)[1].lower()
    if kind == ".png":
        try:
            chart.png(path, slots, spans, output)
        except OSError as e:
            say(f"cannot write {output}: {e.strerror or e}")
            return 1
        return 0
    if kind in (".html", ".htm"):
        return _write(output, chart.html(path, slots, spans, format_stats(st)))
    return _write(output, chart.svg(path, slots, spans) + "\n")


def _write(output: str | None, text: str) -> int:
    if output in (None, "-"):
        sys.stdout.write(text)
        return 0
    try:
        with open(output, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
    except OSError as e:
        say(f"cannot write {output}: {e.strerror or e}")
        return 1
    return 0

