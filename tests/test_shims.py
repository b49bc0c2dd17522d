"""One switch per environment: ``COMPILER_PATH=$(linkpool setup shims)`` and nothing else.

Real builds of the examples (CMake with Ninja, Meson, make, Automake with libtool,
setuptools under pip's build isolation, Cargo) with gcc and with Debian's clang, in an
environment whose only linkpool setting is ``COMPILER_PATH``: linkpool's venv is not on
``PATH`` (the shims must not need it), no build file names linkpool. Every link lands in
the pool's history, no compile does, and the programs work. The shims' own rules (a
refresh, a foreign file, a pool, a loop, a missing linker) are checked too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import cmake
import pytest

from linkpool import shims as lpshims

from conftest import BIN, LINKPOOL, counting_copy, lp, starts

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
COMPILERS = {"gcc": ("gcc", "g++"), "clang": ("clang", "clang++")}
EXT = sysconfig.get_config_var("EXT_SUFFIX")


def test_clang_is_installed() -> None:
    """The set-up installs Debian's clang (scripts/setup.sh --test): asserted, not skipped."""
    assert shutil.which("clang") and shutil.which("clang++")


@pytest.fixture
def switch(tmp_path: Path) -> dict[str, str]:
    """An environment like a CI runner's after the one switch: ``COMPILER_PATH`` names
    the shims, ``LINKPOOL_DIR`` a fresh pool, and ``PATH`` has the build tools but not
    linkpool's venv (its ``linkpool``, its ``python3``)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("meson", "ninja"):
        os.symlink(BIN / name, tools / name)
    for name in ("cmake", "ctest"):
        os.symlink(Path(cmake.CMAKE_BIN_DIR) / name, tools / name)
    path = [d for d in os.environ["PATH"].split(os.pathsep) if Path(d) != BIN]
    env = {k: v for k, v in os.environ.items()
           if k not in ("CC", "CXX", "LDFLAGS", "CFLAGS", "CXXFLAGS", "CMAKE_ARGS",
                        "PIP_NO_BUILD_ISOLATION", "PIP_CONFIG_SETTINGS", "RUSTFLAGS")}
    env["PATH"] = os.pathsep.join([str(tools), *path])
    env["LINKPOOL_DIR"] = str(tmp_path / "pool")
    shims = lp("setup", "shims", "--dir", str(tmp_path / "shims"), check=True).stdout.strip()
    env["COMPILER_PATH"] = shims
    return env


def sh(script: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{script}\n--- exit {done.returncode}:\n{done.stdout[-6000:]}"
    assert "Traceback" not in done.stdout and "linkpool:" not in done.stdout, done.stdout[-6000:]
    return done.stdout


def history(env: dict[str, str]) -> list[dict[str, Any]]:
    if not os.path.exists(env["LINKPOOL_DIR"]):
        return []
    return json.loads(lp("history", "--pool", env["LINKPOOL_DIR"], "--json",
                         check=True).stdout)


def linked(env: dict[str, str], root: Path) -> dict[str, dict[str, Any]]:
    """The pool's records of outputs under ``root``, by file name; every record of the
    pool is a successful link run by the real linker (not a driver, not a shim)."""
    records = history(env)
    shims = env["COMPILER_PATH"]
    for r in records:
        assert r["kind"] == "link" and r["exit"] == 0, r
        assert os.path.basename(r["command"][0]).startswith("ld"), r["command"][:3]
        assert not r["command"][0].startswith(shims), r["command"][0]
    return {os.path.basename(r["output"]): r for r in records
            if r["output"] and r["output"].startswith(str(root) + os.sep)}


@pytest.mark.parametrize("compiler", list(COMPILERS))
def test_cmake_build(tmp_path: Path, switch: dict[str, str], compiler: str) -> None:
    cc, cxx = COMPILERS[compiler]
    src = EXAMPLES / "cmake"
    build = tmp_path / "build"
    sh(f"cmake -S {src} -B {build} -G Ninja -DCMAKE_C_COMPILER={cc} "
       f"-DCMAKE_CXX_COMPILER={cxx}\ncmake --build {build}", tmp_path, switch)
    links = linked(switch, build)
    assert {"hello", "sum", "loader", "libgreet.so", "libshout.so"} <= set(links)
    assert subprocess.run([str(build / "hello")], capture_output=True).returncode == 0
    # CMake's own compiler checks linked through the pool as well (try_compile)
    assert any("CMakeScratch" in r["output"] or "CMakeTmp" in r["output"]
               for r in history(switch)), [r["output"] for r in history(switch)]


@pytest.mark.parametrize("compiler", list(COMPILERS))
def test_meson_build(tmp_path: Path, switch: dict[str, str], compiler: str) -> None:
    cc, cxx = COMPILERS[compiler]
    build = tmp_path / "build"
    sh(f"CC={cc} CXX={cxx} meson setup {build} {EXAMPLES / 'meson'}\nninja -C {build}",
       tmp_path, switch)
    links = linked(switch, build)
    assert {"area", "libshapes.so", "perimeter", "report"} <= set(links)
    assert "sanity_check_for_c.exe" in links  # Meson's own compiler check links too
    out = subprocess.run([str(build / "area")], capture_output=True, text=True).stdout
    assert out == "area = 12\n"


@pytest.mark.parametrize("compiler", list(COMPILERS))
def test_automake_libtool_shared_library(tmp_path: Path, switch: dict[str, str],
                                         compiler: str) -> None:
    """libtool passes only its allow-list of flags to a -shared link (no -B, so LDFLAGS
    cannot route it), but the driver still reads COMPILER_PATH: the library links
    through the pool too, as do configure's own checks."""
    cc, cxx = COMPILERS[compiler]
    src = Path(shutil.copytree(EXAMPLES / "autotools", tmp_path / "src"))
    out = sh(f"autoreconf -fi\n./configure CC={cc} CXX={cxx}\nmake -j2\nmake -j2 check", src,
             switch)
    assert "# PASS:  1" in out and "# FAIL:  0" in out
    links = linked(switch, src)
    assert {"hello", "shout", "test_greet", "libgreet.so.1.0.0"} <= set(links), sorted(links)
    assert any(os.path.basename(r["output"]) in ("conftest", "a.out")
               for r in history(switch))  # configure's link checks
    done = subprocess.run([str(src / "hello"), "you"], capture_output=True, text=True)
    assert done.stdout == "hello, you\n"


@pytest.mark.parametrize("compiler", list(COMPILERS))
def test_make_build(tmp_path: Path, switch: dict[str, str], compiler: str) -> None:
    cc, _ = COMPILERS[compiler]
    src = Path(shutil.copytree(EXAMPLES / "make", tmp_path / "src"))
    sh(f"make -j2 CC={cc}", src, switch)
    assert sorted(linked(switch, src)) == ["hello", "libgreet.so", "sum", "table"]


@pytest.mark.parametrize("compiler", list(COMPILERS))
def test_pip_isolated_build(tmp_path: Path, switch: dict[str, str], compiler: str) -> None:
    """pip with its build isolation (setuptools from PyPI in a throw-away environment):
    both extension modules link through the pool."""
    cc, cxx = COMPILERS[compiler]
    src = Path(shutil.copytree(EXAMPLES / "setuptools-ext", tmp_path / "src"))
    out = sh(f"CC={cc} CXX={cxx} {sys.executable} -m pip wheel --no-deps -w {tmp_path / 'wh'} "
             f"{src}", tmp_path, switch)
    assert "Installing build dependencies" in out  # build isolation was on
    names = {os.path.basename(r["output"]) for r in history(switch)}
    assert {f"_cnative{EXT}", f"_cxxnative{EXT}"} <= names, names


def test_cargo_build(tmp_path: Path, switch: dict[str, str]) -> None:
    """Debian's cargo and rustc link with `cc`, which finds its linker in COMPILER_PATH:
    the build script and the program both link through the pool. (A rustup rustc of
    1.90 or later links x86-64 Linux with its own rust-lld through a -B directory of its
    own, before COMPILER_PATH: docs/shims.md has the opt-out, and `doctor` warns.)"""
    src = Path(shutil.copytree(EXAMPLES / "cargo", tmp_path / "src"))
    env = dict(switch, CARGO_HOME=str(tmp_path / "cargo-home"), RUSTC="/usr/bin/rustc")
    sh(f"/usr/bin/cargo build --offline --target-dir {tmp_path / 'target'}", src, env)
    outputs = [r["output"] for r in history(switch)]
    assert any("build-script-build" in o or "/build/" in o for o in outputs), outputs
    assert any(o.startswith(str(tmp_path / "target" / "debug") + os.sep)
               and "/deps/" in o for o in outputs), outputs


def test_scons_clears_the_environment(tmp_path: Path, switch: dict[str, str]) -> None:
    """SCons runs its commands with an environment of its own (a PATH only), so the
    switch does not reach its links; docs/shims.md says so and gives the usual fix,
    ``Environment(ENV=os.environ)``, with which they reach the pool."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.c").write_text("int main(void) { return 0; }\n")
    (src / "SConstruct").write_text(
        "import os\n"
        "env = Environment(ENV=os.environ) if ARGUMENTS.get('env') else Environment()\n"
        "env.Program('app', ['main.c'])\n")
    scons = shutil.which("scons", path=str(BIN))
    sh(f"{scons} -Q", src, switch)
    assert linked(switch, src) == {}  # SCons's own environment: no COMPILER_PATH
    sh(f"{scons} -Q -c && {scons} -Q env=1", src, switch)
    assert sorted(linked(switch, src)) == ["app"]


# -- the shims' own rules ------------------------------------------------------------------


def test_setup_shims_refreshes_and_keeps_foreign_files(tmp_path: Path) -> None:
    shims = tmp_path / "shims"
    first = lp("setup", "shims", "--dir", str(shims), check=True)
    assert first.stdout == f"{shims}\n"
    assert "COMPILER_PATH" in first.stderr
    assert os.readlink(shims / "ld") == LINKPOOL
    text = (shims / lpshims.SHIM_FILE).read_text()
    assert "\nld=/" in text and "pool=" not in text
    # again, with a pool: the file says so, the links stay
    lp("setup", "shims", "--dir", str(shims), "--pool", str(tmp_path / "p"), check=True)
    assert f"\npool={tmp_path / 'p'}\n" in (shims / lpshims.SHIM_FILE).read_text()
    # a file of the user's where a shim would go is never replaced
    other = tmp_path / "other"
    other.mkdir()
    (other / "ld.gold").write_text("mine\n")
    done = lp("setup", "shims", "--dir", str(other))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("linkpool: setup shims: ") and done.stderr.count("\n") == 1
    assert (other / "ld.gold").read_text() == "mine\n"
    assert not (other / lpshims.SHIM_FILE).exists()


def test_shim_runs_the_pool_it_names_and_the_linker_after_it(tmp_path: Path) -> None:
    """A shim finds the linker after its own directory (two shim directories in a row do
    not run each other), and its links wait in the pool its file names."""
    pool = tmp_path / "pool"
    a = lp("setup", "shims", "--dir", str(tmp_path / "a"), "--pool", str(pool),
           check=True).stdout.strip()
    b = lp("setup", "shims", "--dir", str(tmp_path / "b"), check=True).stdout.strip()
    (tmp_path / "m.c").write_text("int main(void) { return 3; }\n")
    env = dict(os.environ, COMPILER_PATH=f"{a}:{b}")
    done = subprocess.run(["gcc", "-o", "m", "m.c"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert subprocess.run([str(tmp_path / "m")]).returncode == 3
    records = json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)
    assert [r["output"] for r in records] == [str(tmp_path / "m")]
    assert records[0]["command"][0] == shutil.which("ld")


def test_shim_without_a_linker_says_so(tmp_path: Path) -> None:
    shims = Path(lp("setup", "shims", "--dir", str(tmp_path / "s"), check=True).stdout.strip())
    (shims / lpshims.SHIM_FILE).write_text("# no record of where ld was\n")
    done = subprocess.run([str(shims / "ld.mold"), "--version"], capture_output=True,
                          text=True, env=dict(os.environ, PATH=str(tmp_path / "none"),
                                              COMPILER_PATH=str(shims)))
    assert done.returncode == 127
    assert done.stderr.startswith("linkpool: no ld.mold to run") and done.stderr.count("\n") == 1
    # with the record of where it was, the shim runs it still
    (shims / lpshims.SHIM_FILE).write_text(f"#\nld.mold={shutil.which('ld.mold')}\n")
    done = subprocess.run([str(shims / "ld.mold"), "--version"], capture_output=True,
                          text=True, env=dict(os.environ, PATH=str(tmp_path / "none"),
                                              COMPILER_PATH=str(shims)))
    assert done.returncode == 0 and "mold" in done.stdout, done.stderr


def test_linker_version_probe_is_not_a_link(tmp_path: Path) -> None:
    """configure and libtool ask `ld -v`: the answer is the linker's, nothing waits."""
    shims = lp("setup", "shims", "--dir", str(tmp_path / "s"), check=True).stdout.strip()
    env = dict(os.environ, LINKPOOL_DIR=str(tmp_path / "pool"), COMPILER_PATH=shims)
    bare = subprocess.run(["ld", "-v"], capture_output=True, text=True)
    for _ in range(2):
        done = subprocess.run([os.path.join(shims, "ld"), "-v"], capture_output=True,
                              text=True, env=env)
        assert (done.returncode, done.stdout, done.stderr) == \
            (bare.returncode, bare.stdout, bare.stderr)
    assert not (tmp_path / "pool").exists() or not json.loads(
        lp("history", "--pool", str(tmp_path / "pool"), "--json", check=True).stdout)


# -- doctor: the route --------------------------------------------------------------------


def route_lines(env: dict[str, str]) -> list[tuple[str, str]]:
    done = lp("doctor", "--json", env=env)
    checks = json.loads(done.stdout)["checks"]
    return [(c["level"], c["message"]) for c in checks if c["check"] == "route"]


def test_doctor_reports_the_route_and_what_bypasses_it(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items()
            if k not in ("COMPILER_PATH", "LDFLAGS", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "CC",
                         "CXX", "RUSTFLAGS")}
    base["LINKPOOL_DIR"] = str(tmp_path / "pool")
    base["RUSTC"] = "/usr/bin/rustc"  # Debian's 1.63: links through cc, as the shims want
    (level, message), = route_lines(base)
    assert level == "OK" and message.startswith("not switched on in this environment")

    shims = lp("setup", "shims", "--dir", str(tmp_path / "s"), check=True).stdout.strip()
    on = dict(base, COMPILER_PATH=shims)
    assert route_lines(on) == [
        ("OK", f"the COMPILER_PATH shims in {shims}: every link gcc and clang drive waits "
               f"in the pool above")]  # asked of the real gcc and clang

    own = tmp_path / "own"  # a directory with a linker of its own
    own.mkdir()
    os.symlink(shutil.which("ld"), own / "ld")
    lines = route_lines(dict(on, LDFLAGS=f"-Wl,-O1 -B{own}",
                             CFLAGS="--ld-path=/usr/bin/ld.lld"))
    assert ("WARN", f"LDFLAGS has -B{own}, whose ld gcc and clang run before COMPILER_PATH: "
                    f"those links bypass the pool") in lines
    assert any(level == "WARN" and "CFLAGS has --ld-path=/usr/bin/ld.lld" in m
               for level, m in lines), lines
    lines = route_lines(dict(on, COMPILER_PATH=f"{own}:{shims}"))
    assert lines[0] == ("WARN", f"{own} comes before the shims in COMPILER_PATH and has a "
                                f"linker of its own: gcc and clang run it, not linkpool; put "
                                f"the shims first")
    # shims whose linkpool is gone (a venv deleted): said, and how to fix
    gone = tmp_path / "gone"
    gone.mkdir()
    (gone / lpshims.SHIM_FILE).write_text("#\n")
    os.symlink(tmp_path / "deleted-venv" / "linkpool", gone / "ld")
    (level, message), = route_lines(dict(base, COMPILER_PATH=str(gone)))
    assert level == "WARN" and "which is gone: links bypass the pool" in message


def test_rust_lld_is_told_from_rustc_version() -> None:
    from linkpool.doctor import rust_lld_release

    debian = subprocess.run(["/usr/bin/rustc", "-vV"], capture_output=True, text=True).stdout
    assert rust_lld_release(debian, "") is None  # 1.63 links through cc
    new = "rustc 1.95.0 (59807616e 2026-04-14)\nrelease: 1.95.0\nhost: x86_64-unknown-linux-gnu\n"
    assert rust_lld_release(new, "") == "1.95.0"
    assert rust_lld_release(new, "-C linker-features=-lld") is None
    assert rust_lld_release(new.replace("x86_64", "aarch64"), "") is None


# -- a repeat link through the shims starts no Python ---------------------------------------


@pytest.mark.parametrize("compiler", list(COMPILERS))
def test_a_repeat_link_through_the_shims_starts_no_python(tmp_path: Path, compiler: str) -> None:
    """gcc hands its linker new temporary names on every run (the LTO plugin's
    -fresolution=/tmp/ccXXXXXX.res, and the object of a one-step compile and link; clang
    /tmp/NAME-xxxxxx.o): the plan holds for the next run all the same, which runs with its
    own names, and from the third link on no interpreter starts."""
    front, log = counting_copy(tmp_path / "bin")
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / lpshims.SHIM_FILE).write_text("#\n")
    for name in ("ld", "ld.lld"):
        os.symlink(front, shims / name)
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.c").write_text('#include <stdio.h>\nint main(void) { puts("m"); }\n')
    pool = tmp_path / "pool"
    env = dict(os.environ, COMPILER_PATH=str(shims), LINKPOOL_DIR=str(pool),
               TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    cc = COMPILERS[compiler][0]
    for _ in range(5):
        done = subprocess.run([cc, "-O1", "m.c", "-o", "m"], cwd=src, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert subprocess.run([str(src / "m")], capture_output=True, text=True).stdout == "m\n"
    assert len(starts(log)) == 2, starts(log)
    records = json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)
    temps = [[a for a in r["command"] if str(tmp_path / "tmp") in a] for r in records]
    assert len(records) == 5 and all(temps), temps  # each with its own run's names
    assert len({tuple(t) for t in temps}) == 5, temps
    assert not any("@000" in a for t in temps for a in t)
