"""Compiler launchers in front of the driver: ccache, sccache, distcc, icecc.

`linkpool ccache gcc ... -o app` is a link by gcc (Automake's `CCLD='linkpool $(CC)'` with
`CC='ccache gcc'`), `linkpool ccache gcc -c ...` a compile. The parse is checked against
what each tool documents; the engine is checked with the real ccache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from linkpool.command import add_linker_args, parse
from linkpool.names import split_launchers
from linkpool.pool import Pool

from conftest import history, lp, make_pool

# -- the parse ---------------------------------------------------------------------------


@pytest.mark.parametrize("launcher", [["ccache"], ["/usr/bin/ccache"], ["sccache"],
                                      ["/opt/sccache/bin/sccache"], ["distcc"], ["icecc"],
                                      ["ccache", "max_direct=false", "hash_dir=1"],
                                      ["ccache", "distcc"], ["distcc", "ccache"]])
def test_a_link_behind_a_launcher_is_the_drivers_link(launcher: list[str]) -> None:
    argv = [*launcher, "gcc", "-fuse-ld=lld", "-B", "/opt/b", "main.o", "-lm", "-o", "app"]
    cmd = parse(argv)
    plain = parse(argv[len(launcher):])
    assert (cmd.tool, cmd.family, cmd.kind, cmd.output) == ("driver", "gcc", "link", "app")
    assert cmd.launcher == launcher and cmd.program == "gcc"
    assert cmd.args_at == len(launcher) + 1
    for field in ("inputs", "libs_unresolved", "linker_args", "fuse_ld", "ld_path", "b_dirs",
                  "output", "kind", "family", "tool", "lto", "lto_jobs"):
        assert getattr(cmd, field) == getattr(plain, field), field
    assert cmd.argv == argv  # untouched


@pytest.mark.parametrize("launcher", ["ccache", "sccache", "distcc", "icecc"])
@pytest.mark.parametrize(("args", "kind"), [
    (["-c", "x.c", "-o", "x.o"], "compile"), (["-S", "x.c"], "compile"),
    (["-E", "x.c"], "compile"), (["-MM", "x.c"], "compile"), (["--version"], "info"),
    (["a.o", "b.o", "-o", "app"], "link"), (["-shared", "a.o", "-o", "liba.so"], "link"),
])
def test_launcher_keeps_the_drivers_kind(launcher: str, args: list[str], kind: str) -> None:
    assert parse([launcher, "g++", *args]).kind == kind
    assert parse([launcher, "clang", *args]).family == "clang"


@pytest.mark.parametrize("argv", [
    ["ccache", "-s"], ["ccache", "--show-stats"], ["ccache", "-z"], ["ccache", "-M", "5G"],
    ["ccache", "--version"], ["ccache"], ["ccache", "max_size=1G"],
    ["sccache", "--show-stats"], ["sccache", "--start-server"], ["sccache"],
    ["distcc", "--help"], ["distcc", "--version"], ["distcc", "--show-hosts"],
    ["distcc", "-j"], ["distcc", "--scan-includes", "x.c"], ["distcc"],
    ["icecc", "--help"], ["icecc", "--version"], ["icecc", "--build-native"], ["icecc"],
])
def test_a_launchers_own_command_takes_no_slot(argv: list[str]) -> None:
    cmd = parse(argv)
    assert (cmd.tool, cmd.kind, cmd.program) == ("launcher", "info", None)
    assert add_linker_args(cmd, ["--threads=1"]) == argv


@pytest.mark.parametrize(("argv", "kind", "output"), [
    (["distcc", "-o", "app", "a.o"], "link", "app"),  # an option first: cc is implied
    (["distcc", "a.o", "-o", "app"], "link", "app"),  # an object first: cc
    (["distcc", "x.c", "-o", "app"], "link", "app"),  # a source first: cc
    (["distcc", "-c", "x.cpp"], "compile", None),
    (["distcc", "dir.d/x.C", "-c"], "compile", None),
])
def test_distcc_without_a_compiler_runs_cc(argv: list[str], kind: str,
                                           output: str | None) -> None:
    """distcc's implicit.c: the first word an option, or a source or object file name, means
    no compiler was named, and distcc runs `cc` with every word."""
    cmd = parse(argv)
    assert (cmd.tool, cmd.family, cmd.program, cmd.kind, cmd.output) == \
        ("driver", "gcc", "cc", kind, output)
    assert cmd.launcher == ["distcc"] and cmd.args_at == 1


def test_distcc_takes_any_other_first_word_for_the_compiler() -> None:
    assert parse(["distcc", "x86_64-linux-gnu-g++-12", "a.o"]).program == \
        "x86_64-linux-gnu-g++-12"
    assert parse(["distcc", "./my.cc.wrapper", "a.o"]).tool == "unknown"  # a program
    assert parse(["distcc", "libfoo.a", "-o", "x"]).program == "libfoo.a"  # not .o: a name


def test_icecc_takes_its_first_word_for_the_compiler_whatever_it_is() -> None:
    """icecc's main.cpp sets argv[1] as the compiler (no implicit cc, unlike distcc): an
    option there is a program icecc cannot run, so linkpool does not call it a link."""
    cmd = parse(["icecc", "-o", "app", "a.o"])
    assert (cmd.tool, cmd.kind, cmd.program) == ("unknown", "unknown", "-o")
    assert parse(["icecc", "gcc", "-o", "app", "a.o"]).kind == "link"


def test_launcher_in_front_of_a_linker_or_other_program() -> None:
    cmd = parse(["ccache", "ld.lld", "a.o", "-o", "out"])
    assert (cmd.tool, cmd.kind, cmd.output, cmd.linker_args) == ("linker", "link", "out",
                                                                 ["a.o", "-o", "out"])
    lld = parse(["sccache", "lld", "-flavor", "gnu", "a.o"])
    assert (lld.tool, lld.args_at, lld.linker_args) == ("linker", 4, ["a.o"])
    assert parse(["ccache", "python3", "x.py"]).tool == "unknown"
    assert parse(["ccache", "a.o", "-o", "out"]).tool == "unknown"  # ccache's "compiler"


def test_ccache_masquerading_as_gcc_is_a_plain_driver() -> None:
    cmd = parse(["/usr/lib/ccache/gcc", "a.o", "-o", "app"])
    assert (cmd.tool, cmd.launcher, cmd.program, cmd.args_at) == ("driver", [],
                                                                  "/usr/lib/ccache/gcc", 1)


def test_launchers_in_a_row_stop_at_a_limit() -> None:
    words, program, at = split_launchers(["ccache"] * 6 + ["gcc", "a.o"])
    assert (words, program, at) == (4, "ccache", 5)  # the fifth is taken for a program
    assert parse(["ccache"] * 6 + ["gcc", "a.o"]).tool == "unknown"


def test_response_files_behind_a_launcher(tmp_path: Path) -> None:
    (tmp_path / "link.rsp").write_text("main.o -o 'my app' -Wl,--threads=3")
    (tmp_path / "ccache").write_text("x.o")  # a launcher's words are never response files
    cmd = parse(["ccache", "gcc", "@link.rsp"], cwd=str(tmp_path))
    assert cmd.expanded == ["ccache", "gcc", "main.o", "-o", "my app", "-Wl,--threads=3"]
    assert (cmd.kind, cmd.output, cmd.linker_args) == ("link", "my app", ["--threads=3"])


@pytest.mark.parametrize(("argv", "at"), [
    (["ccache", "gcc", "a.o", "-o", "app"], 2),
    (["/usr/bin/ccache", "gcc", "a.o"], 2),
    (["ccache", "compiler_check=none", "g++", "a.o"], 3),
    (["distcc", "-o", "app", "a.o"], 1),  # before the first word distcc gives cc
    (["icecc", "clang", "a.o"], 2),
    (["sccache", "ld.mold", "a.o"], 2),
    (["ccache", "lld", "-flavor", "gnu", "a.o"], 4),
])
def test_add_linker_args_goes_after_the_driver_not_the_launcher(argv: list[str],
                                                                at: int) -> None:
    cmd = parse(argv)
    extra = ["--threads=1"] if cmd.tool == "linker" else ["-Wl,--threads=1"]
    assert add_linker_args(cmd, ["--threads=1"]) == argv[:at] + extra + argv[at:]
    assert parse(argv[:at] + extra + argv[at:]).linker_args[:1] == ["--threads=1"]


# -- the engine, with the real ccache -----------------------------------------------------

@pytest.fixture
def ccache_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CCACHE_DIR": str(tmp_path / "ccache-dir")}


@pytest.fixture
def objs(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    (d / "main.c").write_text('#include <stdio.h>\nint helper(int);\n'
                              'int main(void) { printf("%d\\n", helper(41)); return 0; }\n')
    (d / "helper.c").write_text("int helper(int x) { return x + 1; }\n")
    for name in ("main", "helper"):
        subprocess.run(["gcc", "-c", f"{name}.c", "-o", f"{name}.o"], cwd=d, check=True)
    return d


def test_ccache_gcc_link_is_recorded_as_gccs_link(objs: Path, tmp_path: Path,
                                                  ccache_env: dict[str, str]) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    env = {**ccache_env, "LINKPOOL_DIR": str(pool)}
    argv = ["ccache", "gcc", "-o", "app", "main.o", "helper.o"]
    bare = subprocess.run(argv, cwd=objs, env=ccache_env, capture_output=True)
    (objs / "app").unlink()
    r = lp(*argv, cwd=objs, env=env)  # the launcher form: linkpool ccache gcc ...
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "") == (bare.returncode, "", "")
    assert subprocess.run([str(objs / "app")], capture_output=True, text=True).stdout == "42\n"
    (rec,) = history(pool)
    assert (rec["kind"], rec["output"], rec["linker"], rec["exit"]) == (
        "link", str(objs / "app"), "bfd", 0)
    assert rec["launcher"] == ["ccache"] and rec["command"] == argv


def test_ccache_gcc_link_is_tuned_after_the_driver(objs: Path, tmp_path: Path,
                                                   ccache_env: dict[str, str]) -> None:
    """Weight 1 of 2 slots: lld gets its thread count through `ccache gcc -Wl,...`, as it
    would through plain gcc; a -B shim logs what gcc really ran."""
    shim, log = tmp_path / "shim", tmp_path / "argv.log"
    shim.mkdir()
    (shim / "ld.lld").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\n'
                                 f'exec {shutil.which("ld.lld")} "$@"\n')
    (shim / "ld.lld").chmod(0o755)
    pool = make_pool(tmp_path / "pool", 2)
    r = lp("run", "--pool", str(pool), "--weight", "1", "--", "ccache", "gcc", f"-B{shim}",
           "-fuse-ld=lld", "main.o", "helper.o", "-o", "app", cwd=objs, env=ccache_env)
    assert r.returncode == 0, r.stderr
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    args = log.read_text().split("\n")
    if threads < len(os.sched_getaffinity(0)):
        assert f"--threads={threads}" in args
    (rec,) = history(pool)
    assert (rec["linker"], rec["weight"], rec["threads"]) == ("lld", 1, threads)


def test_ccache_gcc_compile_takes_no_slot(objs: Path, tmp_path: Path,
                                          ccache_env: dict[str, str]) -> None:
    """The pool's only slot is held: a compile behind ccache still runs at once (a job
    that waited would give up after --timeout with 75), and nothing is recorded."""
    pool = make_pool(tmp_path / "pool", 1)
    with Pool.open(str(pool)) as p, p.acquire(1):
        r = lp("run", "--pool", str(pool), "--timeout", "0.5", "--", "ccache", "gcc", "-c",
               "helper.c", "-o", str(tmp_path / "h.o"), cwd=objs, env=ccache_env)
        assert r.returncode == 0, r.stderr
        stats = lp("run", "--pool", str(pool), "--timeout", "0.5", "--", "ccache", "-s",
                   env=ccache_env)
        assert stats.returncode == 0, stats.stderr  # ccache's own command: no slot either
        link = lp("run", "--pool", str(pool), "--timeout", "0.5", "--", "ccache", "gcc",
                  "main.o", "helper.o", "-o", str(tmp_path / "app"), cwd=objs, env=ccache_env)
        assert link.returncode == 75  # ... while a link behind ccache does wait
    assert (tmp_path / "h.o").exists()
    assert history(pool) == []
