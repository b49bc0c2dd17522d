"""A lone link while the build's other jobs still run: 1 thread or every core?

    .venv/bin/python benchmarks/lone_busy.py [--rounds 5] [--linkers lld,mold]
        [--sizes lld=480,mold=800]

On this machine's cores, each round runs, interleaved, a link with ``--threads=1`` and
with ``--threads=C`` (C = the usable cores):

- beside ``C - 1`` busy-looping processes (a compile that keeps a core busy for longer
  than the link): the link's wall time and CPU time;
- beside one real job of finite CPU work, started with the link (a compile-sized
  busy loop of ``--job`` CPU-seconds): the link's wall time and the time until both are
  done (the build's makespan for that step).

Prints a markdown table of medians over the rounds, and the load average before and
after (the machine's own noise).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import workload

HERE = Path(__file__).resolve().parent
SPIN = "while :; do :; done"


def spinner() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sh", "-c", SPIN])


def job(cpu_s: float) -> subprocess.Popen[bytes]:
    """A process that burns ``cpu_s`` CPU-seconds and exits (its wall time grows when it
    shares a core)."""
    code = (f"import time\nt = time.process_time() + {cpu_s!r}\n"
            "while time.process_time() < t: pass\n")
    return subprocess.Popen([sys.executable, "-c", code])


def _children() -> set[int]:
    found: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as f:
            found |= {int(w) for w in f.read().split()}
    return found


def link(argv: list[str], others: set[int]) -> tuple[float, float]:
    """Wall time until the link answers, and the CPU time of its whole tree (mold's
    forked child included: this process is a subreaper)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"lone_busy: link failed: {argv[:3]}")
    cpu = usage.ru_utime + usage.ru_stime
    while True:  # mold's child, orphaned to us
        rest = _children() - others
        if not rest:
            return wall, cpu
        _, _, usage = os.wait4(rest.pop(), 0)
        cpu += usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--linkers", default="lld,mold")
    ap.add_argument("--sizes", default="lld=480,mold=800")
    ap.add_argument("--job", type=float, default=1.0, help="CPU-seconds of the finite job")
    args = ap.parse_args()
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: mold's child
    sizes = {k: int(v) for k, _, v in (s.partition("=") for s in args.sizes.split(","))}
    cores = len(os.sched_getaffinity(0))
    out = Path(tempfile.mkdtemp(prefix="linkpool-lone-busy-"))
    load0 = os.getloadavg()
    print(f"# lone link beside other work: {cores} cores, medians of {args.rounds} rounds\n")
    print("| linker | MB | beside | threads | link wall s | link CPU s | both done s |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    try:
        for linker in args.linkers.split(","):
            inputs = [str(p) for p in workload(HERE / ".cache", sizes[linker])]
            argv = ["g++", f"-fuse-ld={linker}", *inputs, "-o", str(out / "app")]
            link(argv, set())  # warm the page cache
            cases = [(beside, t) for beside in ("idle", "spinning", "job") for t in
                     sorted({1, cores})]
            wall: dict[tuple[str, int], list[float]] = {c: [] for c in cases}
            cpu: dict[tuple[str, int], list[float]] = {c: [] for c in cases}
            both: dict[tuple[str, int], list[float]] = {c: [] for c in cases}
            for _ in range(args.rounds):
                for beside, t in cases:
                    cmd = [*argv[:2], f"-Wl,--threads={t}", *argv[2:]]
                    others = []
                    start = time.perf_counter()
                    if beside == "spinning":
                        others = [spinner() for _ in range(cores - 1)]
                        time.sleep(0.2)  # running before the link starts, as compiles are
                        start = time.perf_counter()
                    elif beside == "job":
                        others = [job(args.job)]
                    w, c = link(cmd, {p.pid for p in others})
                    if beside == "spinning":
                        for p in others:
                            p.kill()
                    for p in others:
                        p.wait()
                    wall[(beside, t)].append(w)
                    cpu[(beside, t)].append(c)
                    both[(beside, t)].append(time.perf_counter() - start)
            for beside, t in cases:
                done = (f"{statistics.median(both[(beside, t)]):.3f}" if beside == "job"
                        else "-")
                what = {"idle": "nothing", "spinning": f"{cores - 1} busy loop(s)",
                        "job": f"one {args.job:g} CPU-s job"}[beside]
                print(f"| {linker} | {sizes[linker]} | {what} | {t} | "
                      f"{statistics.median(wall[(beside, t)]):.3f} | "
                      f"{statistics.median(cpu[(beside, t)]):.3f} | {done} |", flush=True)
    finally:
        for f in out.iterdir():
            f.unlink()
        out.rmdir()
    load1 = os.getloadavg()
    print(f"\nload average before {load0[0]:.2f}, after {load1[0]:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
