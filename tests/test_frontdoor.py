"""The C front door (core/frontdoor/): what it promises beyond what every other test of the
`linkpool` command already checks through it.

- A repeat link starts no Python interpreter, before or after the answer; neither does a
  compile passed straight through.
- Its argument handling survives generated argv (non-UTF-8 included) in a build under
  AddressSanitizer and UBSan: the command's output and status are the bare command's.
- Its list of linkpool's own subcommands is Python's.
- What the /bin/sh launcher could not do: run a command under `ulimit -n 4`, and say
  nothing of its own in a deleted working directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import LINKPOOL, counting_copy, lp, make_pool, starts, status, wait_for

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*sorted((ROOT / "core" / "frontdoor").glob("*.c")),
           ROOT / "core" / "slotclient" / "lpslot.c"]


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("hello"); }\n')
    subprocess.run(["gcc", "-c", "hello.c", "-o", "hello.o"], cwd=src, check=True)
    return src


def test_a_repeat_link_starts_no_python(tmp_path: Path, hello: Path) -> None:
    """The first link of an output asks Python for its plan, weighed from its inputs; the
    second is planned once more, from what the first measured (the plan of a link weighed
    from its inputs lasts until the output has a record); from then on the same link
    starts no interpreter at all. Every link is in the history as it ends."""
    pool = make_pool(tmp_path / "pool", 2)
    front, log = counting_copy(tmp_path / "bin")
    env = dict(os.environ, LINKPOOL_DIR=str(pool))
    link = [str(front), "gcc", "hello.o", "-o", "hello"]
    first = subprocess.run(link, cwd=hello, env=env, capture_output=True, text=True)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    assert len(starts(log)) == 1 and "--plan=" in starts(log)[0]
    lines = (pool / "history.jsonl").read_text().splitlines()
    assert len(lines) == 1  # written by the front door, before it answered
    for i in range(4):
        again = subprocess.run(link, cwd=hello, env=env, capture_output=True, text=True)
        assert again.returncode == 0 and again.stderr == "", again.stderr
        assert subprocess.run([str(hello / "hello")], capture_output=True,
                              text=True).stdout == "hello\n"
        assert len((pool / "history.jsonl").read_text().splitlines()) == 2 + i
    assert len(starts(log)) == 2, starts(log)  # none on the last three links
    records = json.loads(lp("history", "--pool", str(pool), "--json").stdout)
    assert [r["exit"] for r in records] == [0] * 5
    assert {r["output"] for r in records} == {str(hello / "hello")}
    assert [r["estimate"]["source"] for r in records] == ["inputs"] + ["history"] * 4


def test_a_compile_passes_through_without_python(tmp_path: Path, hello: Path) -> None:
    front, log = counting_copy(tmp_path / "bin")
    for argv in (["gcc", "-c", "hello.c", "-o", "again.o"], ["gcc", "--version"],
                 ["ccache", "gcc", "-c", "hello.c", "-o", "cached.o"],
                 ["run", "--", "cc", "-E", "hello.c"]):
        if argv[0] == "ccache" and not shutil.which("ccache"):
            continue
        bare = subprocess.run(argv[2:] if argv[0] == "run" else argv, cwd=hello,
                              capture_output=True)
        r = subprocess.run([str(front), *argv], cwd=hello, capture_output=True)
        assert (r.returncode, r.stdout, r.stderr) == (bare.returncode, bare.stdout,
                                                      bare.stderr), argv
    assert starts(log) == []


def test_subcommands_are_pythons() -> None:
    """The words the front door hands to Python are linkpool.cli's subcommands (the
    registry's names; all but run, which the front door runs itself)."""
    from linkpool import cli

    text = (ROOT / "core" / "frontdoor" / "main.c").read_text()
    block = re.search(r"SUBCOMMANDS\[\] = \{(.*?)\};", text, re.S)
    assert block
    ours = set(re.findall(r'"([^"]+)"', block.group(1)))
    assert ours == {name for name in cli.SUBCOMMANDS if name != "run"}


@pytest.mark.parametrize("limit", ["4", "6", "10"])
def test_a_tiny_descriptor_limit_still_runs_the_command(tmp_path: Path, limit: str) -> None:
    """`ulimit -n 4`: the /bin/sh launcher could not even open itself (exit 2); the front
    door runs the command unpooled after one warning."""
    pool = make_pool(tmp_path / "pool", 2)
    env = dict(os.environ, LINKPOOL_DIR=str(pool))
    cmd = ["/bin/echo", "ran"]
    r = subprocess.run(["sh", "-c", f'ulimit -n {limit} && exec "$@"', "sh", LINKPOOL, *cmd],
                       capture_output=True, text=True, env=env, timeout=60)
    assert (r.returncode, r.stdout) == (0, "ran\n"), r.stderr
    assert r.stderr.startswith("linkpool: warning: the descriptor limit (ulimit -n)")
    assert r.stderr.count("\n") == 1


def test_a_deleted_working_directory_adds_no_line(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    gone = tmp_path / "gone"
    gone.mkdir()
    env = dict(os.environ, LINKPOOL_DIR=str(pool))
    script = 'cd "$0" && rmdir "$0" && exec "$@"'
    r = subprocess.run(["sh", "-c", script, str(gone), LINKPOOL, "/bin/echo", "ran"],
                       capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "ran\n", "")


# -- generated argv, under the sanitizers --------------------------------------------------

@pytest.fixture(scope="module")
def sanitized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The front door built from this checkout with -fsanitize=address,undefined, with
    linkpool-py beside it (it starts Python through the first line of that file)."""
    where = tmp_path_factory.mktemp("asan")
    program = where / "linkpool.asan"
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
                    "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", "-o", str(program), *map(str, SOURCES)],
                   check=True)
    front, _ = counting_copy(where / "bin", program)
    return front


WORDS = ["run", "--", "--pool", "--weight", "--timeout", "--strict", "--quiet", "-x", "-",
         "--weight=2", "--timeout=0.5", "2", "1e9", "-c", "-o", "gcc", "status", "",
         # a driver's temporary names, and near misses (linkpool.plans.volatile)
         "/tmp/ccAbC12z.o", "-x=/tmp/m-0a1b2c.o", "/tmp/cc@0000@.o", "/tmp/ccABCDE.o",
         "/tmp/-abcdef.o", "/tmp/cc", "/var/tmp/ccZZZZZZ.", "=/tmp/ccQQQQQQ.res"]
ARG = st.one_of(st.sampled_from(WORDS), st.binary(max_size=12).filter(lambda b: b"\0" not in b))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(prefix=st.lists(ARG, max_size=5), args=st.lists(ARG, max_size=6))
def test_generated_argv(sanitized: Path, tmp_path: Path, prefix: list, args: list) -> None:
    """`linkpool run PREFIX... -- printf ARGS...` under ASan/UBSan: never a sanitizer
    report, a crash or a traceback. Where Python's own parser (the reference) finds
    printf as the command, its output and status are printf's own; where it finds a usage
    error, one `linkpool:` line and status 2."""
    from linkpool.cli import parse_run
    from linkpool.configfile import UsageError

    pool = tmp_path / "fuzzpool"
    if not pool.exists():
        make_pool(pool, 2)
    env = dict(os.environ, LINKPOOL_DIR=str(pool),
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=99",
               UBSAN_OPTIONS="halt_on_error=1:exitcode=98")
    enc = [a.encode() if isinstance(a, str) else a for a in [*prefix, b"--"]]
    printf = [b"printf", b"<%s>", *[a.encode() if isinstance(a, str) else a for a in args]]
    try:
        opts, command = parse_run([os.fsdecode(a) for a in [*enc, *printf]])
    except UsageError:
        opts, command = {"usage": True}, []
    assume(opts.get("usage") or opts.get("help") or command == list(map(os.fsdecode, printf)))
    r = subprocess.run([os.fsencode(sanitized), b"run", *enc, *printf], capture_output=True,
                       env=env, timeout=60, cwd=tmp_path)
    assert b"Sanitizer" not in r.stderr and b"runtime error" not in r.stderr, r.stderr
    assert b"Traceback" not in r.stderr, r.stderr
    if opts.get("usage"):
        assert (r.returncode, r.stdout) == (2, b""), r
        assert r.stderr.startswith(b"linkpool: ") and r.stderr.count(b"\n") == 1, r
    elif opts.get("help"):
        assert r.returncode == 0 and b"usage:" in r.stdout, r
    else:
        bare = subprocess.run(printf, capture_output=True)
        assert (r.returncode, r.stdout) == (bare.returncode, bare.stdout), r
        assert all(line.startswith(b"linkpool: ") for line in r.stderr.splitlines()), r


def test_shim_mode_under_the_sanitizers(sanitized: Path, tmp_path: Path) -> None:
    """The front door called as a linker shim, under ASan/UBSan: a shim file with odd
    lines, COMPILER_PATH with empty, relative, repeated and over-long entries; gcc and
    clang links through it (with their temporary names), twice each."""
    shims = tmp_path / "shims"
    shims.mkdir()
    pool = make_pool(tmp_path / "pool", 2)
    (shims / ".linkpool-shims").write_bytes(b"# x\n=\npool\npool=" + bytes(pool) + b"\n" +
                                            b"x" * 70000 + b"\nld=")  # read: 64 KiB
    for name in ("ld", "ld.lld"):
        os.symlink(sanitized, shims / name)
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=99",
               UBSAN_OPTIONS="halt_on_error=1:exitcode=98",
               COMPILER_PATH=f"::rel:{'y' * 5000}:{shims}:{shims}")
    for argv in (["gcc", "m.c", "-o", "m"], ["clang", "-fuse-ld=lld", "m.c", "-o", "m"]) * 2:
        r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, timeout=120)
        assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert len(json.loads(lp("history", "--pool", str(pool), "--json").stdout)) == 4


@pytest.mark.parametrize("form", [["run", "--"], []])
def test_all_64_signal_dispositions_reach_the_command(tmp_path: Path, form: list[str]) -> None:
    """Ignored and blocked signals, all 64 bits, as bare: Python's runner (glibc's
    posix_spawn) left signals 32 and 33 ignored in the command."""
    pool = make_pool(tmp_path / "pool", 2)
    env = dict(os.environ, LINKPOOL_DIR=str(pool))
    show = ["grep", "-E", "^Sig(Ign|Blk|Cgt)", "/proc/self/status"]
    bare = subprocess.run(show, capture_output=True, text=True, env=env)
    through = subprocess.run([LINKPOOL, *form, *show], capture_output=True, text=True, env=env)
    assert through.returncode == 0 and through.stderr == "", through.stderr
    assert through.stdout == bare.stdout
    assert json.loads(lp("history", "--pool", str(pool), "--json").stdout)  # pooled


def test_an_environment_just_under_arg_max(tmp_path: Path) -> None:
    """An environment the kernel takes for `linkpool /bin/echo ran`, within a few bytes of
    the limit, runs the command as bare does (the /bin/sh launcher gave 126 there: Python
    and its own arguments did not fit). With the pool's marker added it may not fit
    either: the command then runs without it, as the protocol allows."""
    pool = make_pool(tmp_path / "pool", 2)
    base = dict(os.environ, LINKPOOL_DIR=str(pool))
    argv = [LINKPOOL, "/bin/echo", "ran"]

    def env_of(size: int) -> dict[str, str]:
        chunk, env = 100_000, dict(base)
        for i in range(size // chunk):
            env[f"BIG{i}"] = "a" * (chunk - len(f"BIG{i}=") - 1)
        if size % chunk > 16:
            env["REST"] = "b" * (size % chunk - len("REST=") - 1)
        return env

    def starts(size: int) -> bool:
        try:
            subprocess.run(argv, env=env_of(size), capture_output=True, timeout=60)
        except OSError as e:
            if e.errno == 7:  # E2BIG
                return False
            raise
        return True

    low, high = 0, int(subprocess.check_output(["getconf", "ARG_MAX"])) + 1
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if starts(mid) else (low, mid)
    assert low > 100_000
    for less in (0, 8, 50, 100, 400):
        r = subprocess.run(argv, env=env_of(low - less), capture_output=True, text=True,
                           timeout=60)
        assert (r.returncode, r.stdout) == (0, "ran\n"), (less, r.stderr[:300])
        assert r.stderr == "" or (r.stderr.startswith("linkpool: warning: ")
                                  and r.stderr.count("\n") == 1), r.stderr[:300]


def test_the_pass_through_rule_names_pythons_options() -> None:
    """The front door's word lists for what passes straight through (main.c) are those of
    linkpool.command: the drivers, the options whose value is the next argument, and the
    information options."""
    from linkpool import command

    text = (ROOT / "core" / "frontdoor" / "main.c").read_text()

    def words(name: str) -> set[str]:
        block = re.search(rf"const char \*const {name}\[\] = \{{(.*?)\}};", text, re.S)
        assert block, name
        return set(re.findall(r'"([^"]*)"', block.group(1)))

    assert words("SEPARATE") == set(command._DRIVER_SEPARATE)
    assert words("DRIVERS") == set(command.DRIVERS)
    assert words("INFO") == set(command._DRIVER_INFO)
    compile_only = {"-c", "-S", "-E", "-fsyntax-only"}
    assert words("COMPILE_ONLY") == compile_only | {
        alias for alias, short in command._DRIVER_ALIASES.items() if short in compile_only}


def test_the_front_doors_pool_line_names_where_the_path_came_from(tmp_path: Path) -> None:
    """The pool goes away under a waiting link: the front door's own line names the
    pool's source, as Python's do (settings.about_pool), and the command still runs."""
    pool = make_pool(tmp_path / "pool", 1)
    env = dict(os.environ, LINKPOOL_DIR=str(pool))
    holder = subprocess.Popen([LINKPOOL, "run", "--", "sleep", "60"], env=env)
    try:
        wait_for(lambda: status(pool)["in_use"] == 1, what="the holder")
        waiter = subprocess.Popen([LINKPOOL, "sh", "-c", "echo ran"], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: status(pool)["waiting"] == 1, what="the waiter")
        os.unlink(pool / "pool.json")
        out, err = waiter.communicate(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert (waiter.returncode, out) == (0, "ran\n")
    assert err == (f"linkpool: warning: pool {pool} (from $LINKPOOL_DIR) has no pool.json; "
                   f"run `linkpool init --pool {pool}`; running the command without the "
                   f"pool\n"), err
