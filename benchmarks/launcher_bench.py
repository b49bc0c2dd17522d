"""What starting linkpool costs: the `linkpool` front door (C; a subcommand execs
`python -I linkpool-py`) against the console script pip used to generate, the interpreter
alone, and the bare command, on an uncontended `linkpool run -- true` and on a hello-world link.

    bash scripts/bench.sh launcher [--rounds 40] [--baseline OTHER/.venv/bin/linkpool]

Every case runs in turn (A B C ... A B C) after a warm-up, so the machine's noise falls on
all of them alike; the table gives the median and the 10th-90th percentile range in ms.
The console script is rebuilt here exactly as pip writes it (`#!PYTHON`, `import re`,
`import sys`, `from linkpool.cli import entry`) and run with the same arguments.
``--baseline`` adds the same cases through another install's `linkpool` (for example a
checkout of an older commit set up with `bash scripts/setup.sh`), with a pool of its own.
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

BIN = Path(sys.executable).parent
LINKPOOL = str(BIN / "linkpool")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

CONSOLE_SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from linkpool.cli import entry
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(entry())
"""


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="runs of each case")
    parser.add_argument("--baseline", metavar="LINKPOOL",
                        help="another install's linkpool command, timed beside this one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        old = work / "linkpool-console-script"
        old.write_text(CONSOLE_SCRIPT.format(python=sys.executable))
        old.chmod(0o755)
        (work / "hello.c").write_text("int main(void) { return 0; }\n")
        subprocess.run(["gcc", "-c", "hello.c"], cwd=work, check=True)
        pool = work / "pool"
        subprocess.run([LINKPOOL, "init", "--pool", str(pool), "--slots", "2"], check=True,
                       stdout=subprocess.DEVNULL)
        env = {**ENV, "LINKPOOL_DIR": str(pool), "XDG_CONFIG_HOME": str(work / "config-home")}
        pip_env = {**env, "PYTHONNOUSERSITE": "1", "PYTHONPATH": str(work / "overlay")}
        (work / "overlay").mkdir()
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "python -I -c pass": ([sys.executable, "-I", "-c", "pass"], env),
            "console script: run -- true": ([str(old), "run", "--", "true"], env),
            "launcher: run -- true": ([LINKPOOL, "run", "--", "true"], env),
            "launcher: run -- true (pip-isolation env)": ([LINKPOOL, "run", "--", "true"],
                                                          pip_env),
            "gcc hello.o (bare)": (["gcc", "hello.o", "-o", "h0"], env),
            "console script: gcc hello.o": ([str(old), "gcc", "hello.o", "-o", "h1"], env),
            "launcher: gcc hello.o": ([LINKPOOL, "gcc", "hello.o", "-o", "h2"], env),
        }
        if args.baseline:
            base_pool = work / "base-pool"
            subprocess.run([args.baseline, "init", "--pool", str(base_pool), "--slots", "2"],
                           check=True, stdout=subprocess.DEVNULL)
            base_env = {**env, "LINKPOOL_DIR": str(base_pool)}
            cases["baseline: run -- true"] = ([args.baseline, "run", "--", "true"], base_env)
            cases["baseline: gcc hello.o"] = ([args.baseline, "gcc", "hello.o", "-o", "h3"],
                                              base_env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for argv, case_env in cases.values():
            timed(argv, work, case_env)
        for _ in range(args.rounds):
            for name, (argv, case_env) in cases.items():
                times[name].append(timed(argv, work, case_env))
        # the last records are written after the answer: wait for them (history does)
        # before the folder is removed under their writers
        subprocess.run([LINKPOOL, "history", "--pool", str(pool)], stdout=subprocess.DEVNULL)
        if args.baseline:
            subprocess.run([args.baseline, "history", "--pool", str(base_pool)],
                           stdout=subprocess.DEVNULL)
    print(f"| case ({args.rounds} rounds, interleaved) | median ms | p10-p90 ms |")
    print("| --- | ---: | ---: |")
    for name, values in times.items():
        ms = [v * 1000 for v in values]
        print(f"| {name} | {statistics.median(ms):.1f} | "
              f"{percentile(ms, 0.1):.1f}-{percentile(ms, 0.9):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
