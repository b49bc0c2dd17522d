"""`linkpool ninja`, with the real ninja, CMake and Meson: link rules rewritten to go
through the pool, escapes and includes kept, idempotent, nothing relinked twice."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from linkpool.integrations import ninja as lpninja

from conftest import BIN, LINKPOOL, history, make_pool, run

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NINJA = shutil.which("ninja", path=str(BIN)) or shutil.which("ninja") or ""
CMAKE = shutil.which("cmake", path=str(BIN)) or shutil.which("cmake") or ""
MESON = shutil.which("meson", path=str(BIN)) or shutil.which("meson") or ""
PROGRAMS = {"area": "area = 12\n", "perimeter": "perimeter = 14\n",
            "report": "shapes 1.0\nsquare 1 = 1\nsquare 2 = 4\nsquare 5 = 25\n"}

pytestmark = pytest.mark.skipif(not NINJA, reason="no ninja")


def linked(pool: Path, root: Path) -> list[str]:
    """The outputs of the pool's links under ``root``, relative, in order."""
    return [os.path.relpath(r["output"], root) for r in history(pool)
            if r["output"].startswith(str(root) + os.sep)]


def pool_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    pool = make_pool(tmp_path / "pool", 2)
    return pool, {**os.environ, "LINKPOOL_DIR": str(pool)}


def pools(text: str) -> int:
    """How many ``pool = link_pool`` bindings (not comments) ``text`` has."""
    return len(re.findall(r"^ +pool = link_pool$", text, re.M))


def check_programs(directory: Path) -> None:
    for name, expected in PROGRAMS.items():
        assert run([str(directory / name)], directory) == expected


# -- the hand-written example ---------------------------------------------------------------


def test_handwritten_example_links_through_the_pool_once(tmp_path: Path) -> None:
    src = Path(shutil.copytree(EXAMPLES / "ninja", tmp_path / "src"))
    pool, env = pool_env(tmp_path)
    run([NINJA], src, env)  # built without linkpool first
    assert linked(pool, src) == []

    out = run([LINKPOOL, "ninja"], src, env)  # the commands changed: ninja relinks, once
    assert sorted(linked(pool, src)) == ["out/area", "out/libshapes.so", "out/perimeter",
                                         "out/report"]  # and out/libfmt.a is not there
    assert "LINK out/report" in out
    check_programs(src / "out")
    text = (src / "build.ninja").read_text()
    assert text.count(lpninja.MARK) == 3 and pools(text) == 0
    assert "command = rm -f $out && ar crs $out $in" in text  # the archive rule as it was
    assert f"&& {LINKPOOL} run -- $cc -shared" in text  # the link part of the chain

    again = run([LINKPOOL, "ninja"], src, env)
    assert "no work to do" in again
    assert len(history(pool)) == 4
    assert lpninja.rewrite(str(src / "build.ninja")) == []  # rewritten files stay as they are
    assert (src / "build.ninja").read_text() == text


def test_tools_and_dry_runs_pass_through_untouched(tmp_path: Path) -> None:
    src = Path(shutil.copytree(EXAMPLES / "ninja", tmp_path / "src"))
    before = (src / "build.ninja").read_text()
    assert "link_cxx\n" in run([LINKPOOL, "ninja", "-t", "rules"], src)
    run([LINKPOOL, "ninja", "-n"], src)
    assert (src / "build.ninja").read_text() == before
    assert run([LINKPOOL, "ninja", "--version"], src) == run([NINJA, "--version"], src)


@pytest.mark.parametrize("args, expected", [
    ([], (None, "build.ninja", False)),
    (["-C", "b", "all"], ("b", "build.ninja", False)),
    (["-Cb", "-fx.ninja", "-j4"], ("b", "x.ninja", False)),
    (["-vC", "b", "-f", "y.ninja", "-k", "0", "prog"], ("b", "y.ninja", False)),
    (["-C", "a", "-C", "b"], ("b", "build.ninja", False)),
    (["-C", "b", "-t", "commands"], ("b", "build.ninja", True)),
    (["-nC", "b"], ("b", "build.ninja", True)),
    (["--verbose", "-j", "2", "--", "-C"], (None, "build.ninja", False)),
])
def test_ninja_arguments(args: list[str], expected: tuple[str | None, str, bool]) -> None:
    assert lpninja.parse_ninja_args(args) == expected


# -- escapes, chains, response files, includes --------------------------------------------

RULES = """\
cc = gcc
# an included file: the rules
rule link
  command = cd . && $cc $ldflags -o $out $in && echo linked$ $out
  description = LINK $out
  pool = link_pool

rule chained
  command = rm -f $out && LANG=C $
      $cc -o $out @$out.rsp $
      $libs || exit 1
  rspfile = $out.rsp
  rspfile_content = $in
  pool = link_pool

rule console_link
  command = $cc -o $out $in 2>&1 | cat
  pool = console

rule launched
  command = $PRE_LINK && /opt/bin/linkpool /usr/bin/cc $in -o $out && $POST_BUILD
  pool = link_pool

rule compile
  command = $cc -c $in -o $out
  pool = link_pool

rule archive
  command = rm -f $out && ar crs $out $in
  pool = link_pool
"""

SUB = """\
rule sublink
  command = $cc -o '$out' '$in' -Wl,--defsym=x$:y=0 "-Wl,-rpath,$$ORIGIN"

build sub: sublink a.o
"""

MAIN = """\
ninja_required_version = 1.5
pool link_pool
  depth = 1
rules = rules.ninja
include $rules
subninja sub.ninja

build a.o: compile a.c
build with$ space: link a.o
  ldflags = -Wl,-O1
build b: chained a.o
  libs = -lm
  pool = link_pool
build c: console_link a.o
build d: launched a.o
  pool = link_pool
build e.a: archive a.o
  pool = link_pool
"""


def test_escapes_chains_response_files_and_includes(tmp_path: Path) -> None:
    (tmp_path / "rules.ninja").write_text(RULES)
    (tmp_path / "sub.ninja").write_text(SUB)
    (tmp_path / "build.ninja").write_text(MAIN)
    plain = run([NINJA, "-t", "commands"], tmp_path).splitlines()
    launcher = ["/opt/lp dir/linkpool"]  # a blank and a `$`-free path: quoted, not escaped

    changed = lpninja.rewrite(str(tmp_path / "build.ninja"), launcher=launcher)
    assert sorted(Path(p).name for p in changed) == ["build.ninja", "rules.ninja", "sub.ninja"]
    assert lpninja.rewrite(str(tmp_path / "build.ninja"), launcher=launcher) == []

    rules = (tmp_path / "rules.ninja").read_text()
    assert rules.count(lpninja.MARK) == 4  # link, chained, console_link, launched
    assert "pool = console" in rules
    assert "rule compile\n  command = $cc -c $in -o $out\n  pool = link_pool\n" in rules
    assert "rule archive\n  command = rm -f $out && ar crs $out $in\n  pool = link_pool\n" \
        in rules
    main = (tmp_path / "build.ninja").read_text()
    assert pools(main) == 1  # the archive's edge
    assert "build e.a: archive a.o\n  pool = link_pool\n" in main

    prefix = "'/opt/lp dir/linkpool' run -- "
    rewritten = run([NINJA, "-t", "commands"], tmp_path).splitlines()  # ninja reads them
    expected = []
    for line in plain:
        if line.startswith("cd . && gcc"):
            line = line.replace("&& gcc", "&& " + prefix + "gcc", 1)
        elif line.startswith("rm -f b &&"):
            line = line.replace("LANG=C gcc", "LANG=C " + prefix + "gcc", 1)
        elif line.startswith(("gcc -o c", "gcc -o 'sub'")):
            line = prefix + line
        expected.append(line)
    assert rewritten == expected
    assert {prefix + "gcc -o 'sub' 'a.o' -Wl,--defsym=x:y=0 \"-Wl,-rpath,$ORIGIN\"",
            "rm -f b && LANG=C " + prefix + "gcc -o b @b.rsp -lm || exit 1",
            prefix + "gcc -o c a.o 2>&1 | cat",
            " && /opt/bin/linkpool /usr/bin/cc a.o -o d && ",
            "gcc -c a.c -o a.o", "rm -f e.a && ar crs e.a a.o"} <= set(rewritten)


def test_crlf_manifest_keeps_its_line_ends(tmp_path: Path) -> None:
    (tmp_path / "build.ninja").write_bytes(
        b"cc = gcc\r\nrule link\r\n  command = $cc -o $out $in $\r\n      -lm\r\n"
        b"  pool = link_pool\r\npool link_pool\r\n  depth = 1\r\nbuild a: link a.o\r\n")
    assert lpninja.rewrite(str(tmp_path / "build.ninja"), launcher=["lp"])
    data = (tmp_path / "build.ninja").read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert run([NINJA, "-t", "commands"], tmp_path) == "lp run -- gcc -o a a.o -lm\n"


# -- generated files: CMake and Meson, and their regeneration -----------------------------

CMAKELISTS = """\
cmake_minimum_required(VERSION 3.16)
project(lpninja C CXX)
set_property(GLOBAL PROPERTY JOB_POOLS link_pool=1)
set(CMAKE_JOB_POOL_LINK link_pool)
include_directories(include)
add_library(shapes SHARED src/shapes.c)
add_library(fmt STATIC src/fmt.c)
add_executable(area src/area.c)
target_link_libraries(area shapes fmt)
add_executable(perimeter src/perimeter.c)
target_link_libraries(perimeter shapes)
add_executable(report src/report.cpp)
target_link_libraries(report shapes fmt)
"""


@pytest.mark.skipif(not CMAKE, reason="no cmake")
def test_cmake_generated_rules_and_a_regeneration(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(EXAMPLES / "ninja" / "src", src / "src")
    shutil.copytree(EXAMPLES / "ninja" / "include", src / "include")
    (src / "CMakeLists.txt").write_text(CMAKELISTS)
    build = tmp_path / "build"
    pool, env = pool_env(tmp_path)
    run([CMAKE, "-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={NINJA}", "-S", str(src), "-B", str(build)],
        tmp_path, env)

    run([LINKPOOL, "ninja", "-C", str(build)], tmp_path, env)
    assert sorted(linked(pool, build)) == ["area", "libshapes.so", "perimeter", "report"]
    check_programs(build)
    rules = (build / "CMakeFiles" / "rules.ninja").read_text()
    assert rules.count(lpninja.MARK) == 4  # 2 C executables, 1 C++ one, 1 shared library
    assert rules.count(f"command = $PRE_LINK && {LINKPOOL} run -- ") == 4
    edges = (build / "build.ninja").read_text()
    assert pools(edges) == 1  # JOB_POOL_LINK is left on the archive only

    assert "no work to do" in run([LINKPOOL, "ninja", "-C", str(build)], tmp_path, env)
    assert len(history(pool)) == 4

    # CMakeLists.txt changes: ninja would rerun CMake, which writes the rules anew
    with open(src / "CMakeLists.txt", "a") as f:
        f.write("add_executable(area2 src/area.c)\ntarget_link_libraries(area2 shapes fmt)\n")
    out = run([LINKPOOL, "ninja", "-C", str(build)], tmp_path, env)
    assert "Re-running CMake" in out
    assert linked(pool, build)[4:] == ["area2"]  # the new program, and nothing relinked
    assert (build / "CMakeFiles" / "rules.ninja").read_text().count(lpninja.MARK) == 5
    assert run([str(build / "area2")], build) == "area = 12\n"
    assert "no work to do" in run([LINKPOOL, "ninja", "-C", str(build)], tmp_path, env)


@pytest.mark.skipif(not MESON, reason="no meson")
def test_meson_generated_rules_and_a_regeneration(tmp_path: Path) -> None:
    src = Path(shutil.copytree(EXAMPLES / "meson", tmp_path / "src"))
    build = tmp_path / "build"
    pool, env = pool_env(tmp_path)
    run([MESON, "setup", str(build), str(src), "-Dbackend_max_links=1"], tmp_path, env)
    run([NINJA, "-C", str(build)], tmp_path, env)

    run([LINKPOOL, "ninja", "-C", str(build)], tmp_path, env)
    assert sorted(linked(pool, build)) == ["area", "libshapes.so", "perimeter", "report"]
    check_programs(build)
    text = (build / "build.ninja").read_text()
    assert "rule c_LINKER\n " + lpninja.MARK in text and "rule cpp_LINKER\n " + lpninja.MARK \
        in text
    assert "rule STATIC_LINKER\n command = rm -f $out && " in text
    assert pools(text) == 1  # the archive rule keeps its per-build pool
    assert "no work to do" in run([LINKPOOL, "ninja", "-C", str(build)], tmp_path, env)

    with open(src / "meson.build", "a") as f:
        f.write("executable('area2', 'src/area.c', include_directories : inc,\n"
                "  link_with : [shapes, fmt])\n")
    out = run([LINKPOOL, "ninja", "-C", str(build)], tmp_path, env)
    assert "Regenerating build files" in out
    assert linked(pool, build)[4:] == ["area2"]
    assert "rule c_LINKER\n " + lpninja.MARK in (build / "build.ninja").read_text()
    assert "no work to do" in run([LINKPOOL, "ninja", "-C", str(build)], tmp_path, env)

