"""The benchmark workload and the measurement of one link.

- :func:`workload` makes C++ translation units with templates and ``-g`` (the shape of
  the big links linkpool is for), sized by a number of megabytes, cached between runs so
  that a re-run only links;
- :func:`measure` runs a link and samples its whole process tree: wall time, the peak of
  anonymous memory (what a link really adds), the peak RSS.

    .venv/bin/python benchmarks/workload.py measure -- g++ ... # one command's peaks, JSON
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# Default workload sizes, MB of objects per link: about 2 s for a lone link with each
# linker on this 2-core machine (mold is ~8x faster than bfd per byte).
SIZES = {"mold": 2000, "lld": 1200, "gold": 600, "bfd": 250}

TOKEN = b"lpq0000"  # the namespace of a generated C++ unit; clones rename it in place


def cxx_source(templates: int, token: str = TOKEN.decode()) -> str:
    """A C++ unit: ``templates`` instantiations of a class template over std::string,
    std::vector and std::map in namespace ``token``, and ``int {token}_entry()``."""
    lines = [
        "#include <map>", "#include <string>", "#include <vector>", f"namespace {token} {{",
        "template <int N> struct Node {",
        "  std::vector<std::string> names; std::map<int, std::string> index;",
        "  std::string describe(int x) const { std::string s = std::to_string(N + x);",
        "    for (auto& n : names) s += n;",
        "    auto it = index.find(x); return it == index.end() ? s : s + it->second; }",
        "  int sum() const { int t = N;",
        "    for (auto& kv : index) t += kv.first * (int)kv.second.size(); return t; }",
        "};",
        "template <int N> int use() { Node<N> a; a.names.push_back(\"x\"); a.index[N] = \"y\";",
        "  return (int)a.describe(N).size() + a.sum(); }",
    ]
    lines += [f"template struct Node<{i}>; int f{i}() {{ return use<{i}>(); }}"
              for i in range(templates)]
    lines += ["}", f"int {token}_entry() {{ int t = 0;"]
    lines += [f"  t += {token}::f{i}();" for i in range(templates)] + ["  return t; }"]
    return "\n".join(lines) + "\n"


def main_source(tokens: list[str]) -> str:
    """A main() that calls every unit's entry (LTO would drop them otherwise)."""
    decls = "".join(f"int {t}_entry();\n" for t in tokens)
    return decls + "int main() { int t = 0;\n" + "".join(
        f"  t += {t}_entry();\n" for t in tokens) + "  return t & 1; }\n"


def compile_unit(directory: Path, name: str, source: str, flags: list[str],
                 compiler: str = "g++", suffix: str = ".cc") -> Path:
    src, obj = directory / f"{name}{suffix}", directory / f"{name}.o"
    src.write_text(source)
    subprocess.run([compiler, *flags, "-c", str(src), "-o", str(obj)], check=True)
    return obj


def clone_objects(base: Path, total: int, directory: Path) -> list[Path]:
    """Copies of ``base`` (one at least), ``total`` bytes in all, whose symbols differ:
    the namespace token is renamed byte for byte, so every offset stays valid."""
    data = base.read_bytes()
    assert TOKEN in data
    paths = []
    for k in range(max(1, -(-total // len(data)))):
        path = directory / f"{base.stem}_{k}.o"
        path.write_bytes(data.replace(TOKEN, b"lpq%04d" % k))
        paths.append(path)
    return paths


# -- measuring a link ------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as file:
                found += [int(word) for word in file.read().split()]
    except OSError:
        pass
    return found


def _status(pid: int) -> tuple[int, int]:
    """(RssAnon, VmHWM) of a process in bytes; zeros once it is gone."""
    anon = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as file:
            for line in file:
                if line.startswith((b"RssAnon:", b"VmHWM:")):
                    value = int(line.split()[1]) * 1024
                    anon, hwm = (value, hwm) if line[0] == ord("R") else (anon, value)
    except (OSError, ValueError):
        pass
    return anon, hwm


def measure(argv: list[str], interval: float = 0.002) -> dict[str, float]:
    """Run ``argv`` and sample its whole process tree every ``interval`` s.

    Returns wall ``seconds``; ``anon``, the peak over time of the sum of RssAnon over
    the tree; ``hwm``, the largest VmHWM (peak RSS, file-backed pages included) of one
    process; ``maxrss``, the largest ru_maxrss that wait4 reports, which is never below
    this (Python) process's own RSS: Linux keeps the peak of the image a child replaced
    by exec. Makes the caller a child subreaper, so that mold's forked child, orphaned
    when its parent exits, stays in the tree and is reaped here: call it in a process
    of its own (``measure`` on the command line).
    """
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    start = time.perf_counter()
    proc = subprocess.Popen(argv)
    me, peak, hwm, maxrss, code = os.getpid(), 0, 0, 0, None
    while True:
        tree, stack = [], _children(me)
        while stack:
            tree.append(stack.pop())
            stack += _children(tree[-1])
        status = [_status(pid) for pid in tree]
        peak = max(peak, sum(anon for anon, _ in status))
        hwm = max([hwm] + [high for _, high in status])
        while True:  # reap whatever ended: the command, an orphaned mold child
            try:
                pid, wait_status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            maxrss = max(maxrss, usage.ru_maxrss * 1024)
            if pid == proc.pid:
                code = proc.returncode = os.waitstatus_to_exitcode(wait_status)
        if code is not None and not _children(me):
            break
        time.sleep(interval)
    if code:
        raise subprocess.CalledProcessError(code, argv)
    return {"seconds": time.perf_counter() - start, "anon": peak, "hwm": hwm,
            "maxrss": maxrss}


def measure_apart(argv: list[str]) -> dict[str, float]:
    """:func:`measure` in a process of its own (it makes its caller a subreaper)."""
    out = subprocess.run([sys.executable, __file__, "measure", "--", *argv], check=True,
                         capture_output=True, text=True, timeout=600).stdout
    return json.loads(out)


def workload(cache: Path, megabytes: int, flags: tuple[str, ...] = ("-O1", "-g"),
             templates: int = 100) -> list[Path]:
    """The benchmark workload: C++ objects with templates, ``megabytes`` MB in all, plus
    a main object; compiled once into ``cache`` and reused (a re-run only links)."""
    key = f"{templates}{''.join(flags).replace('-', '_')}"
    base = cache / key
    base.mkdir(parents=True, exist_ok=True)
    unit, main = base / "unit.o", base / "main.o"
    if not unit.exists():
        compile_unit(base, "unit", cxx_source(templates), list(flags))
    if not main.exists():
        compile_unit(base, "main", "int main() { return 0; }\n", [])
    sized = base / f"{megabytes}MB"
    sized.mkdir(exist_ok=True)
    clones = sorted(sized.glob("unit_*.o"))
    if not clones:
        clones = clone_objects(unit, megabytes << 20, sized)
    return [main, *clones]


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"]:
        print(json.dumps(measure(sys.argv[3:] if sys.argv[2:3] == ["--"] else sys.argv[2:])))
    else:
        sys.exit("usage: workload.py measure -- COMMAND [ARG...]")


