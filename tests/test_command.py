"""command.py: what a driver or linker command line does, checked against real gcc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkpool.command import (
    MAX_DEPTH,
    Command,
    CommandError,
    add_linker_args,
    parse,
    split_response,
)

from conftest import lp, make_pool

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


# -- what the program is ---------------------------------------------------------------

@pytest.mark.parametrize(("argv0", "tool", "family"), [
    ("gcc", "driver", "gcc"),
    ("/usr/bin/g++", "driver", "gcc"),
    ("cc", "driver", "gcc"),
    ("c++", "driver", "gcc"),
    ("gcc-12", "driver", "gcc"),
    ("g++-12.2", "driver", "gcc"),
    ("x86_64-linux-gnu-gcc-12", "driver", "gcc"),
    ("aarch64-linux-gnu-g++", "driver", "gcc"),
    ("clang", "driver", "clang"),
    ("/usr/lib/llvm-14/bin/clang++", "driver", "clang"),
    ("clang++-14", "driver", "clang"),
    ("x86_64-pc-linux-gnu-clang", "driver", "clang"),
    ("ld", "linker", None),
    ("ld.bfd", "linker", None),
    ("/usr/bin/ld.gold", "linker", None),
    ("gold", "linker", None),  # binutils installs gold under that name too
    ("ld.lld", "linker", None),
    ("ld.lld-14", "linker", None),
    ("ld.mold", "linker", None),
    ("mold", "linker", None),
    ("x86_64-linux-gnu-ld.bfd", "linker", None),
    ("x86_64-linux-gnu-ld", "linker", None),
    ("lld", "unknown", None),  # lld needs -flavor gnu to be ld.lld
    ("gcc-ar", "unknown", None),
    ("x86_64-linux-gnu-gcc-nm-12", "unknown", None),
    ("clang-tidy", "unknown", None),
    ("lld-link", "unknown", None),
    ("ld.so", "unknown", None),
    ("ccache", "unknown", None),
    ("python3", "unknown", None),
    ("", "unknown", None),
])
def test_tool_recognised_by_name(argv0: str, tool: str, family: str | None) -> None:
    cmd = parse([argv0, "a.o", "-o", "out"])
    assert (cmd.tool, cmd.family) == (tool, family)
    if tool == "unknown":
        assert cmd.kind == "unknown"


def test_lld_with_flavor_gnu_is_a_linker() -> None:
    cmd = parse(["lld", "-flavor", "gnu", "a.o", "-o", "out"])
    assert (cmd.tool, cmd.kind, cmd.output, cmd.inputs) == ("linker", "link", "out", ["a.o"])
    assert cmd.linker_args == ["a.o", "-o", "out"]


# -- what it does ------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "kind"), [
    (["a.o", "b.o", "-o", "prog"], "link"),
    (["main.c", "-o", "prog"], "link"),  # compile and link
    (["-shared", "-fPIC", "a.o", "-o", "liba.so"], "link"),
    (["-lm"], "link"),  # gcc links with only -l (undefined main, but it links)
    (["-Wl,a.o", "-o", "prog"], "link"),  # gcc counts -Wl words as inputs
    (["-v", "a.o"], "link"),
    (["-MD", "-MF", "a.d", "main.c", "-o", "prog"], "link"),
    (["-c", "a.c"], "compile"),
    (["--compile", "a.c"], "compile"),
    (["-S", "a.c"], "compile"),
    (["-E", "a.c"], "compile"),
    (["-fsyntax-only", "a.c"], "compile"),
    (["-M", "a.c"], "compile"),
    (["-MM", "a.c"], "compile"),
    (["-MD", "-c", "a.c"], "compile"),
    (["-MMD", "-MF", "a.d", "-c", "a.c", "-o", "a.o"], "compile"),
    (["--version"], "info"),
    (["-v"], "info"),
    (["-dumpversion"], "info"),
    (["-dumpmachine"], "info"),
    (["-print-prog-name=ld"], "info"),
    (["-print-search-dirs"], "info"),
    (["--print-file-name=libc.so"], "info"),
    (["--help"], "info"),
    (["--help=optimizers"], "info"),
    (["-###", "a.o"], "info"),
    ([], "info"),  # no input files
    (["-O2", "-fuse-ld=mold", "-L/usr/lib"], "info"),
    (["--version", "a.o", "-o", "x"], "info"),  # gcc prints and links nothing
    (["-c", "--version", "a.c"], "info"),
    (["-print-prog-name=ld", "a.o"], "info"),
])
def test_driver_kind(args: list[str], kind: str) -> None:
    assert parse(["gcc", *args]).kind == kind


@needs_gcc
@pytest.mark.parametrize("args", [
    ["--version", "h.o", "-o", "x"], ["-dumpmachine", "h.o", "-o", "x"],
    ["-print-prog-name=ld", "h.o", "-o", "x"], ["-c", "h.c", "-o", "x"], ["h.o", "-o", "x"],
    ["-o", "y", "-o", "x", "h.o"],
])
def test_kind_and_output_match_what_gcc_does(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "h.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-c", "h.c"], cwd=tmp_path, check=True)
    cmd = parse(["gcc", *args], cwd=str(tmp_path))
    subprocess.run(["gcc", *args], cwd=tmp_path, capture_output=True, check=True)
    assert (tmp_path / "x").exists() == (cmd.kind in ("link", "compile"))
    if cmd.kind == "link":
        assert cmd.output == "x"  # the last -o wins
        assert not (tmp_path / "y").exists()


@pytest.mark.parametrize(("args", "output"), [
    (["a.o", "-o", "prog"], "prog"),
    (["a.o", "-oprog"], "prog"),
    (["a.o", "--output=prog"], "prog"),
    (["a.o", "--output", "prog"], "prog"),
    (["-o", "first", "a.o", "-o", "last"], "last"),
    (["a.o"], "a.out"),
    (["-c", "a.c"], None),
    (["-c", "a.c", "-o", "a.o"], "a.o"),
    (["-o", "prog", "--version"], "prog"),
])
def test_driver_output(args: list[str], output: str | None) -> None:
    assert parse(["gcc", *args]).output == output


def test_option_values_are_not_inputs() -> None:
    cmd = parse(["g++", "-I", "inc", "-include", "pre.h", "-x", "c++", "-D", "X=1", "-MF",
                 "a.d", "-isystem", "sys", "main.cpp", "-Xclang", "-ast-dump", "--param",
                 "max-inline=3", "-o", "prog", "-", ""])
    assert cmd.inputs == ["main.cpp"]


def test_linker_args_from_wl_xlinker_and_z() -> None:
    cmd = parse(["gcc", "a.o", "-Wl,--as-needed,-rpath,/opt/lib", "-Xlinker", "--threads=4",
                 "-Xlinker", "a,b", "-z", "now", "-zrelro", "--for-linker=--gc-sections",
                 "-Wl,a,,b", "-o", "prog"])
    assert cmd.linker_args == ["--as-needed", "-rpath", "/opt/lib", "--threads=4", "a,b",
                               "-z", "now", "-z", "relro", "--gc-sections", "a", "", "b"]
    assert cmd.inputs == ["a.o", "a,b", "a", "b"]  # what ld would take for files


def test_fuse_ld_ld_path_and_b_dirs() -> None:
    cmd = parse(["clang", "-B/opt/a", "-B", "/opt/b", "--prefix=/opt/c", "--prefix", "/opt/d",
                 "-fuse-ld=gold", "-fuse-ld=lld", "--ld-path=/opt/ld.lld", "a.o"])
    assert cmd.b_dirs == ["/opt/a", "/opt/b", "/opt/c", "/opt/d"]
    assert (cmd.fuse_ld, cmd.ld_path) == ("lld", "/opt/ld.lld")  # the last one wins
    assert parse(["gcc", "a.o"]).fuse_ld is None


# -- a source read from stdin -----------------------------------------------------------

@pytest.mark.parametrize(("args", "kind", "output"), [
    (["-x", "c", "-", "-o", "prog"], "link", "prog"),  # configure-style compile-and-link
    (["-xc", "-"], "link", "a.out"),
    (["--language=c++", "-", "-o", "p"], "link", "p"),
    (["--language", "c", "-", "-lm"], "link", "a.out"),
    (["-x", "c", "-", "-x", "none", "a.o", "-o", "p"], "link", "p"),
    (["-x", "c", "-c", "-", "-o", "x.o"], "compile", "x.o"),
    (["-x", "c", "-S", "-"], "compile", None),
    (["-E", "-x", "c", "-"], "compile", None),
    (["-x", "c", "-fsyntax-only", "-"], "compile", None),
    (["-x", "c", "-", "--version"], "info", None),
    (["-", "-o", "prog"], "info", "prog"),  # no -x: gcc refuses stdin, and links nothing
    (["-x", "none", "-", "-o", "prog"], "info", "prog"),  # -x none resets the language
    (["-x", "c"], "info", None),  # a language and no input
])
def test_stdin_is_an_input_only_under_x(args: list[str], kind: str, output: str | None) -> None:
    cmd = parse(["gcc", *args])
    assert (cmd.kind, cmd.output) == (kind, output)
    assert "-" not in cmd.inputs  # nothing to weigh


@needs_gcc
@pytest.mark.parametrize(("args", "made"), [
    (["-x", "c", "-", "-o", "prog"], True), (["-x", "c", "-c", "-", "-o", "prog"], True),
    (["-", "-o", "prog"], False), (["-x", "none", "-", "-o", "prog"], False),
])
def test_stdin_kind_matches_what_gcc_does(tmp_path: Path, args: list[str], made: bool) -> None:
    done = subprocess.run(["gcc", *args], cwd=tmp_path, input=b"int main(void){return 0;}\n",
                          capture_output=True)
    assert (done.returncode == 0) == made == (tmp_path / "prog").exists()
    assert parse(["gcc", *args]).kind == ("info" if not made else
                                          "compile" if "-c" in args else "link")


@needs_gcc
def test_compile_and_link_from_stdin_runs_as_a_link(tmp_path: Path) -> None:
    """`echo 'int main(){...}' | linkpool gcc -x c - -o prog`: a link under the pool, the
    program built from the source on stdin, and recorded with its output."""
    pool = make_pool(tmp_path / "pool", 2)
    env = {**os.environ, "LINKPOOL_DIR": str(pool)}
    r = lp("gcc", "-x", "c", "-", "-o", "prog", cwd=tmp_path, env=env,
           input="int main(void) { return 7; }\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert subprocess.run([str(tmp_path / "prog")]).returncode == 7
    out = lp("history", "--pool", str(pool), "--json", check=True).stdout
    (rec,) = json.loads(out)
    assert (rec["kind"], rec["output"], rec["exit"], rec["linker"]) == (
        "link", str(tmp_path / "prog"), 0, "bfd")
    assert rec["command"] == ["gcc", "-x", "c", "-", "-o", "prog"]


# -- libraries ---------------------------------------------------------------------------

@pytest.fixture
def libdirs(tmp_path: Path) -> Path:
    for name in ("one/libfoo.so", "one/libboth.so", "one/libboth.a", "two/libbar.a",
                 "two/libfoo.so", "two/libexact.a", "two/libver.so.1"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "one" / "libdir.so").mkdir()  # a directory is not a library
    return tmp_path


def test_libraries_resolved_through_l_dirs(libdirs: Path) -> None:
    one, two = str(libdirs / "one"), str(libdirs / "two")
    cmd = parse(["gcc", "main.o", f"-L{one}", "-L", two, "-lfoo", "-l", "bar", "-lboth",
                 "-l:libexact.a", "-lm", "-ldir", "-l:libver.so.1", "-o", "prog"])
    assert cmd.inputs == ["main.o", f"{one}/libfoo.so", f"{two}/libbar.a",
                          f"{one}/libboth.so", f"{two}/libexact.a", f"{two}/libver.so.1"]
    assert cmd.libs_unresolved == ["m", "dir"]


def test_l_dir_after_l_still_applies_and_bstatic_picks_archives(libdirs: Path) -> None:
    one = str(libdirs / "one")
    cmd = parse(["gcc", "-lboth", "-Wl,-Bstatic", "-lboth", "-Wl,-Bdynamic", "-lboth",
                 f"-L{one}"])
    assert cmd.inputs == [f"{one}/libboth.so", f"{one}/libboth.a", f"{one}/libboth.so"]
    static = parse(["gcc", "-static", "-lboth", "-lfoo", f"-L{one}"])
    assert static.inputs == [f"{one}/libboth.a"]
    assert static.libs_unresolved == ["foo"]


def test_relative_l_dirs_use_cwd(libdirs: Path) -> None:
    cmd = parse(["gcc", "a.o", "-Lone", "-lfoo"], cwd=str(libdirs))
    assert cmd.inputs == ["a.o", "one/libfoo.so"]
    assert parse(["gcc", "a.o", "-Lone", "-lfoo"], cwd="/").libs_unresolved == ["foo"]


def test_direct_linker_call(libdirs: Path) -> None:
    two = str(libdirs / "two")
    argv = ["ld.lld", "-m", "elf_x86_64", "crt1.o", "main.o", "--library-path", two,
            "--library=bar", "-lfoo", "-rpath", "/opt/lib", "-soname", "libx.so",
            "--threads", "2", "--version-script=v.map", "-T", "link.ld", "-o", "out",
            "--as-needed", "--start-group", "libz.a", "--end-group"]
    cmd = parse(argv)
    assert (cmd.tool, cmd.family, cmd.kind, cmd.output) == ("linker", None, "link", "out")
    assert cmd.linker_args == argv[1:]
    assert cmd.inputs == ["crt1.o", "main.o", f"{two}/libbar.a", f"{two}/libfoo.so", "libz.a"]
    assert parse(["ld", "a.o"]).output == "a.out"
    assert parse(["ld", "a.o", "-oout"]).output == "out"
    assert parse(["ld", "a.o", "-output=out"]).output == "out"


@pytest.mark.parametrize(("args", "kind"), [
    (["--version"], "info"), (["-v"], "info"), (["--help"], "info"), ([], "info"),
    (["a.o", "--version"], "info"),  # --version exits at once
    (["-v", "a.o"], "link"),  # -v prints the version and links on (bfd, gold, lld, mold)
    (["a.o"], "link"),
])
def test_linker_kind(args: list[str], kind: str) -> None:
    assert parse(["ld.bfd", *args]).kind == kind


# -- response files ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "words"), [
    ("a b\tc\nd\re\ff\vg", ["a", "b", "c", "d", "e", "f", "g"]),
    ("  leading and trailing  \n", ["leading", "and", "trailing"]),
    ("", []),
    (" \n\t ", []),
    ("'a b' \"c d\" e\\ f", ["a b", "c d", "e f"]),
    ("'it'\\''s'", ["it's"]),
    ("'a\\'b'", ["a'b"]),  # unlike sh, a backslash escapes inside single quotes too
    ('"say \\"hi\\""', ['say "hi"']),
    ('"" x \'\'', ["", "x", ""]),  # quotes make empty words
    ("a\"b c\"d", ["ab cd"]),
    ("back\\\\slash", ["back\\slash"]),
    ("tail\\", ["tail"]),
    ("x \\\n", ["x", "\n"]),  # a backslash escapes the newline itself
    ("'unterminated quote", ["unterminated quote"]),
    ("a\x1cb", ["a\x1cb"]),  # only ASCII blanks separate, not what str.split() takes
])
def test_split_like_libiberty(text: str, words: list[str]) -> None:
    assert split_response(text) == words


def test_nested_response_files(tmp_path: Path) -> None:
    (tmp_path / "inner.rsp").write_text("-lm 'c d.o'\n")
    (tmp_path / "outer.rsp").write_text("a.o @inner.rsp -o \"my prog\"\n")
    (tmp_path / "empty.rsp").write_text("  \n")
    argv = ["gcc", "@outer.rsp", "b.o", "@empty.rsp", "@inner.rsp"]
    cmd = parse(argv, cwd=str(tmp_path))
    assert cmd.expanded == ["gcc", "a.o", "-lm", "c d.o", "-o", "my prog", "b.o", "-lm",
                            "c d.o"]
    assert cmd.argv == argv
    assert (cmd.kind, cmd.output, cmd.inputs) == ("link", "my prog", ["a.o", "c d.o", "b.o",
                                                                     "c d.o"])


def test_missing_or_special_response_file_stays_literal(tmp_path: Path) -> None:
    (tmp_path / "dir.rsp").mkdir()
    argv = ["gcc", "@missing.rsp", "@", "@dir.rsp", "@/dev/zero", "@a\x00b", "x.o"]
    assert parse(argv, cwd=str(tmp_path)).expanded == argv


def test_response_file_relative_to_cwd_and_absolute(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.rsp").write_text("@sub/b.rsp")  # relative to cwd, as in gcc
    (tmp_path / "sub" / "b.rsp").write_text("x.o")
    assert parse(["gcc", "@sub/a.rsp"], cwd=str(tmp_path)).expanded == ["gcc", "x.o"]
    absolute = str(tmp_path / "sub" / "b.rsp")
    assert parse(["gcc", f"@{absolute}"], cwd="/").expanded == ["gcc", "x.o"]


def test_program_name_is_not_expanded(tmp_path: Path) -> None:
    (tmp_path / "gcc").write_text("x.o")
    assert parse(["@gcc", "@gcc"], cwd=str(tmp_path)).expanded == ["@gcc", "x.o"]


def test_response_file_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "self.rsp").write_text("a.o @self.rsp")
    with pytest.raises(CommandError, match="includes itself"):
        parse(["gcc", "@self.rsp"], cwd=str(tmp_path))
    (tmp_path / "a.rsp").write_text("@b.rsp")
    (tmp_path / "b.rsp").write_text("@c.rsp")
    (tmp_path / "c.rsp").write_text("@a.rsp")
    with pytest.raises(CommandError, match=r"@a\.rsp -> @b\.rsp -> @c\.rsp -> @a\.rsp"):
        parse(["gcc", "@a.rsp"], cwd=str(tmp_path))
    (tmp_path / "twice.rsp").write_text("@b2.rsp @b2.rsp")  # the same file twice: no loop
    (tmp_path / "b2.rsp").write_text("x.o")
    assert parse(["gcc", "@twice.rsp"], cwd=str(tmp_path)).inputs == ["x.o", "x.o"]


def test_response_file_depth_limit(tmp_path: Path) -> None:
    def chain(depth: int) -> None:
        for level in range(depth):
            nxt = f"@d{level + 1}.rsp" if level + 1 < depth else "x.o"
            (tmp_path / f"d{level}.rsp").write_text(nxt)

    chain(MAX_DEPTH)
    assert parse(["gcc", "@d0.rsp"], cwd=str(tmp_path)).inputs == ["x.o"]
    chain(MAX_DEPTH + 1)
    with pytest.raises(CommandError, match="nested deeper"):
        parse(["gcc", "@d0.rsp"], cwd=str(tmp_path))


def test_wl_response_file_is_what_the_linker_reads(tmp_path: Path) -> None:
    (tmp_path / "ld.rsp").write_text("--threads=2 lib.a")
    cmd = parse(["gcc", "a.o", "-Wl,@ld.rsp"], cwd=str(tmp_path))
    assert cmd.linker_args == ["--threads=2", "lib.a"]
    assert cmd.inputs == ["a.o", "lib.a"]


def test_non_utf8_response_file_and_args(tmp_path: Path) -> None:
    (tmp_path / "latin1.rsp").write_bytes(b"caf\xe9.o -o 'out \xff'")
    cmd = parse(["gcc", "@latin1.rsp", os.fsdecode(b"na\xefve.o")], cwd=str(tmp_path))
    assert cmd.inputs == [os.fsdecode(b"caf\xe9.o"), os.fsdecode(b"na\xefve.o")]
    assert os.fsencode(cmd.output or "") == b"out \xff"


@needs_gcc
def test_response_file_words_match_gcc(tmp_path: Path) -> None:
    """gcc -### shows what libiberty made of a response file: we must agree."""
    text = "-DA='x y' \"-DB=say \\\"hi\\\"\" -DC=back\\\\slash -DD=it\\'s -DE='' -o 'o u t'"
    (tmp_path / "t.rsp").write_text(text)
    (tmp_path / "t.c").write_text("int x;\n")
    cmd = parse(["gcc", "-c", "t.c", "@t.rsp"], cwd=str(tmp_path))
    assert cmd.expanded[3:] == ["-DA=x y", '-DB=say "hi"', "-DC=back\\slash", "-DD=it's",
                                "-DE=", "-o", "o u t"]
    shown = subprocess.run(["gcc", "-###", "-c", "t.c", "@t.rsp"], cwd=tmp_path, text=True,
                           capture_output=True, check=True).stderr
    cc1 = next(line for line in shown.splitlines() if "/cc1 " in line)
    for word in cmd.expanded[3:8]:  # gcc -### quotes an argument as "...", \ and " escaped
        value = word[2:].replace("\\", "\\\\").replace('"', '\\"')
        assert f'-D "{value}"' in cc1
    assert '-dumpbase "o u t.c"' in cc1


# -- adding linker options ---------------------------------------------------------------

def test_add_linker_args_to_driver() -> None:
    cmd = parse(["gcc", "@args.rsp", "a.o", "-Wl,--threads=8", "-o", "prog"])
    assert add_linker_args(cmd, ["--threads=2"]) == [
        "gcc", "-Wl,--threads=2", "@args.rsp", "a.o", "-Wl,--threads=8", "-o", "prog"]
    assert add_linker_args(cmd, ["--threads", "--thread-count=2"])[1] == \
        "-Wl,--threads,--thread-count=2"
    assert add_linker_args(cmd, ["-z", "a,b", ""])[1:7] == [
        "-Xlinker", "-z", "-Xlinker", "a,b", "-Xlinker", ""]
    assert cmd.argv == ["gcc", "@args.rsp", "a.o", "-Wl,--threads=8", "-o", "prog"]


def test_add_linker_args_to_linker_and_others() -> None:
    assert add_linker_args(parse(["mold", "a.o"]), ["--threads=2"]) == [
        "mold", "--threads=2", "a.o"]
    assert add_linker_args(parse(["lld", "-flavor", "gnu", "a.o"]), ["--threads=2"]) == [
        "lld", "-flavor", "gnu", "--threads=2", "a.o"]
    assert add_linker_args(parse(["ar", "rcs", "x.a"]), ["--threads=2"]) == ["ar", "rcs", "x.a"]
    assert add_linker_args(parse(["gcc", "a.o"]), []) == ["gcc", "a.o"]
    assert add_linker_args(parse([]), ["x"]) == []


# -- garbage -----------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    [], [""], ["", ""], ["gcc", ""], ["gcc", "-o"], ["gcc", "-l"], ["gcc", "-Xlinker"],
    ["gcc", "-Wl,"], ["gcc", "-Wl"], ["ld", "-o"], ["ld", "-"], ["gcc", "-", "-o", "-"],
    ["gcc", "--output="], ["gcc", "-L"], ["ld", "-L"], ["ld", "--threads"],
    ["gcc", "x" * 100_000], ["gcc", "@" + "x" * 100_000], ["gcc", "-\udcff", "@\udcff"],
    ["gcc", "\ud800"], ["gcc", "-l\x00", "-L\x00"], ["\x00gcc"], ["gcc\udcff"],
])
def test_garbage_does_not_raise(argv: list[str]) -> None:
    cmd = parse(argv)
    assert isinstance(cmd, Command)
    assert cmd.argv == argv
    add_linker_args(cmd, ["--threads=1"])
    repr(cmd)


_WORDS = st.one_of(
    st.text(),
    st.binary().map(os.fsdecode),
    st.sampled_from(["gcc", "clang++-14", "ld", "ld.lld", "lld", "mold", "-o", "-l", "-L",
                     "-B", "-Wl,", "-Xlinker", "-z", "-T", "-c", "-M", "-MD", "-v", "@",
                     "--output", "--prefix=", "-fuse-ld=", "--threads", "-flavor", "gnu",
                     "-print-", "-static", "-Wl,-Bstatic,-lm", "@nonexistent.rsp", "ccache",
                     "distcc", "icecc", "sccache", "-x", "none", "-", "-flto=auto", "-flto",
                     "-fno-lto", "-flto-jobs=2", "-Wl,--thinlto-jobs=3", "--plugin-opt"]),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(_WORDS, max_size=12))
def test_parse_never_raises_on_arbitrary_argv(argv: list[str]) -> None:
    try:
        cmd = parse(argv, cwd="/nonexistent-linkpool-dir")
    except CommandError:
        return
    assert cmd.argv == argv
    assert cmd.tool in ("driver", "linker", "launcher", "unknown")
    assert cmd.kind in ("link", "compile", "info", "unknown")
    new = add_linker_args(cmd, ["--threads=1"])
    assert len(new) in (len(argv), len(argv) + 1)


@pytest.mark.parametrize("argv", [
    ["gcc", "-fuse-ld=lld", "-Xlinker"],  # found by the hypothesis test of test_bad_input
    ["gcc", "main.o", "-o"],
    ["gcc", "main.o", "-L"],
])
def test_a_missing_option_value_links_nothing(argv: list[str]) -> None:
    """gcc stops at "missing argument to ..." without linking: no slot, nothing added to
    the command (an added -Wl,--threads would count as an input and change gcc's errors)."""
    assert parse(argv).kind == "info"


@pytest.mark.parametrize("argv", [
    ["gcc", "-fuse-ld=lld", "-Xlinker", "--version", "main.o"],  # found by test_bad_input
    ["gcc", "-Wl,--help", "main.o", "-o", "app"],
])
def test_a_linker_asked_for_its_version_links_nothing(argv: list[str]) -> None:
    assert parse(argv).kind == "info"
