"""Benchmark of the linkpool slot pool, printed as a markdown report.

    .venv/bin/python benchmarks/pool_bench.py [--quick] [--json FILE] [--only SECTIONS]

Sections (all in one run, so that every figure is compared with its anchor side by side
on the same noisy machine):

1. cost   uncontended acquire + release in process; `linkpool run -- true` against bare
          `true` and `python -c pass`; the imports of the fast path
2. wake   release (or SIGKILL) to the next holder, against blocking flock and 10 ms polling
3. idle   CPU burnt by a long line of waiting `linkpool run` wrappers, and its drain
4. soak   cycles across many workers with random SIGKILLs, checked by an independent witness

The default run takes a few minutes on 2 cores; --quick about one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Callable

import pool_cost
import pool_idle
import pool_soak
import pool_wake
from pool_context import FULL, QUICK, Context
from pool_stats import Section, machine, targets_table

SECTIONS: dict[str, Callable[[Context], Section]] = {
    "cost": pool_cost.run,
    "wake": pool_wake.run,
    "idle": pool_idle.run,
    "soak": pool_soak.run,
}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes: about one minute")
    p.add_argument("--json", metavar="FILE", help="also write every sample and figure here")
    p.add_argument("--only", metavar="SECTIONS", default=",".join(SECTIONS),
                   help=f"comma-separated subset of: {', '.join(SECTIONS)}")
    ns = p.parse_args(argv)
    ns.only = [s.strip() for s in ns.only.split(",") if s.strip()]
    unknown = set(ns.only) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return ns


def command_line(argv: Sequence[str] | None) -> str:
    """This run's command, with the PYTHONPATH that chose which linkpool it measured."""
    args = list(sys.argv[1:] if argv is None else argv)
    words = [os.path.relpath(sys.executable), os.path.relpath(__file__), *args]
    if os.environ.get("PYTHONPATH"):
        words.insert(0, f"PYTHONPATH={os.environ['PYTHONPATH']}")
    return " ".join(words)


def header(info: dict[str, object], command: str, elapsed: float) -> str:
    return (
        f"Command: `{command}` ({elapsed:.0f} s)  \n"
        f"Run: {info['date']}; repository at {info['revision']}, `linkpool` imported from "
        f"`{info['linkpool']}`; nproc {info['nproc']}, kernel {info['kernel']}, "
        f"Python {info['python']}; pools in a scratch directory under /tmp "
        f"({info['workdir_fs']})."
    )


def report(info: dict[str, object], command: str, elapsed: float,
           sections: Sequence[Section]) -> str:
    parts = [
        "## The pool",
        header(info, command, elapsed),
        "### Targets",
        targets_table(sections),
        *(s.markdown() for s in sections),
    ]
    return "\n\n".join(parts) + "\n"


def progress(message: str) -> None:
    sys.stderr.write(f"pool_bench: {message}\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    settings = QUICK if args.quick else FULL
    t0 = time.monotonic()
    sections = []
    with Context.create(settings) as ctx:
        info = machine(ctx.workdir)
        for i, name in enumerate(args.only, 1):
            progress(f"[{i}/{len(args.only)}] {name} ({time.monotonic() - t0:.0f} s)")
            sections.append(SECTIONS[name](ctx))
    elapsed = time.monotonic() - t0
    command = command_line(argv)
    print(report(info, command, elapsed, sections), end="")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"command": command, "machine": info, "settings": vars(settings),
                       "elapsed_s": elapsed, "sections": [s.to_json() for s in sections]},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
