"""What the link engine costs: the wrapper's fast path, a 1 s link, the estimate, and the
estimate's error against measured peaks on repeat links.

    .venv/bin/python benchmarks/engine_bench.py [--rounds 30] [--megabytes 200]

Every comparison is interleaved in one run (A B C A B C ...) and reported as medians,
because this 2-core machine is noisy. Bytecode caching is on for the wrapper (the
environment here sets PYTHONDONTWRITEBYTECODE, which no installed package lives with).
Targets (issue 3): an uncontended link costs at most interpreter start-up + 5 ms more
than the bare link; <= 1 % on a 1 s link; the estimate <= 2 % of the link.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import measure_apart, workload

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
LINKPOOL = str(BIN / "linkpool")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env or ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def interleaved(cases: dict[str, list[str]], rounds: int, cwd: Path) -> dict[str, float]:
    """Median seconds of each case, run in turn ``rounds`` times (after one warm-up)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for argv in cases.values():
        timed(argv, cwd)
    for _ in range(rounds):
        for name, argv in cases.items():
            times[name].append(timed(argv, cwd))
    return {name: statistics.median(t) for name, t in times.items()}


def fast_path(work: Path, pool: Path, rounds: int) -> dict[str, float]:
    (work / "hello.cc").write_text("#include <cstdio>\nint main() { std::puts(\"hi\"); }\n")
    subprocess.run(["g++", "-c", "hello.cc", "-o", "hello.o"], cwd=work, check=True)
    run = [LINKPOOL, "run", "--pool", str(pool), "--"]
    return interleaved({
        "python -c pass": [sys.executable, "-c", "pass"],
        "g++ hello.o (bare)": ["g++", "hello.o", "-o", "h0"],
        "linkpool run -- g++ hello.o": [*run, "g++", "hello.o", "-o", "h1"],
        "linkpool run --weight 1 -- g++ hello.o": [LINKPOOL, "run", "--pool", str(pool),
                                                   "--weight", "1", "--", "g++", "hello.o",
                                                   "-o", "h2"],
        "mold: g++ -fuse-ld=mold hello.o (bare)": ["g++", "-fuse-ld=mold", "hello.o", "-o", "h3"],
        "mold: linkpool run -- g++ -fuse-ld=mold": [*run, "g++", "-fuse-ld=mold", "hello.o",
                                                    "-o", "h4"],
    }, rounds, work)


def one_second(work: Path, pool: Path, inputs: list[Path], rounds: int) -> dict[str, float]:
    """bfd, single-threaded: linkpool can only add to its time (with gold, lld or mold the
    thread tuning changes the link itself)."""
    argv = ["g++", "-fuse-ld=bfd", *map(str, inputs), "-o", "big"]
    return interleaved({"bare": argv,
                        "linkpool run": [LINKPOOL, "run", "--pool", str(pool), "--", *argv]},
                       rounds, work)


def estimate_cost(inputs: list[Path], rounds: int) -> float:
    """Median seconds of a fresh process's import of the estimate and its estimate, less
    the same process doing nothing: what the wrapper pays for it."""
    files = json.dumps([str(p) for p in inputs])
    code = ("import time, json; t = time.perf_counter()\n"
            "from linkpool.estimate import estimate_inputs, expected_memory\n"
            f"e = estimate_inputs(json.loads({files!r})); expected_memory(e, 'bfd')\n"
            "print(time.perf_counter() - t, e.method)")
    got = [subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True,
                          text=True, check=True).stdout.split() for _ in range(rounds)]
    return statistics.median(float(g[0]) for g in got)


def estimate_error(work: Path, inputs: list[Path]) -> list[dict[str, object]]:
    """Per linker: the estimate from the inputs, then from history, against the measured
    anonymous peak of the same link (sampled over its whole process tree)."""
    rows = []
    for flavour in ("bfd", "gold", "lld", "mold"):
        pool = work / f"pool-{flavour}"
        subprocess.run([LINKPOOL, "init", "--pool", str(pool), "--slots", "2"], check=True,
                       stdout=subprocess.DEVNULL)
        argv = ["g++", f"-fuse-ld={flavour}", *map(str, inputs), "-o", str(work / flavour)]
        peaks = []
        for _ in range(2):
            peaks.append(measure_apart([LINKPOOL, "run", "--pool", str(pool), "--", *argv]))
        hist = json.loads(subprocess.run([LINKPOOL, "history", "--pool", str(pool), "--json"],
                                         capture_output=True, text=True, check=True).stdout)
        anon = statistics.median(p["anon"] for p in peaks)
        rows.append({
            "linker": flavour, "anon_MB": anon / 1e6,
            "rss_MB": hist[0]["max_rss_kb"] * 1024 / 1e6,
            "inputs_est_MB": hist[0]["estimate"]["memory"] / 1e6,
            "history_est_MB": hist[1]["estimate"]["memory"] / 1e6,
            "inputs_ratio": hist[0]["estimate"]["memory"] / anon,
            "history_ratio": hist[1]["estimate"]["memory"] / anon,
            "weight": hist[1]["weight"], "run_s": hist[1]["run_s"],
        })
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--megabytes", type=int, default=200, help="size of the big workload")
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="linkpool-engine-bench-"))
    try:
        pool = work / "pool"
        subprocess.run([LINKPOOL, "init", "--pool", str(pool), "--slots", "2"], check=True,
                       stdout=subprocess.DEVNULL)
        fp = fast_path(work, pool, args.rounds)
        inputs = workload(args.cache, args.megabytes)
        big = one_second(work, pool, inputs, max(5, args.rounds // 3))
        est = estimate_cost(inputs, 9)
        errors = estimate_error(work, inputs)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    size = sum(p.stat().st_size for p in inputs) / 1e6
    print(f"# Engine benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}\n")
    print("## Fast path (hello world, medians of "
          f"{args.rounds} interleaved rounds)\n\n| command | median ms |\n| --- | ---: |")
    for name, t in fp.items():
        print(f"| `{name}` | {t * 1000:.1f} |")
    interp, bare = fp["python -c pass"], fp["g++ hello.o (bare)"]
    over = fp["linkpool run -- g++ hello.o"] - bare
    print(f"\nOverhead of `linkpool run` over the bare link: {over * 1000:.1f} ms = interpreter "
          f"start-up ({interp * 1000:.1f} ms) + {(over - interp) * 1000:.1f} ms "
          f"(target: + 5 ms or less).")
    mold_over = fp["mold: linkpool run -- g++ -fuse-ld=mold"] - \
        fp["mold: g++ -fuse-ld=mold hello.o (bare)"]
    print(f"With mold (bookkeeper fork): {mold_over * 1000:.1f} ms = interpreter + "
          f"{(mold_over - interp) * 1000:.1f} ms.\n")
    ratio = big["linkpool run"] / big["bare"]
    print(f"## A ~1 s link ({size:.0f} MB of C++ objects with -g, bfd)\n\n"
          f"bare {big['bare']:.3f} s, through linkpool {big['linkpool run']:.3f} s: "
          f"ratio {ratio:.4f} (target <= 1.01).\n")
    print(f"## The estimate on that workload\n\n{est * 1000:.1f} ms in a fresh process "
          f"(imports included) = {est / big['bare'] * 100:.2f} % of the bare link "
          f"(target <= 2 %).\n")
    print("## Estimate against the measured anonymous peak (the same link twice)\n\n"
          "| linker | anon peak MB | peak RSS MB | from inputs MB (ratio) | "
          "from history MB (ratio) | weight | run s |\n| --- | ---: | ---: | ---: | ---: | "
          "---: | ---: |")
    for r in errors:
        print(f"| {r['linker']} | {r['anon_MB']:.0f} | {r['rss_MB']:.0f} | "
              f"{r['inputs_est_MB']:.0f} ({r['inputs_ratio']:.2f}) | "
              f"{r['history_est_MB']:.0f} ({r['history_ratio']:.2f}) | {r['weight']} | "
              f"{r['run_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
