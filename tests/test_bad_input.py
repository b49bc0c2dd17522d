"""Bad input never changes the link's outcome (docs/hardening.md, "Bad input").

Every case runs the same command twice in the same directory, bare and through
`linkpool run --pool P --`, with real gcc, ld.bfd and mold, and compares the exit status,
stdout and stderr byte for byte and which files the command left behind. After each run
through linkpool the pool must be whole (no holders, no waiters) and no Traceback may
appear. No mocks anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import LINKPOOL, make_pool, status, wait_for

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

HAVE_MOLD = shutil.which("mold") is not None
LINKERS = ["bfd", pytest.param("mold", marks=pytest.mark.skipif(
    not HAVE_MOLD, reason="needs mold"))]
TIMEOUT = 60  # no case may hang: a link that blocks fails the test instead
# mold writes its output through a temporary .mold-XXXXXX beside it and names it in an
# error: the only part of a message that may differ between two runs.
MOLD_TEMP = re.compile(rb"\.mold-[A-Za-z0-9]{6}")
GCC_TEMP = re.compile(rb"/cc[A-Za-z0-9]{6}\.")
# The thread flag linkpool gives the linker (docs/policy.md), as collect2 echoes the linker's
# command line when the link is verbose (`-T --version` hands lld `--version`)
THREAD_FLAG = re.compile(rb"^(/\S*ld\.lld .*?) --threads=\d+", re.M)

MAIN_C = "extern int util(int);\nint main(void) { return util(0); }\n"
UTIL_C = "int util(int x) { return x; }\n"


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """main.o and util.o, compiled once, as bytes to lay out in each case's directory."""
    src = tmp_path_factory.mktemp("src")
    (src / "main.c").write_text(MAIN_C)
    (src / "util.c").write_text(UTIL_C)
    subprocess.run(["gcc", "-c", "main.c", "util.c"], cwd=src, check=True)
    return {"main.o": (src / "main.o").read_bytes(), "util.o": (src / "util.o").read_bytes()}


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pool(tmp_path_factory.mktemp("bad") / "pool", 2)



def listing(directory: Path) -> dict[bytes, str]:
    """What is in ``directory`` (recursively): name -> kind and size of regular files."""
    found: dict[bytes, str] = {}
    for root, dirs, files in os.walk(os.fsencode(directory)):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            kind = f"file {info.st_size}" if stat.S_ISREG(info.st_mode) else \
                stat.filemode(info.st_mode)[0]
            found[os.path.relpath(path, os.fsencode(directory))] = kind
    return found


def run(argv: list, cwd: Path, pool: Path | None, shell: bool = False
        ) -> tuple[int, bytes, bytes, dict[bytes, str]]:
    """(status, stdout, stderr, files left in cwd) of ``argv``, bare or through ``pool``."""
    if shell:  # the bare reference for a program that does not exist: sh says 127
        argv = ["sh", "-c", 'exec "$@"', "sh", *argv]
    if pool is not None:
        argv = [LINKPOOL, "run", "--pool", str(pool), "--", *argv]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)
    return (done.returncode, temp_names(done.stdout), temp_names(done.stderr), listing(cwd))


def temp_names(text: bytes) -> bytes:
    """``text`` with the random names of temporary files made the same: mold's, and gcc's
    (``-Xlinker --version`` makes collect2 print the command with its /tmp/ccXXXXXX.res),
    and without the thread flag linkpool adds to an lld command line collect2 prints."""
    text = GCC_TEMP.sub(b"/ccXXXXXX.", MOLD_TEMP.sub(b".mold-XXXXXX", text))
    return THREAD_FLAG.sub(rb"\1", text)


def pool_is_whole(pool: Path) -> None:
    # mold's child may still hold the slots for a moment after the wrapper answered
    wait_for(lambda: (lambda s: not s["holders"] and not s["waiters"])(status(pool)),
             what="an empty pool")


def compare(pool: Path, workdir: Path, setup: Callable[[Path], None], argv: list,
            missing_program: bool = False) -> tuple[int, bytes, bytes]:
    """Lay out ``workdir`` afresh for each run; the two runs must agree."""
    results = []
    for via in (None, pool):
        if workdir.exists():
            subprocess.run(["chmod", "-R", "u+rwx", str(workdir)], check=True)
            shutil.rmtree(workdir)
        workdir.mkdir()
        setup(workdir)
        results.append(run(argv, workdir, via, shell=missing_program and via is None))
        if via is not None:
            pool_is_whole(pool)
    bare, pooled = results
    assert b"Traceback" not in bare[2] + pooled[2]
    if missing_program:
        # sh: `sh: 1: PROG: not found`; linkpool: `linkpool: cannot run PROG: ...`
        assert bare[0] == pooled[0] == 127
        assert bare[1] == pooled[1] == b""
        lines = pooled[2].splitlines()
        assert len(lines) == 1 and lines[0].startswith(b"linkpool: "), pooled[2]
        assert bare[3] == pooled[3]
    else:
        assert pooled == bare
    return bare[:3]


# -- the table of bad inputs ---------------------------------------------------------

def _files(**contents: bytes | str) -> Callable[[Path], None]:
    """A setup that writes these files (a str value is a path relative to the objects)."""
    def setup(d: Path) -> None:
        for name, data in contents.items():
            (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    return setup


def _case_table(obj: dict[str, bytes]) -> dict[str, tuple[Callable[[Path], None], list, dict]]:
    """name -> (setup, arguments after `gcc -fuse-ld=L`, options for compare)."""
    main, util = obj["main.o"], obj["util.o"]
    bogus_member = (b"!<arch>\n" + b"util.o/".ljust(16) + b"0".ljust(12) + b"0".ljust(6)
                    + b"0".ljust(6) + b"644".ljust(8) + b"99999999".ljust(10) + b"`\n" + util)

    def base(d: Path) -> None:
        (d / "main.o").write_bytes(main)
        (d / "util.o").write_bytes(util)

    def also(more: Callable[[Path], None]) -> Callable[[Path], None]:
        def setup(d: Path) -> None:
            base(d)
            more(d)
        return setup

    def huge(d: Path) -> None:
        with open(d / "huge.o", "wb") as f:
            f.truncate(4 << 30)  # sparse: never written, no disk used

    def nesting(d: Path) -> None:
        for i in range(40):
            (d / f"r{i}").write_text(f"@r{i + 1}\n")
        (d / "r40").write_text("main.o util.o -o app\n")

    def not_a_dir(d: Path) -> None:
        (d / "plainfile").write_text("not a directory\n")

    def read_only(d: Path) -> None:
        ro = d / "ro"
        ro.mkdir()
        ro.chmod(0o555)

    # As root a 0555 directory is still writable; /proc refuses a new file even to root.
    ro_out = "ro/app" if os.geteuid() != 0 else "/proc/linkpool-bad-input-test/app"
    odd = os.fsencode("\udcff\udcfe")  # os.fsencode of lone surrogates: b"\xff\xfe"
    return {
        "garbage-object": (also(_files(**{"junk.o": b"this is not an object\n" * 50})),
                           ["main.o", "util.o", "junk.o", "-o", "app"], {}),
        "truncated-elf": (also(_files(**{"cut.o": util[:100]})),
                          ["main.o", "cut.o", "-o", "app"], {}),
        "huge-sparse-object": (also(huge), ["main.o", "util.o", "huge.o", "-o", "app"], {}),
        "archive-bogus-member-size": (also(_files(**{"libbad.a": bogus_member})),
                                      ["main.o", "libbad.a", "-o", "app"], {}),
        "empty-archive": (also(_files(**{"libempty.a": b""})),
                          ["main.o", "util.o", "libempty.a", "-o", "app"], {}),
        "archive-magic-only": (also(_files(**{"libmagic.a": b"!<arch>\n"})),
                               ["main.o", "util.o", "libmagic.a", "-o", "app"], {}),
        "directory-input": (also(lambda d: (d / "dir.o").mkdir()),
                            ["main.o", "util.o", "dir.o", "-o", "app"], {}),
        "missing-input": (base, ["main.o", "util.o", "nothere.o", "-o", "app"], {}),
        "output-in-missing-dir": (base, ["main.o", "util.o", "-o", "no/such/dir/app"], {}),
        "output-under-a-file": (also(not_a_dir), ["main.o", "util.o", "-o", "plainfile/app"],
                                {}),
        "output-read-only-dir": (also(read_only), ["main.o", "util.o", "-o", ro_out], {}),
        "fuse-ld-nonexistent": (base, ["-fuse-ld=nonexistent", "main.o", "util.o", "-o",
                                       "app"], {}),
        "response-file-loop": (also(_files(a="main.o @b\n", b="util.o @a\n")),
                               ["@a", "-o", "app"], {}),
        "response-nesting-40": (also(nesting), ["@r0"], {}),
        "non-utf8-names": (also(lambda d: (d / os.fsdecode(odd + b".o")).write_bytes(util)),
                           ["main.o", odd + b".o", odd + b"-missing.o", "-o", odd + b"app"],
                           {}),
        "non-utf8-linker-arg": (base, ["main.o", "util.o", b"-Wl,--defsym=\xff\xfe=0",
                                       "-o", "app"], {}),
        "argument-100k-input": (base, ["main.o", "util.o", "x" * 100_000, "-o", "app"], {}),
        "argument-100k-soname": (base, ["main.o", "util.o", "-Wl,-soname," + "s" * 100_000,
                                        "-o", "app"], {}),
    }


CASES = ["garbage-object", "truncated-elf", "huge-sparse-object", "archive-bogus-member-size",
         "empty-archive", "archive-magic-only", "directory-input", "missing-input",
         "output-in-missing-dir", "output-under-a-file", "output-read-only-dir",
         "fuse-ld-nonexistent", "response-file-loop", "response-nesting-40", "non-utf8-names",
         "non-utf8-linker-arg", "argument-100k-input", "argument-100k-soname"]


@pytest.mark.parametrize("linker", LINKERS)
@pytest.mark.parametrize("case", CASES)
def test_bad_input_same_outcome(case: str, linker: str, objects: dict[str, bytes],
                                pool: Path, tmp_path: Path) -> None:
    setup, args, options = _case_table(objects)[case]
    fuse = [] if case == "fuse-ld-nonexistent" else [f"-fuse-ld={linker}"]
    code, _, err = compare(pool, tmp_path / "w", setup, ["gcc", *fuse, *args], **options)
    if case == "response-nesting-40":
        assert code == 0, err  # libiberty has no depth limit: gcc links; so must we


def test_control_case_links(objects: dict[str, bytes], pool: Path, tmp_path: Path) -> None:
    """The harness itself: a good link succeeds both ways and leaves the same app."""
    setup, _, _ = _case_table(objects)["missing-input"]
    code, _, _ = compare(pool, tmp_path / "w", setup, ["gcc", "main.o", "util.o", "-o", "app"])
    assert code == 0


@pytest.mark.parametrize("program", ["linkpool-no-such-linker", "./no-such-program"])
def test_missing_program(program: str, objects: dict[str, bytes], pool: Path,
                         tmp_path: Path) -> None:
    """A program that does not exist: 127 both ways; linkpool's one line stands for sh's."""
    setup, _, _ = _case_table(objects)["missing-input"]
    compare(pool, tmp_path / "w", setup, [program, "main.o", "util.o", "-o", "app"],
            missing_program=True)


@pytest.mark.parametrize("linker", LINKERS)
def test_fifo_input_is_not_opened_by_the_estimate(linker: str, objects: dict[str, bytes],
                                                  pool: Path, tmp_path: Path) -> None:
    """A FIFO input next to 4 GiB of sparse input (so the estimate reads headers): a
    writer serves the object to each open of the FIFO; nothing may hang on it."""
    stop = threading.Event()
    served: list[int] = []
    work = tmp_path / "w"

    def writer() -> None:
        while not stop.is_set():
            try:
                fd = os.open(work / "fifo.o", os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader yet (ENXIO), or no FIFO between runs
                time.sleep(0.002)
                continue
            try:
                os.set_blocking(fd, True)
                os.write(fd, objects["util.o"])
                served.append(1)
            except OSError:
                pass
            finally:
                os.close(fd)

    def setup(d: Path) -> None:
        (d / "main.o").write_bytes(objects["main.o"])
        os.mkfifo(d / "fifo.o")
        with open(d / "zz-huge.o", "wb") as f:
            f.truncate(4 << 30)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        # without the sparse input first: the link reads the FIFO and can succeed
        compare(pool, work, setup, ["gcc", f"-fuse-ld={linker}", "main.o", "fifo.o", "-o",
                                    "app"])
        compare(pool, work, setup, ["gcc", f"-fuse-ld={linker}", "main.o", "fifo.o",
                                    "zz-huge.o", "-o", "app"])
    finally:
        stop.set()
        thread.join()
    assert served, "the linker never read the FIFO: the case tested nothing"


# -- random command lines ------------------------------------------------------------

# Not in the vocabulary: -v and -### (gcc prints its random /tmp/ccXXXXXX names) and
# -fuse-ld=gold (given -Wl,--threads, gold interleaves its error lines differently from
# one run to the next, bare or not).
FLAGS = ["-o", "-L.", "-L", "-lm", "-lnothere", "-l", "-static", "-shared", "-pie", "-no-pie",
         "-nostdlib", "-nostartfiles", "-s", "-g", "-O2", "-fuse-ld=bfd",
         "-fuse-ld=lld", "-fuse-ld=nonexistent", "-fuse-ld=", "-B", "-B.", "-Xlinker",
         "-Wl,", "-Wl,--threads=2", "-Wl,--no-undefined", "-Wl,--gc-sections", "-Wl,-Map",
         "-Wl,--as-needed", "-Wl,-o,wlout", "-c", "-E", "-S", "-M", "--version",
         "-print-prog-name=ld", "-x", "none", "-T", "-e", "main", "-u", "util", "-z", "now",
         "-rdynamic", "-pthread", "--", "-", "--sysroot=/nonexistent", "-flto"]
NAMES = ["main.o", "util.o", "libu.a", "junk.o", "junk", "cut.o", "empty.a", "bad.a",
         "missing.o", "missing.a", "dir", "out", "a.out", "@rsp1", "@rsp2", "@missing-rsp"]
WORD = st.one_of(st.sampled_from(FLAGS), st.sampled_from(NAMES),
                 st.builds(lambda a, b: f"-Wl,{a},{b}",
                           st.sampled_from(["--defsym", "-soname", "--threads", "-e", "-L",
                                            "--no-such-option", ""]),
                           st.sampled_from(["x=0", "main", "4", "", "util.o", "missing.o"])),
                 st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=8))
RSP = st.lists(st.one_of(WORD, st.sampled_from(['"a b"', "'", "\\", "@rsp1", "@rsp2"])),
               max_size=6).map(" ".join)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(argv=st.lists(WORD, max_size=10), rsp1=RSP, rsp2=RSP)
def test_random_command_lines_same_outcome(argv: list[str], rsp1: str, rsp2: str,
                                           objects: dict[str, bytes], pool: Path,
                                           tmp_path: Path) -> None:
    main, util = objects["main.o"], objects["util.o"]

    def setup(d: Path) -> None:
        _files(**{"main.o": main, "util.o": util, "junk.o": b"\x7fELF junk" * 9,
                  "junk": b"garbage\n", "cut.o": util[:100], "empty.a": b"",
                  "bad.a": b"!<arch>\nutil.o/" + b" " * 41 + b"77777777  `\n",
                  "rsp1": rsp1, "rsp2": rsp2})(d)
        (d / "dir").mkdir()
        subprocess.run(["ar", "rcs", "libu.a", "util.o"], cwd=d, check=True)

    code, _, _ = compare(pool, tmp_path / "h", setup, ["gcc", *argv])
    event(f"exit status {code}")


# -- atheris: the parser and the ELF reader on fuzzed bytes ----------------------------

FUZZ_RUNS = 20_000
FUZZ_SCRIPT = r'''
import os, sys, tempfile
import atheris

with atheris.instrument_imports():
    from linkpool.command import CommandError, parse
    from linkpool.estimate import estimate_inputs

work = tempfile.mkdtemp()
os.chdir(work)
for name, text in {"a": "@b -o x", "b": "@a", "c": "main.o -Wl,--threads=2 @d", "d": "-lm"}.items():
    with open(name, "w") as f:
        f.write(text)
PROGRAMS = ["gcc", "g++", "clang", "ld", "ld.lld", "lld", "mold", "x86_64-linux-gnu-gcc-12", "x"]
FILE = os.path.join(work, "input.o")


def one(data):
    if not data:
        return
    words = [os.fsdecode(w) for w in data[1:].split(b"\0")]
    prog = PROGRAMS[data[0] % len(PROGRAMS)]
    try:
        parse([prog, *words], work)
    except CommandError:
        pass
    with open(FILE, "wb") as f:
        f.write(data)
    estimate_inputs([FILE, FILE[:-1] + "a"], budget=1.0, elf_threshold=0)
    os.replace(FILE, FILE[:-1] + "a")  # the same bytes read as an archive next time


runs = "-runs=%d" % int(sys.argv[1])
atheris.Setup([sys.argv[0], runs, "-max_len=4096", "-seed=1", sys.argv[2]], one)
atheris.Fuzz()
'''


@pytest.mark.slow
def test_atheris_parse_and_estimate(objects: dict[str, bytes], tmp_path: Path) -> None:
    pytest.importorskip("atheris")  # pip install atheris (a wheel exists for CPython 3.11)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "util").write_bytes(b"\0" + objects["util.o"])
    (corpus / "argv").write_bytes(b"\0-o\0app\0main.o\0@a\0-Wl,--threads=4\0-fuse-ld=mold")
    (corpus / "ar").write_bytes(b"!<arch>\n" + b"u.o/".ljust(48) + b"1316      `\n"
                                + objects["util.o"][:200])
    script = tmp_path / "fuzz.py"
    script.write_text(FUZZ_SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(FUZZ_RUNS), str(corpus)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"Done {FUZZ_RUNS} runs" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
