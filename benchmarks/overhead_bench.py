"""What linkpool adds to a link it does not have to wait for: the same command bare and
through the `linkpool` launcher, paired round by round, against the interpreter's start.

    bash scripts/bench.sh overhead [--rounds 30] [--megabytes 160] [--steps 30]

Cases: a hello-world link (g++, one object), the same through mold (linkpool's mold path
forks a bookkeeper), and a big link of ``--megabytes`` MB of C++ objects through mold,
lld and bfd. Each round runs, in turn, ``python -I -c pass`` (the interpreter's start,
which the launcher also pays), the bare command and the command through linkpool on an
uncontended pool of its own; the order of bare and linkpool alternates between rounds.
"added" is the median of the per-round differences (linkpool - bare); "beyond the
interpreter" is that less the median interpreter start. The target (issue 13): added <=
interpreter start + 5 ms for every size.

Then the module count of a hello link (the modules the interpreter's own start does not
import), and the median cost of each step of the wrapper, timed inside
one process per link (``--steps`` links) by wrapping the engine's functions: what is
still between the build's call and the linker's start, and between its exit and the
answer.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from workload import workload

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
LINKPOOL = str(BIN / "linkpool")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
INTERP = [sys.executable, "-I", "-c", "pass"]


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (the command's whole tree) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def paired(name: str, bare: list[str], rounds: int, cwd: Path, env: dict[str, str]
           ) -> dict[str, Any]:
    """``rounds`` rounds of interpreter, bare, linkpool (bare and linkpool alternating)."""
    through = [LINKPOOL, *bare]
    for argv in (INTERP, bare, through):  # warm-up: page cache, bytecode, history
        timed(argv, cwd, env)
    interp, walls, lps, diffs, cpu_diffs = [], [], [], [], []
    for i in range(rounds):
        interp.append(timed(INTERP, cwd, env)[0])
        order = (bare, through) if i % 2 == 0 else (through, bare)
        got = {id(argv): timed(argv, cwd, env) for argv in order}
        (bw, bc), (lw, lc) = got[id(bare)], got[id(through)]
        walls.append(bw)
        lps.append(lw)
        diffs.append(lw - bw)
        cpu_diffs.append(lc - bc)
    added, start = statistics.median(diffs), statistics.median(interp)
    return {"case": name, "rounds": rounds, "bare": statistics.median(walls),
            "linkpool": statistics.median(lps), "added": added,
            "added_p10": pct(diffs, 0.1), "added_p90": pct(diffs, 0.9),
            "interp": start, "beyond": added - start, "cpu_added": statistics.median(cpu_diffs),
            "met": added <= start + 0.005}


MODULES = r"""
import sys
base = set(sys.modules)
sys.argv = ["linkpool", *sys.argv[1:]]
from linkpool import cli
try:
    cli.main()
except SystemExit:
    pass
print(" ".join(sorted(set(sys.modules) - base)), file=sys.__stderr__)
"""


def module_count(cwd: Path, env: dict[str, str], argv: list[str]) -> dict[str, Any]:
    """The modules a link imports beyond the interpreter's start (``python -I``), as the
    wrapper's process holds them at the end (``-X importtime`` misses those imported
    after its output is flushed)."""
    err = subprocess.run([sys.executable, "-I", "-c", MODULES, *argv], cwd=cwd, env=env,
                         capture_output=True, text=True).stderr
    extra = err.strip().splitlines()[-1].split()
    return {"modules": len(extra), "linkpool": [m for m in extra if m.startswith("linkpool")],
            "other": [m for m in extra if not m.startswith("linkpool")]}


STEPS = r"""
import json, sys, time
t0 = time.perf_counter()
marks = {}
def mark(name):
    marks.setdefault(name, time.perf_counter() - t0)
from linkpool import cli, engine, process
mark("imports (cli, engine, process)")
E = engine.Engine
def wrap(owner, attr, before, after):
    orig = getattr(owner, attr)
    def f(*a, **k):
        mark(before)
        try:
            return orig(*a, **k)
        finally:
            mark(after)
    setattr(owner, attr, f)
wrap(E, "_prepare", "settings, plugins, classify, pool open", "machine, linker, estimate, weight")
import linkpool.pool as P
wrap(P.Pool, "acquire", "before_acquire", "acquire")
orig_spawn = process._spawn
def spawn(*a, **k):
    mark("tune, after_acquire")
    pid = orig_spawn(*a, **k)
    mark("spawn")
    return pid
process._spawn = spawn
orig_wait4 = process.os.wait4
def wait4(*a, **k):
    got = orig_wait4(*a, **k)
    if got[0]:
        mark("the link (linker's run)")
    return got
process.os.wait4 = wait4
sys.argv = ["linkpool", *sys.argv[1:]]
try:
    cli.main()
except SystemExit:
    pass
mark("after the linker's exit: status, after_link")
names = sorted(marks, key=marks.get)
out, prev = {}, 0.0
for n in names:
    out[n] = marks[n] - prev
    prev = marks[n]
print(json.dumps(out), file=sys.__stderr__)
"""


def steps(cwd: Path, env: dict[str, str], argv: list[str], rounds: int) -> dict[str, float]:
    got: dict[str, list[float]] = {}
    for _ in range(rounds):
        err = subprocess.run([sys.executable, "-I", "-c", STEPS, *argv], cwd=cwd, env=env,
                             capture_output=True, text=True).stderr
        for name, t in json.loads(err.strip().splitlines()[-1]).items():
            got.setdefault(name, []).append(t)
    return {name: statistics.median(t) for name, t in got.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--big-rounds", type=int, default=10)
    ap.add_argument("--megabytes", type=int, default=160)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="linkpool-overhead-"))
    try:
        env = dict(ENV, LINKPOOL_DIR=str(work / "pool"))
        env.pop("LINKPOOL_CONFIG", None)
        (work / "hello.cc").write_text("#include <cstdio>\nint main() { std::puts(\"hi\"); }\n")
        subprocess.run(["g++", "-c", "hello.cc", "-o", "hello.o"], cwd=work, check=True)
        inputs = [str(p) for p in workload(args.cache, args.megabytes)]
        size = sum(os.stat(p).st_size for p in inputs) / 1e6
        cases = [("hello, g++ (bfd)", ["g++", "hello.o", "-o", "h"], args.rounds),
                 ("hello, g++ -fuse-ld=mold", ["g++", "-fuse-ld=mold", "hello.o", "-o", "hm"],
                  args.rounds)]
        for linker in ("mold", "lld", "bfd"):
            cases.append((f"{size:.0f} MB, {linker}",
                          ["g++", f"-fuse-ld={linker}", *inputs, "-o", f"big-{linker}"],
                          args.big_rounds))
        rows = [paired(name, argv, rounds, work, env) for name, argv, rounds in cases]
        mods = module_count(work, env, ["g++", "hello.o", "-o", "h"])
        step = steps(work, env, ["g++", "hello.o", "-o", "h"], args.steps)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"Overhead benchmark, {time.strftime('%Y-%m-%d')}: {os.cpu_count()} CPUs, Python "
          f"{sys.version.split()[0]}, an uncontended pool; {time.time() - started:.0f} s in "
          "all.\n")
    print("| link | rounds | bare ms | through linkpool ms | added ms (p10-p90) | "
          "interpreter start ms | added beyond the interpreter ms | CPU added ms | "
          "target |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['case']} | {r['rounds']} | {r['bare'] * 1e3:.1f} | "
              f"{r['linkpool'] * 1e3:.1f} | {r['added'] * 1e3:+.1f} "
              f"({r['added_p10'] * 1e3:+.1f} to {r['added_p90'] * 1e3:+.1f}) | "
              f"{r['interp'] * 1e3:.1f} | {r['beyond'] * 1e3:+.1f} | "
              f"{r['cpu_added'] * 1e3:+.1f} | "
              f"{'met' if r['met'] else 'missed'} |")
    print(f"\nModules a hello link imports beyond the interpreter's start: {mods['modules']} "
          f"({len(mods['linkpool'])} of linkpool's: "
          f"{', '.join(m.removeprefix('linkpool.') for m in mods['linkpool'])}; "
          f"others: {', '.join(mods['other']) or 'none'}).\n")
    print(f"Steps of a hello link inside the wrapper, medians of {args.steps} links (ms, "
          "from the interpreter's hand-over to linkpool):\n\n| step | ms |\n| --- | ---: |")
    for name, t in step.items():
        print(f"| {name} | {t * 1e3:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "modules": mods, "steps": step},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
