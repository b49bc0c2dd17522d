"""The recipes of docs/recipes.md, run the way users run them: each test runs the page's
commands in a shell, with the real tools and their defaults. pip builds with its build
isolation on (the build dependencies come from PyPI, through pip's usual download
cache); Automake, libtool, ccache, sccache, cargo and rustc are Debian's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import cmake
import pytest

from linkpool.integrations import cargo as lpcargo
from linkpool.integrations import setuptools as lpsetuptools

from conftest import BIN, LINKPOOL, free_port, lp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXT = sysconfig.get_config_var("EXT_SUFFIX")  # ".cpython-311-x86_64-linux-gnu.so"
CARGO, RUSTC = "/usr/bin/cargo", "/usr/bin/rustc"  # Debian's, not a rustup one on PATH
CMAKE_BIN_DIR = cmake.CMAKE_BIN_DIR  # the real binary of PyPI's cmake
CMAKE_EXAMPLE_LINKS = {"hello", "sum", "loader", "libgreet.so", "libshout.so"}


def sh(script: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run ``script`` with bash -e; its stdout and stderr together. Fails on an error or
    on a traceback anywhere in the output (linkpool's, or a build tool's)."""
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{script}\n--- exit {done.returncode}:\n{done.stdout[-6000:]}"
    assert "Traceback" not in done.stdout, done.stdout[-6000:]
    return done.stdout


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The user's environment with a fresh pool (``LINKPOOL_DIR``, created on first use)."""
    env = dict(os.environ)
    env["LINKPOOL_DIR"] = str(tmp_path / "pool")
    for name in ("PIP_NO_BUILD_ISOLATION", "PIP_CONFIG_SETTINGS", "CMAKE_ARGS", "LDSHARED",
                 "LDCXXSHARED", "CC", "CXX", "LDFLAGS", "RUSTFLAGS", "CCACHE_DISABLE",
                 "SETUPTOOLS_USE_DISTUTILS"):
        env.pop(name, None)
    return env


def history(env: dict[str, str]) -> list[dict[str, Any]]:
    """``linkpool history --json`` of the pool in ``env`` (none yet: no link ran)."""
    if not os.path.exists(env["LINKPOOL_DIR"]):
        return []  # `history` on a missing pool says so and creates nothing
    return json.loads(lp("history", "--json", env=env, check=True).stdout)


def links_by_name(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {os.path.basename(r["output"]): r for r in history(env) if r["output"]}


# -- pip, with its build isolation ----------------------------------------------------------


def wheel_modules(wheel_dir: Path, pip_output: str) -> tuple[Path, list[str]]:
    """The one wheel pip built, and the extension modules in it (paths in the wheel)."""
    assert "Installing build dependencies" in pip_output  # build isolation was on
    wheels = list(wheel_dir.glob("*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as archive:
        modules = sorted(n for n in archive.namelist() if n.endswith(EXT))
    return wheels[0], modules


def run_from_wheel(wheel: Path, tmp_path: Path, code: str) -> str:
    """Unpack ``wheel`` as a site directory and run ``code`` with only that added."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    prelude = f"import sys; sys.path.insert(0, {str(site)!r}); "
    done = subprocess.run([sys.executable, "-I", "-c", prelude + code], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_linked(env: dict[str, str], modules: list[str]) -> dict[str, dict[str, Any]]:
    """Every module of the wheel has its link, successful, in the pool's history."""
    links = links_by_name(env)
    for module in modules:
        name = os.path.basename(module)
        assert name in links, (name, sorted(links))
        assert links[name]["exit"] == 0 and links[name]["kind"] == "link", links[name]
    return links


SETUPTOOLS_CASES = {
    # (setuptools the project asks for, SETUPTOOLS_USE_DISTUTILS, the recipe)
    "latest": (">=64", None, "exports"),
    "before-72.2": (">=64,<72.2", None, "exports"),  # C++ links take LDSHARED's flags
    "latest-shims": (">=64", None, "shims"),
    "stdlib-distutils-shims": (">=64,<72.2", "stdlib", "shims"),  # Python's own distutils
}


@pytest.mark.parametrize("case", list(SETUPTOOLS_CASES))
def test_setuptools_extensions_link_through_linkpool(tmp_path: Path, env: dict[str, str],
                                                     case: str) -> None:
    pin, distutils, recipe = SETUPTOOLS_CASES[case]
    if distutils == "stdlib" and sys.version_info >= (3, 12):
        pytest.skip("Python 3.12 and later have no distutils of their own")
    src = Path(shutil.copytree(EXAMPLES / "setuptools-ext", tmp_path / "src"))
    pyproject = src / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"setuptools>=64"',
                                                       f'"setuptools{pin}"'))
    if distutils:
        env["SETUPTOOLS_USE_DISTUTILS"] = distutils
    turn_on = ('eval "$(linkpool setup setuptools)"' if recipe == "exports" else
               'eval "$(linkpool setup setuptools --shims "$PWD/linkpool-shims")"')
    out = sh(f'{turn_on}\npip wheel -v --no-deps -w {tmp_path}/wheels .', src, env)
    wheel, modules = wheel_modules(tmp_path / "wheels", out)
    assert modules == [f"lpsetup/_cnative{EXT}", f"lpsetup/_cxxnative{EXT}"]
    # the C++ module imports only if the C++ driver linked it (it needs libstdc++)
    answer = run_from_wheel(wheel, tmp_path, "import lpsetup; "
                            "print(lpsetup.triangle(10), lpsetup.shout('hi'))")
    assert answer == "55 HI!\n"
    links = assert_linked(env, modules)
    assert sorted(links) == sorted(os.path.basename(m) for m in modules)  # nothing else
    drivers = [os.path.basename(links[f"{name}{EXT}"]["command"][0])
               for name in ("_cnative", "_cxxnative")]
    if distutils == "stdlib":  # Python's distutils names its build folder without "cpython"
        assert "-cpython-" not in links[f"_cnative{EXT}"]["output"]
    if recipe == "exports":  # the C one through LDSHARED (gcc), the C++ one through CXX
        assert drivers[0].endswith("gcc") and drivers[1].endswith("g++"), drivers
    else:  # the driver ran the linker shim of the -B directory
        assert drivers == ["ld", "ld"]


@pytest.mark.parametrize("how", ["CMAKE_ARGS", "config-settings"])
def test_scikit_build_core_extension_links_through_linkpool(tmp_path: Path, env: dict[str, str],
                                                           how: str) -> None:
    src = Path(shutil.copytree(EXAMPLES / "scikit-build-core", tmp_path / "src"))
    # CMake's own binary first on PATH, as a system CMake would be: the `cmake` of the
    # test environment is a Python console script, which pip's build isolation breaks
    # (scikit-build-core prints its traceback, then fetches CMake from PyPI instead)
    env["PATH"] = os.pathsep.join([CMAKE_BIN_DIR, env["PATH"]])
    wheels = f"-v --no-deps -w {tmp_path}/wheels"
    if how == "CMAKE_ARGS":
        script = f'CMAKE_ARGS="$(linkpool setup cmake)" pip wheel {wheels} .'
    else:
        script = (f'pip wheel {wheels} . '
                  '-Ccmake.define.CMAKE_C_LINKER_LAUNCHER="$(command -v linkpool)" '
                  '-Ccmake.define.CMAKE_CXX_LINKER_LAUNCHER="$(command -v linkpool)"')
    out = sh(script, src, env)
    wheel, modules = wheel_modules(tmp_path / "wheels", out)
    assert modules == [f"lpskbuild/_native{EXT}"]
    assert run_from_wheel(wheel, tmp_path, "import lpskbuild; print(lpskbuild.triangle(10))") \
        == "55\n"
    links = assert_linked(env, modules)
    assert sorted(links) == [f"_native{EXT}"]  # CMake's own checks do not use the launcher


@pytest.mark.parametrize("how", ["setup-args", "PIP_CONFIG_SETTINGS"])
def test_meson_python_extension_links_through_linkpool(tmp_path: Path, env: dict[str, str],
                                                      how: str) -> None:
    src = Path(shutil.copytree(EXAMPLES / "meson-python", tmp_path / "src"))
    wheels = f"-v --no-deps -w {tmp_path}/wheels"
    if how == "setup-args":
        script = ('pip wheel ' + wheels + ' . -Csetup-args=--native-file="$(linkpool setup '
                  'meson --output "$PWD/linkpool.ini")"')
    else:
        script = ('linkpool setup meson --output "$PWD/linkpool.ini"\n'
                  'PIP_CONFIG_SETTINGS="setup-args=--native-file=$PWD/linkpool.ini" '
                  f'pip wheel {wheels} .')
    out = sh(script, src, env)
    wheel, modules = wheel_modules(tmp_path / "wheels", out)
    assert modules == [f"lpexample/_native{EXT}"]
    assert run_from_wheel(wheel, tmp_path, "import lpexample; print(lpexample.triangle(10))") \
        == "55\n"
    assert_linked(env, modules)
    records = history(env)
    outside = {os.path.basename(r["output"]) for r in records
               if "meson-private" not in r["output"]}
    assert outside == {f"_native{EXT}"}
    # Meson's own sanity-check links went through the shims too, and all succeeded
    assert any("meson-private" in r["output"] for r in records)
    assert all(r["exit"] == 0 for r in records)


# -- Automake and libtool ------------------------------------------------------------------


@pytest.fixture(scope="module")
def autotools_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/autotools with ./configure generated once (autoreconf -fi)."""
    tree = Path(shutil.copytree(EXAMPLES / "autotools", tmp_path_factory.mktemp("am") / "src"))
    sh("autoreconf -fi", tree, dict(os.environ), timeout=300)
    return tree


def automake_copy(tree: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tree, tmp_path / "lpauto"))


def check_automake_build(src: Path, out: str) -> None:
    assert "# PASS:  1" in out and "# FAIL:  0" in out  # make check ran test_greet
    run = subprocess.run
    assert run([str(src / "hello"), "you"], capture_output=True, text=True).stdout \
        == "hello, you\n"
    assert run([str(src / "shout"), "hey"], capture_output=True, text=True).stdout == "HEY!\n"


AUTOMAKE_PROGRAMS = {"hello", "shout", "test_greet"}  # (.libs/hello, .libs/test_greet)
LIBGREET = "libgreet.so.1.0.0"


def test_automake_links_at_make_time(autotools_tree: Path, tmp_path: Path,
                                     env: dict[str, str]) -> None:
    src = automake_copy(autotools_tree, tmp_path)
    out = sh("./configure\n"
             "make -j2 CCLD='linkpool $(CC)' CXXLD='linkpool $(CXX)'\n"
             "make -j2 check CCLD='linkpool $(CC)' CXXLD='linkpool $(CXX)'", src, env)
    check_automake_build(src, out)
    links = links_by_name(env)
    assert set(links) == AUTOMAKE_PROGRAMS  # libtool links the library with configure's CC
    assert all(r["exit"] == 0 and r["kind"] == "link" for r in links.values())
    assert links["hello"]["output"] == str(src / ".libs" / "hello")  # libtool's real program


def test_automake_links_at_configure_time(autotools_tree: Path, tmp_path: Path,
                                          env: dict[str, str]) -> None:
    src = automake_copy(autotools_tree, tmp_path)
    sh('LP="$(command -v linkpool)"\n./configure CC="$LP gcc" CXX="$LP g++"', src, env)
    checks = len(history(env))  # configure's own link checks (conftest, a.out) went first
    # configure wrote linkpool's absolute path into the Makefile and libtool: a later make
    # in a shell without linkpool on PATH (a fresh shell, `sudo make install`) still works
    env = dict(env, PATH=os.pathsep.join(d for d in env["PATH"].split(os.pathsep)
                                         if Path(d) != BIN))
    out = sh("make -j2\nmake -j2 check", src, env)
    check_automake_build(src, out)
    built = {os.path.basename(r["output"]): r for r in history(env)[checks:]}
    assert set(built) == AUTOMAKE_PROGRAMS | {LIBGREET}
    assert all(r["exit"] == 0 and r["kind"] == "link" for r in built.values())


# -- a compiler cache in front of the compiler, linkpool in front of the link ---------------


def cache_hits(tool: str, env: dict[str, str]) -> tuple[int, int]:
    """(hits, misses) of the compiler cache, from its machine-readable statistics."""
    if tool == "ccache":
        out = subprocess.run(["ccache", "--print-stats"], env=env, capture_output=True,
                             text=True, check=True).stdout
        stats = dict(line.split("\t") for line in out.splitlines() if "\t" in line)
        hits = int(stats["direct_cache_hit"]) + int(stats["preprocessed_cache_hit"])
        return hits, int(stats["cache_miss"])
    out = subprocess.run(["sccache", "--show-stats", "--stats-format=json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    stats = json.loads(out)["stats"]
    return (sum(stats["cache_hits"]["counts"].values()),
            sum(stats["cache_misses"]["counts"].values()))


@pytest.mark.parametrize("tool", ["ccache", "sccache"])
def test_compiler_cache_with_cmake(tmp_path: Path, env: dict[str, str], tool: str,
                                   request: pytest.FixtureRequest) -> None:
    if tool == "sccache":
        bindir = request.getfixturevalue("sccache_bin")
        env["PATH"] = os.pathsep.join([str(bindir), env["PATH"]])
    src = Path(shutil.copytree(EXAMPLES / "cmake", tmp_path / "src"))
    env["CCACHE_DIR"] = str(tmp_path / "ccache")
    env["SCCACHE_DIR"] = str(tmp_path / "sccache")
    env["SCCACHE_SERVER_PORT"] = str(free_port())  # a server of our own, stopped below
    build = (f"cmake -S {src} -B {{tree}} -G Ninja -DCMAKE_C_COMPILER_LAUNCHER={tool} "
             f"-DCMAKE_CXX_COMPILER_LAUNCHER={tool} "
             "-DCMAKE_C_LINKER_LAUNCHER=\"$(command -v linkpool)\" "
             "-DCMAKE_CXX_LINKER_LAUNCHER=\"$(command -v linkpool)\"\n"
             "cmake --build {tree}\n")
    try:
        sh(build.format(tree="b1") + f"{tool} --zero-stats", tmp_path, env)
        sh(build.format(tree="b2"), tmp_path, env)  # a fresh tree: every compile again
        hits, misses = cache_hits(tool, env)
    finally:
        if tool == "sccache":
            subprocess.run(["sccache", "--stop-server"], env=env, capture_output=True,
                           timeout=60)
    assert hits >= len(list((src / "src").glob("*.c*"))) and misses == 0  # all from the cache
    records = history(env)
    for tree in ("b1", "b2"):  # and every link of both builds went through linkpool
        names = {os.path.basename(r["output"]) for r in records
                 if os.path.dirname(r["output"]) == str(tmp_path / tree)}
        assert names == CMAKE_EXAMPLE_LINKS
    assert all(r["exit"] == 0 and r["kind"] == "link" for r in records)


@pytest.mark.parametrize("when", ["make-time", "configure-time"])
def test_ccache_with_automake(autotools_tree: Path, tmp_path: Path, env: dict[str, str],
                              when: str) -> None:
    src = automake_copy(autotools_tree, tmp_path)
    env["CCACHE_DIR"] = str(tmp_path / "ccache")
    if when == "make-time":  # CCLD gives `linkpool ccache gcc ... -o prog`: a gcc link
        configure = "./configure CC='ccache gcc' CXX='ccache g++'"
        make = "make -j2 CCLD='linkpool $(CC)' CXXLD='linkpool $(CXX)'"
        links = AUTOMAKE_PROGRAMS
    else:  # every compile `linkpool ccache gcc -c` (no slot), every link, libtool's too
        configure = ('LP="$(command -v linkpool)"\n'
                     './configure CC="$LP ccache gcc" CXX="$LP ccache g++"')
        make = "make -j2"
        links = AUTOMAKE_PROGRAMS | {LIBGREET}
    sh(configure, src, env)
    checks = len(history(env))  # configure's link checks, in the configure-time form
    out = sh(f"{make}\n{make} check\nmake clean\nccache --zero-stats\n{make}\n{make} check",
             src, env)
    check_automake_build(src, out)
    hits, misses = cache_hits("ccache", env)
    assert hits >= 4 and misses == 0  # the rebuild after `make clean` compiled nothing
    records = history(env)[checks:]
    assert sorted(os.path.basename(r["output"]) for r in records) == sorted(2 * list(links))
    assert all(r["exit"] == 0 and r["kind"] == "link" for r in records)


def test_ccache_with_make(tmp_path: Path, env: dict[str, str]) -> None:
    src = Path(shutil.copytree(EXAMPLES / "make", tmp_path / "src"))
    env["CCACHE_DIR"] = str(tmp_path / "ccache")
    make = "make -j2 CC='ccache gcc' LINK.o='linkpool gcc $(LDFLAGS) $(TARGET_ARCH)'"
    sh(f"{make}\nmake clean\nccache --zero-stats\n{make}", src, env)
    hits, misses = cache_hits("ccache", env)
    assert hits == len(list(src.glob("*.c"))) and misses == 0  # every object from the cache
    records = history(env)
    assert sorted(os.path.basename(r["output"]) for r in records) \
        == sorted(2 * ["hello", "sum", "table", "libgreet.so"])
    assert all(r["exit"] == 0 and r["kind"] == "link" for r in records)


# -- Cargo and rustc ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["env", "toml", "shim-dir"])
def test_cargo_links_through_linkpool(tmp_path: Path, env: dict[str, str], how: str) -> None:
    src = Path(shutil.copytree(EXAMPLES / "cargo", tmp_path / "src"))
    env.update(CARGO_HOME=str(tmp_path / "cargo-home"), RUSTC=RUSTC, PATH=os.pathsep.join(
        [str(BIN), "/usr/bin", env["PATH"]]))  # Debian's cargo and rustc, first on PATH
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # where the shim goes by default
    if how == "env":
        script = 'eval "$(linkpool setup cargo)"\ncargo build --offline'
    elif how == "toml":
        script = ("mkdir -p .cargo\nlinkpool setup cargo --format toml >> .cargo/config.toml\n"
                  "cargo build --offline")
    else:  # the -B shim directory of `linkpool setup meson`, which gcc's cc reaches too
        script = ('linkpool setup meson --output "$PWD/lp.ini"\n'
                  'RUSTFLAGS="-C link-arg=-B$PWD/lp-shims" cargo build --offline')
    sh(script, src, env)
    answer = subprocess.run([str(src / "target" / "debug" / "lphello"), "7"],
                            capture_output=True, text=True).stdout
    assert answer == "triangle(7) = 28 (debug build)\n"
    links = links_by_name(env)
    assert sorted(name.rsplit("-", 1)[0] for name in links) == ["build_script_build",
                                                                "lphello"]
    assert all(r["exit"] == 0 and r["kind"] == "link" for r in links.values())
    first = {os.path.basename(r["command"][0]) for r in links.values()}
    assert first == ({"ld"} if how == "shim-dir" else {"cc"})  # the linker, or the driver


# -- the two setup commands -----------------------------------------------------------------


def test_setup_setuptools_follows_setuptools_rules() -> None:
    config = {"CC": "gcc", "CXX": "g++", "LDSHARED": "gcc -shared -Wl,-O1",
              "LDCXXSHARED": "g++ -shared"}
    prefix = ["/opt/lp/bin/linkpool"]
    assert lpsetuptools.variables(config, {}, prefix) == {
        "CC": "/opt/lp/bin/linkpool gcc",
        "LDSHARED": "/opt/lp/bin/linkpool gcc -shared -Wl,-O1",
        "CXX": "/opt/lp/bin/linkpool g++",
        "LDCXXSHARED": "/opt/lp/bin/linkpool g++ -shared"}
    # CC and CXX from the environment replace the start of the link commands, as
    # setuptools does; values already through linkpool stay as they are
    picked = lpsetuptools.variables(config, {"CC": "clang", "CXX": "clang++"}, prefix)
    assert picked["LDSHARED"] == "/opt/lp/bin/linkpool clang -shared -Wl,-O1"
    assert picked["LDCXXSHARED"] == "/opt/lp/bin/linkpool clang++ -shared"
    assert lpsetuptools.variables(config, picked, prefix) == picked
    spaced = lpsetuptools.variables(config, {}, ["/opt/my lp/linkpool", "run", "--"])
    assert spaced["CXX"] == "'/opt/my lp/linkpool' run -- g++"


def test_setup_setuptools_prints_exports(tmp_path: Path) -> None:
    done = lp("setup", "setuptools", "--pool", str(tmp_path / "p"), "--python", sys.executable,
              check=True)
    lines = done.stdout.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "export CC", "export CXX", "export LDSHARED", "export LDCXXSHARED"]
    for line in lines:
        assert f"{LINKPOOL} run --pool {tmp_path / 'p'} -- " in line
    assert sysconfig.get_config_var("LDSHARED").split()[0] in lines[2]
    assert lp("setup", "setuptools", "--help").returncode == 0
    for bad in (["--bogus"], ["--python", str(tmp_path / "nothing")], ["--python", "false"]):
        done = lp("setup", "setuptools", *bad)
        assert done.returncode == 2 and done.stderr.startswith("linkpool: "), bad
        assert len(done.stderr.splitlines()) == 1 and not done.stdout


def test_setup_cargo_shim(tmp_path: Path) -> None:
    shims = tmp_path / "shims"
    out = lp("setup", "cargo", "--shim-dir", str(shims), "--target", "aarch64-unknown-linux-gnu",
             check=True).stdout
    assert out == f"export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER={shims / 'cc'}\n"
    toml = lp("setup", "cargo", "--shim-dir", str(shims), "--target", "x86_64-unknown-linux-gnu",
              "--format", "toml", check=True).stdout
    assert toml == f'[target."x86_64-unknown-linux-gnu"]\nlinker = "{shims / "cc"}"\n'
    # the shim is a link through linkpool: the pool records it
    (tmp_path / "main.c").write_text("int main(void) { return 3; }\n")
    pool = tmp_path / "pool"
    assert lp("setup", "cargo", "--shim-dir", str(shims), "--pool", str(pool), "--format",
              "path", check=True).stdout == f"{shims / 'cc'}\n"
    subprocess.run([str(shims / "cc"), "-o", "prog", "main.c"], cwd=tmp_path, check=True)
    assert subprocess.run([str(tmp_path / "prog")]).returncode == 3
    [record] = history({**os.environ, "LINKPOOL_DIR": str(pool)})
    assert record["output"] == str(tmp_path / "prog") and record["exit"] == 0
    # a shim whose linkpool is gone still links, after one warning line
    lpcargo.write_shim(str(tmp_path / "old" / "cc"), shutil.which("cc") or "cc",
                       [str(tmp_path / "gone" / "linkpool")], None)
    done = subprocess.run([str(tmp_path / "old" / "cc"), "-o", "prog2", "main.c"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and (tmp_path / "prog2").exists()
    assert done.stderr.startswith("linkpool: warning: ") and len(done.stderr.splitlines()) == 1
    # usage errors: one line, exit 2, no shim written
    for bad in (["--format", "yaml"], ["--linker", "no-such-cc"],
                ["--linker", str(shims / "cc")]):
        done = lp("setup", "cargo", "--shim-dir", str(tmp_path / "bad"), "--target", "x", *bad)
        assert done.returncode == 2 and done.stderr.startswith("linkpool: "), bad
        assert len(done.stderr.splitlines()) == 1 and not (tmp_path / "bad").exists()
    assert lp("setup", "cargo", "--help").returncode == 0
