"""CMake's linker launcher, with the real CMake: examples/cmake built into a fresh pool."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, LINKPOOL, history, lp, make_pool

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cmake"
LINKS = {"hello", "sum", "loader", "libgreet.so", "libshout.so"}
CMAKE = shutil.which("cmake", path=str(BIN)) or shutil.which("cmake")
NINJA = shutil.which("ninja", path=str(BIN)) or shutil.which("ninja")


def cmake_version() -> tuple[int, ...]:
    if not CMAKE:
        return (0,)
    out = subprocess.run([CMAKE, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"version (\d+)\.(\d+)", out)
    return tuple(int(x) for x in match.groups()) if match else (0,)


pytestmark = pytest.mark.skipif(cmake_version() < (3, 21),
                                reason="CMAKE_<LANG>_LINKER_LAUNCHER needs CMake 3.21")


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("generator", ["Ninja", "Unix Makefiles"])
def test_every_link_goes_through_the_pool_and_no_archive_does(tmp_path: Path,
                                                              generator: str) -> None:
    if generator == "Ninja" and not NINJA:
        pytest.skip("no ninja")
    if generator == "Unix Makefiles" and not shutil.which("make"):
        pytest.skip("no make")
    source = Path(shutil.copytree(EXAMPLE, tmp_path / "src"))
    build = tmp_path / "build"
    pool = make_pool(tmp_path / "pool", 2)
    env = dict(os.environ)
    if generator == "Ninja":
        # the pool fixed in the launcher itself: `linkpool;run;--pool;DIR;--`
        flags = shlex.split(lp("setup", "cmake", "--pool", str(pool), check=True).stdout)
        extra = [f"-DCMAKE_MAKE_PROGRAM={NINJA}"]
    else:
        # the bare launcher; the pool comes from the environment of the build
        flags = shlex.split(lp("setup", "cmake", check=True).stdout)
        env["LINKPOOL_DIR"] = str(pool)
        extra = []
    assert len(flags) == 2 and all(f.split("=", 1)[1].split(";")[0] == LINKPOOL
                                   for f in flags), flags
    run([CMAKE, "-S", str(source), "-B", str(build), "-G", generator, *flags, *extra])
    out = run([CMAKE, "--build", str(build), "-j", "4", "--verbose"], env=env)

    records = history(pool)
    assert {os.path.relpath(r["output"], build) for r in records} == LINKS
    assert all(r["exit"] == 0 and r["linker"] for r in records), records
    assert (build / "libmathx.a").exists()  # the static library: archived, not launched
    # the launcher is the word LINKPOOL exactly, never a substring (the word "linkpool" is
    # in the path of a clone at .../linkpool, and so in every cmake and venv tool's path)
    lines = [shlex.split(line) for line in out.splitlines() if " && " in line or
             line.startswith("/")]
    archive = [words for words in lines if "libmathx.a" in words and "qc" in words]
    assert archive and not any(LINKPOOL in words for words in archive), archive
    linked = [words for words in lines if "-o" in words and
              words[words.index("-o") + 1] in ("hello", "sum", "loader", "libshout.so")]
    assert linked and all(LINKPOOL in words for words in linked), linked

    assert run([str(build / "hello"), "cmake"]) == "hello, cmake (10)\n"
    assert run([str(build / "sum"), "4"]) == "sum 1..4 = 10\n"
    assert run([str(build / "loader"), str(build / "libshout.so"), "loud"]) == "LOUD\n"


def test_setup_cmake_prints_one_pasteable_line(tmp_path: Path) -> None:
    plain = lp("setup", "cmake", check=True).stdout
    assert plain == (f"-DCMAKE_C_LINKER_LAUNCHER={LINKPOOL} "
                     f"-DCMAKE_CXX_LINKER_LAUNCHER={LINKPOOL}\n")
    pooled = shlex.split(lp("setup", "cmake", "--pool=rel/pool", "--lang", "c,cxx,cuda",
                            cwd=tmp_path, check=True).stdout)
    launcher = f"{LINKPOOL};run;--pool;{tmp_path / 'rel' / 'pool'};--"
    assert pooled == [f"-DCMAKE_{lang}_LINKER_LAUNCHER={launcher}"
                      for lang in ("C", "CXX", "CUDA")]
    bad = lp("setup", "cmake", "--frobnicate")
    assert bad.returncode == 2 and bad.stderr.startswith("linkpool: setup cmake: unknown option")
