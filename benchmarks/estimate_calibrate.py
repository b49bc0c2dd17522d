"""Calibrate ``linkpool.estimate.expected_memory``: link generated inputs with every
linker, measure the peaks, fit the coefficients (docs/estimate.md holds the results).

    .venv/bin/python benchmarks/estimate_calibrate.py calibrate [WORKDIR] > rows.json  # ~3 min
    .venv/bin/python benchmarks/estimate_calibrate.py fit rows.json   # coefficients, table
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from workload import clone_objects, compile_unit, cxx_source, main_source, measure

from linkpool.estimate import estimate_inputs

ALL = {"budget": 60.0, "elf_threshold": 0}  # read every header, whatever the sizes
FLAVOURS = ("bfd", "gold", "lld", "mold")


def calibrate(work: Path) -> list[dict[str, object]]:
    """Link generated C++ objects of ~1 to ~200 MB with each linker, and gcc -flto units
    of ~1.4 to ~20 MB of bytecode with bfd; one row per link: the estimate's figures and
    the measured peaks."""
    base, out = work / "base", str(work / "a.out")
    base.mkdir(parents=True, exist_ok=True)
    main = compile_unit(base, "main", "int main() { return 0; }\n", [])
    units = {"O1g": (100, ["-O1", "-g"]), "O1g0": (100, ["-O1"]), "O0g": (200, ["-O0", "-g"])}
    rows: list[dict[str, object]] = []
    for variant, (templates, flags) in units.items():
        unit = compile_unit(base, variant, cxx_source(templates), flags)
        for megabytes in (1, 4, 16, 50, 200):
            clones = clone_objects(unit, megabytes << 20, work)
            inputs = [str(main), *map(str, clones)]
            est = estimate_inputs(inputs, **ALL)
            for flavour in FLAVOURS:
                peaks = measure(["g++", f"-fuse-ld={flavour}", *inputs, "-o", out])
                rows.append({"variant": variant, "flavour": flavour, **est._asdict(), **peaks})
                print(json.dumps(rows[-1]), file=sys.stderr)
            for clone in clones:
                clone.unlink()
    tokens = [f"lpq{k:04d}" for k in range(14)]
    lto = [compile_unit(base, t, cxx_source(200, t), ["-O1", "-flto"]) for t in tokens]
    for count, mode in ((1, "-flto"), (4, "-flto"), (14, "-flto"), (14, "-flto=auto")):
        main = compile_unit(base, f"main{count}", main_source(tokens[:count]), ["-O1", "-flto"])
        inputs = [str(main), *map(str, lto[:count])]
        peaks = measure(["g++", "-O1", mode, "-fuse-ld=bfd", *inputs, "-o", out])
        est = estimate_inputs(inputs, **ALL)
        rows.append({"variant": "lto" + mode[5:], "flavour": "bfd", **est._asdict(), **peaks})
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """x with a x = b (Gaussian elimination with partial pivoting; a is small)."""
    n = len(b)
    m = [[*row, v] for row, v in zip(a, b)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col and m[col][col]:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col])]
    return [m[r][n] / m[r][r] if m[r][r] else 0.0 for r in range(n)]


def fit(xs: list[list[float]], ys: list[float]) -> list[float]:
    """Least squares of ys on xs, weighted by 1/y (relative errors count), every
    coefficient >= 0: a negative one is dropped and the rest solved again."""
    active = list(range(len(xs[0])))
    while True:
        rows = [[x[j] / y for j in active] for x, y in zip(xs, ys)]
        ata = [[sum(r[i] * r[j] for r in rows) for j in range(len(active))]
               for i in range(len(active))]
        coef = _solve(ata, [sum(r[i] for r in rows) for i in range(len(active))])
        if min(coef) >= 0:
            full = [0.0] * len(xs[0])
            for j, c in zip(active, coef):
                full[j] = c
            return full
        del active[coef.index(min(coef))]


def features(row: dict[str, float]) -> list[float]:
    """[1, code MiB, debug MiB, LTO MiB] as expected_memory prices them."""
    debug = row["debug_bytes"] + row["debug_reloc_bytes"]
    code = row["parsed_bytes"] - debug - row["lto_bytes"]
    return [1.0, code / 2**20, debug / 2**20, row["lto_bytes"] / 2**20]


def model_bytes(coef: tuple[float, ...], lto: tuple[float, float],
                row: dict[str, float]) -> float:
    """expected_memory's formula, for a fully parsed row, with candidate coefficients."""
    const, k_code, k_debug, _ = coef
    _, code, debug, lto_mib = features(row)
    return const + (lto[0] if row["lto_objects"] else 0) + 2**20 * (
        k_code * code + k_debug * debug + lto[1] * lto_mib)


def report(rows: list[dict[str, float]]) -> None:
    """The fitted coefficients, ready to paste, and the calibration table (markdown)."""
    coefficients = {}
    for flavour in FLAVOURS:
        mine = [r for r in rows if r["flavour"] == flavour and not r["lto_objects"]]
        const, code, debug = fit([features(r)[:3] for r in mine],
                                 [r["anon"] / 2**20 for r in mine])
        big = [(r["anon"] / 2**20 - const) / (r["input_bytes"] / 2**20) for r in mine
               if r["input_bytes"] >= 16 << 20]
        sized = (min(big) * max(big)) ** 0.5  # the geometric middle: least worst ratio
        coefficients[flavour] = (round(const * 2**20, -5), round(code, 3), round(debug, 3),
                                 round(sized, 3))
    lto = [r for r in rows if r["lto_objects"]]
    extra = [(r["anon"] - model_bytes(coefficients[r["flavour"]], (0, 0), r)) / 2**20
             for r in lto]
    lto_base, k_lto = fit([[1.0, features(r)[3]] for r in lto], extra)
    lto_fit = (round(lto_base * 2**20, -5), round(k_lto, 3))
    print(f"COEFFICIENTS = {coefficients!r}\nLTO_BASE, K_LTO = {lto_fit!r}\n")
    print("| units | linker | input MiB | code MiB | debug MiB | LTO MiB | objects | seconds |"
          " ru_maxrss MiB | VmHWM MiB | anon peak MiB | model MiB | model/anon |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        model = model_bytes(coefficients[r["flavour"]], lto_fit, r)
        mib = " | ".join(f"{v:.1f}" for v in features(r)[1:])
        print(f"| {r['variant']} | {r['flavour']} | {r['input_bytes'] / 2**20:.1f} | {mib} | "
              f"{r['objects']} | {r['seconds']:.2f} | {r['maxrss'] / 2**20:.0f} | "
              f"{r['hwm'] / 2**20:.0f} | "
              f"{r['anon'] / 2**20:.1f} | {model / 2**20:.1f} | {model / r['anon']:.2f} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["calibrate"]:
        work = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp())
        try:
            print(json.dumps(calibrate(work)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    elif sys.argv[1:2] == ["fit"]:
        report(json.loads(Path(sys.argv[2]).read_text()))
    else:
        sys.exit(__doc__)
