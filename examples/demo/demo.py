"""The linkpool demo: several builds link at once through one small pool.

It compiles a few C programs, then starts every link of every "build" at the same moment,
each through `linkpool run`, and watches the pool while they run: the links queue for the
pool's slots instead of all running at once. Usage:

    python examples/demo/demo.py [--builds 3] [--links 3] [--slots 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from linkpool.cli import format_status
from linkpool.pool import Pool

HERE = Path(__file__).resolve().parent
LINKPOOL = shutil.which("linkpool") or str(Path(sys.executable).parent / "linkpool")


def write_sources(work: Path, builds: int, links: int) -> list[tuple[list[Path], Path]]:
    """Each build has a library of generated functions and `links` programs using it."""
    jobs = []
    for b in range(builds):
        src = work / f"build{b}"
        src.mkdir(parents=True, exist_ok=True)
        funcs = [
            f"int b{b}_f{i}(int x) {{ int s = {i}; for (int j = 0; j < x; j++) s += j * {i % 13}; "
            f"return s; }}"
            for i in range(600)
        ]
        (src / "lib.c").write_text("\n".join(funcs) + "\n")
        for k in range(links):
            (src / f"prog{k}.c").write_text(
                f'#include <stdio.h>\nint b{b}_f{k}(int);\n'
                f'int main(void) {{ printf("build {b} program {k}: %d\\n", b{b}_f{k}(3)); '
                f"return 0; }}\n"
            )
            jobs.append(([src / f"prog{k}.c", src / "lib.c"], src / f"prog{k}"))
    return jobs


def compile_all(cc: str, sources: set[Path]) -> None:
    def one(c: Path) -> None:
        subprocess.run([cc, "-g", "-O1", "-c", str(c), "-o", str(c.with_suffix(".o"))], check=True)

    with ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        list(ex.map(one, sorted(sources)))


def link_all(cc: str, jobs: list[tuple[list[Path], Path]], work: Path, pool_dir: Path
             ) -> tuple[list[int], int, dict | None]:
    """Start every link at once through the pool; (their statuses, the most slots seen in
    use, the busiest status seen)."""
    procs = [
        subprocess.Popen(
            [LINKPOOL, "run", "--pool", str(pool_dir), "--", cc,
             *(str(s.with_suffix(".o").relative_to(work)) for s in srcs),
             "-o", str(out.relative_to(work))],
            cwd=work,
        )
        for srcs, out in jobs
    ]
    most, busiest = 0, None
    with Pool.open(str(pool_dir)) as pool:
        while any(p.poll() is None for p in procs):
            st = pool.status()
            most = max(most, st["in_use"])
            if busiest is None or (st["in_use"], st["waiting"]) > \
                    (busiest["in_use"], busiest["waiting"]):
                busiest = st
            time.sleep(0.002)
    return [p.wait() for p in procs], most, busiest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--builds", type=int, default=3)
    ap.add_argument("--links", type=int, default=3)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--work", type=Path, default=HERE / "build")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    args = ap.parse_args()
    work: Path = args.work.resolve()
    pool_dir = work / "pool"
    shutil.rmtree(pool_dir, ignore_errors=True)  # the demo's own pool: a fresh history each run
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run([LINKPOOL, "init", "--pool", str(pool_dir), "--slots", str(args.slots)],
                   check=True)

    jobs = write_sources(work, args.builds, args.links)
    print(f"compiling {len({s for srcs, _ in jobs for s in srcs})} C files ...", flush=True)
    compile_all(args.cc, {s for srcs, _ in jobs for s in srcs})

    n = len(jobs)
    # A first build: each link is planned by Python (docs/plans.md) and measured; the
    # demo watches the rebuild that follows, whose links are planned from what they
    # measured.
    print(f"linking {n} programs once (each link is planned the first time) ...", flush=True)
    if any(link_all(args.cc, jobs, work, pool_dir)[0]):
        print("demo: some links failed", file=sys.stderr)
        return 1
    print(f"starting {n} links from {args.builds} builds at once through a "
          f"{args.slots}-slot pool", flush=True)
    start = time.monotonic()
    codes, most, busiest = link_all(args.cc, jobs, work, pool_dir)
    if busiest is not None:
        print("\n$ linkpool status   # while the links ran (the busiest moment seen)")
        print(format_status(busiest))
    took = time.monotonic() - start
    if any(codes):
        print(f"demo: some links failed: {codes}", file=sys.stderr)
        return 1
    for _, out in jobs:
        subprocess.run([str(out)], check=True)
    print(f"\n{n} links finished in {took:.2f} s; at most {most} of {args.slots} slots were "
          f"ever in use at once.")
    print("\n$ linkpool status   # afterwards", flush=True)
    subprocess.run([LINKPOOL, "status", "--pool", str(pool_dir)], check=True)
    trace = work / "trace.json"
    print(f"\n$ linkpool trace --output {trace}", flush=True)
    subprocess.run([LINKPOOL, "trace", "--pool", str(pool_dir), "--output", str(trace)],
                   check=True)
    print(f"wrote {trace}: open it in Perfetto (ui.perfetto.dev) or chrome://tracing to see "
          f"each slot's links and the waits.")
    print("\n$ linkpool stats", flush=True)
    subprocess.run([LINKPOOL, "stats", "--pool", str(pool_dir)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
