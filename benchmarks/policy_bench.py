"""Link policies side by side: concurrent real builds of big C++ links under each policy.

    bash scripts/bench.sh policy          # sets up (mold, lld, ninja, matplotlib), runs this
    .venv/bin/python benchmarks/policy_bench.py [--rounds 2] [--linkers mold,lld,gold,bfd]

Every build is a real ninja build of L link edges over the cached workload
(``workload.py``: C++ objects with templates and -g, sized so that a lone link takes
about 2 s; ``SCENARIO_SIZES``). A
scenario starts B such builds at once (``ninja -j L`` each) and waits for all of them.
Policies, run in turn in every round and reported as medians:

- unthrottled: no limit (ninja's -j only);
- ninja pool 1 / ninja pool 2: each build's link rule in a ninja pool of that depth, the
  per-build limit CMake's JOB_POOL_LINK and Meson's backend_max_links give;
- MOLD_JOBS=1: mold's own lock (mold only);
- linkpool: the link command run through ``linkpool`` on one machine-wide pool created
  with the defaults (``linkpool init``), nothing tuned. Each linker and scenario has its
  own pool: its first build runs on the empty pool (the row "linkpool, first build": no
  history, the built-in constants), and every later run of the rounds on the same pool,
  whose history has seen the linker (the row "linkpool": what it learnt, exploring
  included).

A row's spread is its slowest round less its fastest. The linkpool row is judged on
medians of at least three rounds (``--rounds``, 3 by default): "met" when it is no slower
than the best fixed policy of its row, and no slower than unthrottled by more than the
larger of the two rows' spreads; else "missed" with the gap.

Measured per run: makespan; each link's time as ninja logs it (waiting included); CPU
of all processes; the peak of MemTotal - MemAvailable above the level before the run,
sampled every 20 ms; failed links. A memory-capped scenario runs bfd builds inside a
cgroup (v1 ``memory.limit_in_bytes`` or v2 ``memory.max``) limited to 3x one link's
anonymous peak, where four unthrottled links cannot fit, and counts OOM kills. A lone-link
row compares one link through linkpool on an idle pool with the bare link (one pool for
all its rounds: the later rounds run what the earlier ones taught, a try of half the
threads included where the lone links did not keep every core busy).

Writes the tables to stdout and, with --out DIR, policy.md, policy.json and policy.png
(the chart needs matplotlib: the ``chart`` extra).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import SIZES, measure_apart, workload

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
LINKPOOL = str(BIN / "linkpool")
NINJA = shutil.which("ninja", path=f"{BIN}:{os.environ.get('PATH', '')}") or "ninja"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
SCENARIOS = ((1, 4), (2, 3))  # (builds, links per build)
# MB of objects per link in the scenarios: workload.SIZES (a lone link takes ~2 s), but
# half of it for mold, whose 840 MB outputs at full size make its rows take as long as all
# the others together; the lone link and the capped scenario use workload.SIZES.
SCENARIO_SIZES = dict(SIZES, mold=SIZES["mold"] // 2)
FIXED = ("unthrottled", "ninja pool 1", "ninja pool 2", "MOLD_JOBS=1")
FIRST = "linkpool, first build"
POLICIES = (*FIXED, "linkpool")
JUDGED_ROUNDS = 3  # a row is called met or missed on medians of at least this many


def policies_for(linker: str) -> list[str]:
    return [p for p in POLICIES if p != "MOLD_JOBS=1" or linker == "mold"]


# -- one run, in a process of its own ----------------------------------------------------

def _used() -> int:
    """MemTotal - MemAvailable, bytes."""
    fields = {}
    with open("/proc/meminfo", "rb") as f:
        for line in f:
            key, _, rest = line.partition(b":")
            if key in (b"MemTotal", b"MemAvailable"):
                fields[key] = int(rest.split()[0]) * 1024
    return fields[b"MemTotal"] - fields[b"MemAvailable"]


def _oom_kills(cgroup: str | None) -> int:
    if not cgroup:
        return 0
    for name in ("memory.oom_control", "memory.events"):  # v1, v2
        try:
            with open(os.path.join(cgroup, name)) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            continue
    return 0


def run_builds(spec: dict[str, object]) -> dict[str, object]:
    """Start every build of ``spec`` at once; the figures of this run (see the module)."""
    cgroup = spec.get("cgroup")
    if cgroup:
        with open(os.path.join(str(cgroup), "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: mold's teardown child
    env = dict(ENV, **dict(spec["env"]))  # type: ignore[call-overload]
    base, ooms = _used(), _oom_kills(cgroup)  # type: ignore[arg-type]
    start = time.perf_counter()
    procs = {}
    for d in spec["builds"]:  # type: ignore[attr-defined]
        with open(os.path.join(d, "ninja.out"), "wb") as out:
            procs[subprocess.Popen([NINJA, "-C", d, "-j", str(spec["jobs"]), "-k", "0"],
                                   stdout=out, stderr=subprocess.STDOUT, env=env).pid] = d
    peak, codes, end = 0, {}, 0.0
    while True:
        peak = max(peak, _used() - base)
        while True:
            try:
                pid, status, _ = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                pid = -1
            if pid <= 0:
                break
            if pid in procs:
                codes[procs[pid]] = os.waitstatus_to_exitcode(status)
                if len(codes) == len(procs):
                    end = time.perf_counter()  # the builds are done: that is the makespan
        if pid == -1:
            break
        time.sleep(0.02)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    links, failed = [], 0
    for d in spec["builds"]:  # type: ignore[attr-defined]
        failed += Path(d, "ninja.out").read_text(errors="replace").count("FAILED: ")
        for line in Path(d, ".ninja_log").read_text().splitlines()[1:]:
            fields = line.split("\t")
            links.append((int(fields[1]) - int(fields[0])) / 1000)
    return {"makespan": end - start, "links": links, "cpu": usage.ru_utime + usage.ru_stime,
            "mem_peak": peak, "failed": failed, "codes": list(codes.values()),
            "oom_kills": _oom_kills(cgroup) - ooms}  # type: ignore[arg-type]


def run_apart(spec: dict[str, object]) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "_run", json.dumps(spec)], check=True,
                         capture_output=True, text=True, env=ENV, timeout=1800).stdout
    return json.loads(out)


# -- the builds --------------------------------------------------------------------------

def write_build(d: Path, linker: str, inputs: list[str], links: int, policy: str) -> None:
    d.mkdir(parents=True)
    prefix = f"{LINKPOOL} " if policy == "linkpool" else ""
    lines = ["ninja_required_version = 1.5"]
    pool = ""
    if policy.startswith("ninja pool "):
        lines += ["pool link_pool", f"  depth = {policy.split()[-1]}"]
        pool = "  pool = link_pool"
    lines += ["rule link", f"  command = {prefix}g++ -fuse-ld={linker} $in -o $out",
              "  description = LINK $out"]
    lines += [pool] if pool else []
    lines += [f"build out{i}: link {' '.join(inputs)}" for i in range(links)]
    d.joinpath("build.ninja").write_text("\n".join(lines) + "\n")


def new_pool(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    subprocess.run([LINKPOOL, "init", "--pool", str(path)], check=True, env=ENV,
                   stdout=subprocess.DEVNULL)


def one_run(work: Path, linker: str, inputs: list[str], builds: int, links: int,
            policy: str, cgroup: str | None = None,
            pool: Path | None = None) -> dict[str, object]:
    """One run of ``policy``; linkpool on ``pool`` (made if missing; None: a fresh pool,
    no history)."""
    runs = work / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    dirs = [runs / f"build{b}" for b in range(builds)]
    for d in dirs:
        write_build(d, linker, inputs, links, policy)
    env = {"MOLD_JOBS": "1"} if policy == "MOLD_JOBS=1" else {}
    if policy == "linkpool":
        if pool is None or not pool.exists():
            pool = pool or work / "pool"
            new_pool(pool)  # a fresh pool: no history, estimates from the inputs
        env.update(LINKPOOL_DIR=str(pool), LINKPOOL_QUIET="1")
    os.sync()  # the previous run's outputs are not written back during this one
    started = time.time()
    result = run_apart({"builds": [str(d) for d in dirs], "jobs": links, "env": env,
                        "cgroup": cgroup})
    shutil.rmtree(runs, ignore_errors=True)
    if policy == "linkpool":  # what linkpool chose for this run's links: slots, threads, met
        for _ in range(40):  # mold's records come when its child has exited
            records = [r for r in json.loads(subprocess.run(
                [LINKPOOL, "history", "--pool", str(pool), "--json"], env=ENV,
                capture_output=True, text=True, check=True).stdout)
                if float(r.get("time") or 0) >= started]
            if len(records) >= builds * links:
                break
            time.sleep(0.05)
        result["chosen"] = [[r.get("weight"), r.get("threads"), r.get("met"),
                             (r.get("plan") or {}).get("explore")] for r in records]
    return result


def scenario_rows(work: Path, linker: str, inputs: list[str], rounds: int,
                  log: list[dict[str, object]]) -> list[dict[str, object]]:
    rows = []
    for builds, links in SCENARIOS:
        results: dict[str, list[dict[str, object]]] = {p: [] for p in policies_for(linker)}
        pool = work / f"pool-{linker}-{builds}x{links}"  # this scenario's history
        shutil.rmtree(pool, ignore_errors=True)
        first = one_run(work, linker, inputs, builds, links, "linkpool", pool=pool)
        first.update(linker=linker, builds=builds, links_per_build=links, policy=FIRST)
        log.append(first)
        for _ in range(rounds):
            for policy in results:
                r = one_run(work, linker, inputs, builds, links, policy, pool=pool)
                r.update(linker=linker, builds=builds, links_per_build=links, policy=policy)
                log.append(r)
                results[policy].append(r)
        results[FIRST] = [first]
        rows += summarise(linker, f"{builds} x {links}", results)
        shutil.rmtree(pool, ignore_errors=True)
    return rows


def summarise(linker: str, scenario: str,
              results: dict[str, list[dict[str, object]]]) -> list[dict[str, object]]:
    rows = []
    for policy, runs in results.items():
        per_link = [t for r in runs for t in r["links"]]  # type: ignore[attr-defined]
        rows.append({
            "linker": linker, "scenario": scenario, "policy": policy,
            "makespan": statistics.median(r["makespan"] for r in runs),  # type: ignore[misc]
            "makespan_min": min(r["makespan"] for r in runs),  # type: ignore[type-var]
            "makespan_max": max(r["makespan"] for r in runs),  # type: ignore[type-var]
            "link_median": statistics.median(per_link) if per_link else 0.0,
            "link_max": max(per_link, default=0.0),
            "cpu": statistics.median(r["cpu"] for r in runs),  # type: ignore[misc]
            "mem_peak": max(r["mem_peak"] for r in runs),  # type: ignore[type-var]
            "failed": sum(r["failed"] for r in runs),  # type: ignore[misc]
            "oom_kills": sum(r["oom_kills"] for r in runs),  # type: ignore[misc]
            "runs": len(runs),
        })
    fixed = [r["makespan"] for r in rows if r["policy"] in FIXED and not r["failed"]]
    best = min(fixed) if fixed else None  # type: ignore[type-var]
    by_policy = {r["policy"]: r for r in rows}
    for r in rows:
        ok = best and not r["failed"]
        r["x_best_fixed"] = r["makespan"] / best if ok else None  # type: ignore[operator]
        r["spread"] = r["makespan_max"] - r["makespan_min"]  # type: ignore[operator]
        r["verdict"] = verdict(r, by_policy.get("unthrottled")) if r["policy"] == "linkpool" \
            else None
    return rows


def verdict(row: dict[str, object], unthrottled: dict[str, object] | None) -> str:
    """"met", or "missed" with the gaps, or "not judged" on fewer than JUDGED_ROUNDS."""
    if int(row["runs"]) < JUDGED_ROUNDS:  # type: ignore[call-overload]
        return f"not judged ({row['runs']} round(s))"
    if row["failed"] or row["x_best_fixed"] is None:
        return "missed (failed links)"
    gaps = []
    x = float(row["x_best_fixed"])  # type: ignore[arg-type]
    if x > 1.0:
        gaps.append(f"{(x - 1) * 100:.0f} % behind the best fixed")
    if unthrottled is not None and not unthrottled["failed"]:
        behind = float(row["makespan"]) - float(unthrottled["makespan"])  # type: ignore[arg-type]
        allowed = max(float(row["spread"]), float(unthrottled["spread"]))  # type: ignore[arg-type]
        if behind > allowed:
            gaps.append(f"{behind:.2f} s behind unthrottled, spread {allowed:.2f} s")
    return "missed: " + "; ".join(gaps) if gaps else "met"


# -- the lone link and the memory cap --------------------------------------------------

def recorded(pool: Path, count: int) -> dict[str, float]:
    """The ``count``-th record of the pool's history, once it is there (mold's is written
    by the bookkeeper when mold's child has exited, after linkpool answered)."""
    for _ in range(200):
        records = json.loads(subprocess.run(
            [LINKPOOL, "history", "--pool", str(pool), "--json"], env=ENV,
            capture_output=True, text=True, check=True).stdout)
        if len(records) >= count:
            return records[count - 1]
        time.sleep(0.05)
    raise SystemExit(f"policy_bench: no history record {count} in {pool}")


def lone_link(work: Path, linker: str, inputs: list[str], rounds: int) -> dict[str, object]:
    """One link on an idle machine, bare and through linkpool (an idle pool), back to back
    in each round. Wall times differ by this machine's noise (often 100-200 ms on a 2 s
    link), so two steadier figures come with them: linkpool's time outside the link (its
    wall time less the link's run time, which it records) and the link's CPU time inside
    linkpool over the bare link's (a link slowed down by linkpool would show there)."""
    pool = work / "lone-pool"
    new_pool(pool)
    argv = ["g++", f"-fuse-ld={linker}", *inputs, "-o", str(work / "lone")]
    cases = {"bare": argv, "linkpool": [LINKPOOL, "run", "--pool", str(pool), "--", *argv]}
    times: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    outside: list[float] = []
    for _ in range(rounds):
        for name, cmd in cases.items():
            os.sync()
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, env=ENV)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"policy_bench: the lone {linker} link failed")
            times[name].append(wall)
            if name == "bare":
                cpu[name].append(usage.ru_utime + usage.ru_stime)
                continue
            record = recorded(pool, len(outside) + 1)
            cpu[name].append(record["cpu_s"])
            outside.append(wall - record["run_s"])
    bare, through = (statistics.median(times[k]) for k in ("bare", "linkpool"))
    ratios = [b / a for a, b in zip(times["bare"], times["linkpool"])]
    diffs = [b - a for a, b in zip(times["bare"], times["linkpool"])]
    return {"linker": linker, "bare": bare, "linkpool": through,
            "ratio": statistics.median(ratios), "extra_ms": statistics.median(diffs) * 1000,
            "outside_ms": statistics.median(outside) * 1000,
            # Not for mold: the bare link's rusage misses mold's forked child, whose CPU
            # linkpool's record includes (its bookkeeper is a subreaper).
            "cpu_ratio": None if linker == "mold" else
            statistics.median(cpu["linkpool"]) / statistics.median(cpu["bare"]),
            "rounds": rounds}


def make_cgroup(limit: int) -> str:
    """A memory cgroup limited to ``limit`` bytes (v1 if mounted, else v2)."""
    v1 = "/sys/fs/cgroup/memory"
    if os.path.isdir(v1):
        path = os.path.join(v1, f"linkpool-bench-{os.getpid()}")
        os.mkdir(path)
        Path(path, "memory.limit_in_bytes").write_text(str(limit))
        return path
    root = "/sys/fs/cgroup"
    Path(root, "cgroup.subtree_control").write_text("+memory")
    path = os.path.join(root, f"linkpool-bench-{os.getpid()}")
    os.mkdir(path)
    Path(path, "memory.max").write_text(str(limit))
    Path(path, "memory.swap.max").write_text("0")
    return path


def capped_rows(work: Path, rounds: int, log: list[dict[str, object]]
                ) -> tuple[list[dict[str, object]], dict[str, object]]:
    linker = "bfd"  # the linker whose memory is anonymous: what a memory limit is about
    inputs = [str(p) for p in workload(HERE / ".cache", SIZES[linker])]
    alone = measure_apart(["g++", f"-fuse-ld={linker}", *inputs, "-o", str(work / "alone")])
    limit = int(3 * alone["anon"])
    cgroup = make_cgroup(limit)
    try:
        results: dict[str, list[dict[str, object]]] = {
            p: [] for p in ("unthrottled", "ninja pool 2", "linkpool")}
        for _ in range(rounds):
            for policy in results:
                r = one_run(work, linker, inputs, 1, 4, policy, cgroup)
                r.update(linker=linker, builds=1, links_per_build=4, policy=policy,
                         capped=limit)
                log.append(r)
                results[policy].append(r)
    finally:
        os.rmdir(cgroup)
    info = {"linker": linker, "limit": limit, "anon_alone": alone["anon"],
            "cgroup": "v1" if "/memory/" in cgroup else "v2"}
    return summarise(linker, "1 x 4, capped", results), info


# -- reporting -------------------------------------------------------------------------

def markdown(rows: list[dict[str, object]], lone: list[dict[str, object]],
             capped: list[dict[str, object]], cap: dict[str, object] | None,
             header: str) -> str:
    out = [header, "", "| linker | builds x links | policy | makespan s (range) | spread s | "
           "x best fixed | link median s | link max s | CPU s | memory peak GB | failed | "
           "target |",
           "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows + capped:
        x = f"{r['x_best_fixed']:.2f}" if r["x_best_fixed"] and not r["failed"] else "-"
        name = f"**{r['policy']}**" if r["policy"] == "linkpool" else r["policy"]
        fails = f"{r['failed']}" + (f" ({r['oom_kills']} OOM kills)" if r["oom_kills"] else "")
        out.append(f"| {r['linker']} | {r['scenario']} | {name} | {r['makespan']:.2f} "
                   f"({r['makespan_min']:.2f}-{r['makespan_max']:.2f}) | "
                   f"{r.get('spread', 0.0):.2f} | {x} | "
                   f"{r['link_median']:.2f} | {r['link_max']:.2f} | {r['cpu']:.1f} | "
                   f"{r['mem_peak'] / 1e9:.2f} | {fails} | {r.get('verdict') or ''} |")
    out += ["", "linkpool, first build: one build on an empty pool (no history: the built-in "
            "constants); linkpool: the rounds after it on the same pool (its history has "
            "seen the linker; the first of them may still explore). Spread: slowest round "
            f"less fastest. Target, on medians of at least {JUDGED_ROUNDS} rounds: no slower "
            "than the best fixed policy, and behind unthrottled by no more than the larger "
            "spread."]
    out += ["", "Across linkers (the uncapped rows):", "", across_linkers(rows)]
    if cap:
        out += ["", f"Capped rows: cgroup {cap['cgroup']} memory limit "
                f"{cap['limit'] / 1e6:.0f} MB = 3 x the anonymous peak of one lone "
                f"{cap['linker']} link ({cap['anon_alone'] / 1e6:.0f} MB); failures summed "
                "over the rounds."]
    out += ["", "| linker | lone link, bare s | through linkpool s | paired difference ms | "
            "paired ratio | linkpool outside the link ms | link CPU, through / bare |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    out += [f"| {r['linker']} | {r['bare']:.3f} | {r['linkpool']:.3f} | {r['extra_ms']:.0f} | "
            f"{r['ratio']:.3f} | {r['outside_ms']:.0f} | "
            + (f"{r['cpu_ratio']:.3f} |" if r["cpu_ratio"] else "- |") for r in lone]
    out += ["", "Lone link: medians of the bare and linkpool wall times; the paired difference "
            "and ratio are medians over the rounds (each round runs the two back to back); "
            "outside the link: linkpool's wall time less the link's run time it recorded; "
            "link CPU: the link's CPU time through linkpool over the bare link's (medians; "
            "not for mold, whose bare rusage misses its forked child)."]
    return "\n".join(out) + "\n"


def across_linkers(rows: list[dict[str, object]]) -> str:
    """Each policy over every row (linker x scenario): its worst and its geometric mean
    ratio to the best fixed policy of the row; a failed row counts as infinitely bad."""
    out = ["| policy | rows | worst x best fixed | geometric mean |",
           "| --- | ---: | ---: | ---: |"]
    for policy in (*POLICIES, FIRST):
        mine = [r for r in rows if r["policy"] == policy]
        if not mine:
            continue
        if any(r["x_best_fixed"] is None for r in mine):
            out.append(f"| {policy} | {len(mine)} | failed | - |")
            continue
        xs = [float(r["x_best_fixed"]) for r in mine]  # type: ignore[arg-type]
        mean = math.exp(sum(math.log(x) for x in xs) / len(xs))
        out.append(f"| {policy} | {len(mine)} | {max(xs):.2f} | {mean:.3f} |")
    return "\n".join(out)


def chart(rows: list[dict[str, object]], path: Path) -> bool:
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r["linker"], r["scenario"]) for r in rows},
                    key=lambda g: (str(g[0]), str(g[1])))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    shown = (*POLICIES, FIRST)
    width = 0.8 / len(shown)
    for k, policy in enumerate(shown):
        xs, ys = [], []
        for g, (linker, scenario) in enumerate(groups):
            for r in rows:
                if (r["linker"], r["scenario"], r["policy"]) == (linker, scenario, policy):
                    xs.append(g + (k - len(shown) / 2 + 0.5) * width)
                    ys.append(r["x_best_fixed"] or 0)
        if xs:
            ax.bar(xs, ys, width, label=policy,
                   color={"linkpool": "black", FIRST: "grey"}.get(policy))
            for x, y in zip(xs, ys):
                if not y:
                    ax.text(x, 0.02, "failed", rotation=90, ha="center", va="bottom",
                            fontsize=7)
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{a}\n{b}" for a, b in groups], fontsize=8)
    ax.set_ylabel("makespan / best fixed policy")
    ax.set_title("Link policies on one machine: makespan, lower is better")
    ax.legend(fontsize=8, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main() -> int:
    if sys.argv[1:2] == ["_run"]:
        print(json.dumps(run_builds(json.loads(sys.argv[2]))))
        return 0
    if sys.argv[1:2] == ["--redraw"]:  # policy.png again from DIR/policy.json
        data = json.loads(Path(sys.argv[2], "policy.json").read_text())
        for r in data["rows"] + data["capped"]:
            r["x_best_fixed"] = None if r["failed"] else r["x_best_fixed"]
        print(across_linkers(data["rows"]))
        return 0 if chart(data["rows"] + data["capped"], Path(sys.argv[2], "policy.png")) else 1
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=JUDGED_ROUNDS,
                    help="runs of each policy (medians)")
    ap.add_argument("--lone-rounds", type=int, default=5)
    ap.add_argument("--linkers", default="mold,lld,gold,bfd")
    ap.add_argument("--sizes", default="", help="MB of objects per linker, e.g. mold=500,bfd=60")
    ap.add_argument("--no-cap", action="store_true", help="skip the memory-capped scenario")
    ap.add_argument("--out", type=Path, help="write policy.md, policy.json, policy.png here")
    args = ap.parse_args()
    for item in filter(None, args.sizes.split(",")):
        name, _, megabytes = item.partition("=")
        SIZES[name] = SCENARIO_SIZES[name] = int(megabytes)
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="linkpool-policy-bench-"))
    log: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    lone: list[dict[str, object]] = []
    capped: list[dict[str, object]] = []
    cap: dict[str, object] | None = None
    try:
        for linker in args.linkers.split(","):
            if not shutil.which(f"ld.{linker}"):
                sys.exit(f"policy_bench: ld.{linker} not found (bash scripts/setup.sh --test "
                         "installs mold, lld and gold)")
            full = [str(p) for p in workload(HERE / ".cache", SIZES[linker])]
            lone.append(lone_link(work, linker, full, args.lone_rounds))
            inputs = [str(p) for p in workload(HERE / ".cache", SCENARIO_SIZES[linker])]
            rows += scenario_rows(work, linker, inputs, args.rounds, log)
            print(f"policy_bench: {linker} done after {time.time() - started:.0f} s",
                  file=sys.stderr, flush=True)
        if not args.no_cap:
            capped, cap = capped_rows(work, args.rounds, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    slots = json.loads(subprocess.run(
        [sys.executable, "-c", "import json; from linkpool.capacity import read_machine, "
         "default_slots; m = read_machine(); print(json.dumps([m.cores, m.memory, "
         "default_slots(m)]))"], capture_output=True, text=True, check=True).stdout)
    header = (f"Policy benchmark, {time.strftime('%Y-%m-%d')}: {slots[0]:g} cores, "
              f"{slots[1] / 2**30:.1f} GiB usable, linkpool's default pool {slots[2]} slots; "
              f"medians of {args.rounds} rounds; {time.time() - started:.0f} s in all. "
              f"MB of objects per link in the scenarios: "
              + ", ".join(f"{k} {SCENARIO_SIZES[k]}" for k in args.linkers.split(","))
              + "; for the lone link and the capped rows: "
              + ", ".join(f"{k} {SIZES[k]}" for k in args.linkers.split(",")))
    text = markdown(rows, lone, capped, cap, header)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "policy.md").write_text(text)
        (args.out / "policy.json").write_text(json.dumps(
            {"rows": rows, "lone": lone, "capped": capped, "cap": cap, "runs": log}, indent=1))
        if not chart(rows + capped, args.out / "policy.png"):
            print("policy_bench: no chart (pip install matplotlib, or the chart extra)",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
