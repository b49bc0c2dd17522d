"""`linkpool setup meson`, with the real gcc, Meson, ninja and meson-python: the shim
directory puts every link (not compile, not archive) behind the pool, whatever linker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from linkpool import shims as lpshims

from conftest import BIN, history, lp, make_pool, run

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MESON = shutil.which("meson", path=str(BIN)) or shutil.which("meson") or ""
NINJA = shutil.which("ninja", path=str(BIN)) or shutil.which("ninja") or ""
GCC = shutil.which("gcc") or ""
LINKS = ["area", "libshapes.so", "perimeter", "report"]  # not libfmt.a: it is archived
PROGRAMS = {"area": "area = 12\n", "perimeter": "perimeter = 14\n",
            "report": "shapes 1.0\nsquare 1 = 1\nsquare 2 = 4\nsquare 5 = 25\n"}

pytestmark = pytest.mark.skipif(not (MESON and NINJA and GCC), reason="needs meson, ninja, gcc")


def records_under(pool: Path, root: Path) -> dict[str, dict[str, Any]]:
    """The pool's links whose output is directly in ``root``, by file name."""
    return {os.path.basename(r["output"]): r for r in history(pool)
            if os.path.dirname(r["output"]) == str(root)}


def native_file(tmp_path: Path, *extra: str) -> Path:
    out = lp("setup", "meson", "--output", str(tmp_path / "linkpool.ini"), *extra, check=True)
    path = Path(out.stdout.strip())
    assert path == tmp_path / "linkpool.ini" and path.is_file()
    return path


@pytest.mark.parametrize("linker", ["bfd", "mold"])
def test_every_link_of_a_meson_build_goes_through_the_pool(tmp_path: Path, linker: str) -> None:
    if linker == "mold" and not shutil.which("ld.mold"):
        pytest.skip("no mold")
    src = Path(shutil.copytree(EXAMPLES / "meson", tmp_path / "src"))
    pool = make_pool(tmp_path / "pool", 2)
    ours = native_file(tmp_path, "--pool", str(pool))  # the pool is in the shims
    files = ["--native-file", str(ours)]
    if linker == "mold":  # the user's own choice of linker, in a native file of theirs
        (tmp_path / "mold.ini").write_text("[binaries]\nc_ld = 'mold'\ncpp_ld = 'mold'\n")
        files = ["--native-file", str(tmp_path / "mold.ini"), *files]
    build = tmp_path / "build"
    setup = run([MESON, "setup", str(build), str(src), *files], tmp_path)
    assert f"ld.{linker}" in setup  # "C linker for the host machine: cc ld.mold 1.10.1"
    run([NINJA, "-C", str(build)], tmp_path)
    for name, expected in PROGRAMS.items():
        assert run([str(build / name)], build) == expected

    links = records_under(pool, build)
    assert sorted(links) == LINKS
    shims = str(tmp_path / "linkpool-shims")
    for record in links.values():
        assert record["exit"] == 0 and record["linker"] == linker
        # the shim runs the linker itself under linkpool, not the driver, and never a shim
        real = record["command"][0]
        assert os.path.basename(real) == ("ld" if linker == "bfd" else "ld.mold")
        assert os.path.isabs(real) and not real.startswith(shims)
        assert record["weight"] >= 1 and record["max_rss_kb"] > 0
    # meson's own sanity checks link too, in meson-private: through the pool as well
    assert records_under(pool, build / "meson-private")


def test_the_shim_directory_serves_any_gcc_build(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 1)
    native_file(tmp_path)  # no --pool: the shims use $LINKPOOL_DIR at link time
    shims = tmp_path / "linkpool-shims"
    assert sorted(p.name for p in shims.iterdir()) == sorted(
        [lpshims.SHIM_FILE, *(name for name in lpshims.NAMES if shutil.which(name))])
    assert run([GCC, f"-B{shims}", "-print-prog-name=ld"], tmp_path).strip() == str(shims / "ld")

    (tmp_path / "hello.c").write_text('#include <stdio.h>\nint main(void)'
                                      '{ puts("hi"); return 0; }\n')
    env = {**os.environ, "LINKPOOL_DIR": str(pool), "LDFLAGS": f"-B{shims}"}
    run(["sh", "-c", 'gcc -c hello.c && gcc $LDFLAGS hello.o -o hello'], tmp_path, env)
    assert run([str(tmp_path / "hello")], tmp_path) == "hi\n"
    (record,) = history(pool)  # the compile did not reach a shim
    assert record["output"] == str(tmp_path / "hello") and record["linker"] == "bfd"


def test_a_shim_never_runs_itself(tmp_path: Path) -> None:
    shims = tmp_path / "shims"
    lp("setup", "shims", "--dir", str(shims), check=True)
    # PATH leads to the shims first: setup skips them, and any other shim, for the real one
    path = f"{shims}{os.pathsep}{os.environ['PATH']}"
    real = lpshims.find_real_linker("ld", str(tmp_path / "other"), path)
    assert real is not None and not real.startswith(str(shims))
    assert lpshims.find_real_linker("ld", str(shims), path) == real

    # at link time too: with the shims first on PATH, a shim runs the real linker
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    pool = make_pool(tmp_path / "pool", 1)
    env = {**os.environ, "LINKPOOL_DIR": str(pool), "PATH": path}
    done = subprocess.run([GCC, f"-B{shims}", "m.c", "-o", "m"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    (record,) = history(pool)
    assert record["command"][0] == real


def test_setup_usage_errors(tmp_path: Path) -> None:
    done = lp("setup", "meson")
    assert done.returncode == 2 and done.stderr.startswith("linkpool: ")
    assert len(done.stderr.splitlines()) == 1
    done = lp("setup", "meson", "--output", str(tmp_path))
    assert done.returncode == 2 and "is a directory" in done.stderr


def test_meson_python_pip_install(tmp_path: Path) -> None:
    src = Path(shutil.copytree(EXAMPLES / "meson-python", tmp_path / "src"))
    pool = make_pool(tmp_path / "pool", 2)
    ours = native_file(tmp_path, "--pool", str(pool))
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation",
           "--no-index", "--no-deps"]
    check = "import lpexample; print(lpexample.triangle(10), lpexample._native.__file__)"

    run([*pip, "--target", str(tmp_path / "t1"), str(src), f"-Csetup-args=--native-file={ours}"],
        tmp_path)
    # the same through pip's environment: one KEY=VALUE setting, taken whole
    env = {**os.environ, "PIP_CONFIG_SETTINGS": f"setup-args=--native-file={ours}"}
    run([*pip, "--target", str(tmp_path / "t2"), str(src)], tmp_path, env)

    modules = []
    for target in ("t1", "t2"):
        env = {**os.environ, "PYTHONPATH": str(tmp_path / target)}
        answer, module = run([sys.executable, "-c", check], tmp_path, env).split()
        assert answer == "55"
        modules.append(os.path.basename(module))
    links = [os.path.basename(r["output"]) for r in history(pool)
             if "meson-private" not in r["output"]]
    assert links == modules  # one link per install: the extension module
