"""The measurements behind the default policy (docs/policy.md): four identical big links
per linker, run as fixed schedules, makespan only.

    .venv/bin/python benchmarks/policy_model.py [--rounds 3] [--links 4]

Schedules: one at a time, two at a time, all at once; each with the linker's threads
for the whole machine (T = cores) and with one thread (T = 1). Rounds are interleaved
(every schedule once per round) and medians reported, because this machine is noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import SIZES, workload

HERE = Path(__file__).resolve().parent


def thread_flags(linker: str, threads: int) -> list[str]:
    if linker == "bfd":
        return []
    if linker == "gold":
        return [] if threads == 1 else ["-Wl,--threads", f"-Wl,--thread-count={threads}"]
    return [f"-Wl,--threads={threads}"]


def makespan(argvs: list[list[str]], width: int) -> float:
    """Run ``argvs`` at most ``width`` at a time; seconds until the last one ends."""
    start, running, queue = time.perf_counter(), [], list(argvs)
    while queue or running:
        while queue and len(running) < width:
            running.append(subprocess.Popen(queue.pop(0)))
        pid, status = os.wait()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"a link failed: {status}")
        running = [p for p in running if p.pid != pid]
        for p in running:
            p.returncode = None
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--links", type=int, default=4)
    ap.add_argument("--linkers", default="mold,lld,gold,bfd")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    ap.add_argument("--sizes", default="", help="MB of objects per linker, e.g. lld=480")
    args = ap.parse_args()
    for item in filter(None, args.sizes.split(",")):
        name, _, megabytes = item.partition("=")
        SIZES[name] = int(megabytes)
    cores = len(os.sched_getaffinity(0))
    out = Path(tempfile.mkdtemp(prefix="linkpool-policy-model-"))
    print(f"# {args.links} identical links, {cores} cores, medians of {args.rounds} rounds\n")
    print("| linker | MB | schedule | T | makespan s | per link s | x best |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for linker in args.linkers.split(","):
        inputs = [str(p) for p in workload(args.cache, SIZES[linker])]
        cases = {}
        for width, name in ((1, "one at a time"), (2, "two at a time"),
                            (args.links, "all at once")):
            for threads in sorted({cores, 1} if linker != "bfd" else {1}, reverse=True):
                argvs = [["g++", f"-fuse-ld={linker}", *thread_flags(linker, threads), *inputs,
                          "-o", str(out / f"{linker}{i}")] for i in range(args.links)]
                cases[(name, threads)] = (argvs, width)
        times: dict[tuple[str, int], list[float]] = {k: [] for k in cases}
        for _ in range(args.rounds):
            for key, (argvs, width) in cases.items():
                times[key].append(makespan(argvs, width))
                for f in out.iterdir():
                    f.unlink()
        med = {k: statistics.median(v) for k, v in times.items()}
        best = min(med.values())
        for (name, threads), t in med.items():
            print(f"| {linker} | {SIZES[linker]} | {name} | {threads} | {t:.2f} | "
                  f"{t / args.links:.2f} | {t / best:.2f} |", flush=True)
    out.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
