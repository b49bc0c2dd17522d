"""The wheel a user installs: built by pip with its defaults (build isolation, meson-python
compiling the C front door with the system's compiler) from the tracked sources, installed
into a fresh environment, and used from there.

It must carry the licence, the type marker, the front door `linkpool` (built from the
checkout's C with every warning an error) and `linkpool-py`, every file the docs tell a
user to use (the SCons tool, the Bazel toolchain repository), and every other tracked file
of the packages, and its `linkpool` must work inside a build's hostile Python environment.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest

import linkpool

ROOT = Path(__file__).resolve().parent.parent
DATA = "linkpool-0.1.0.data"
# the front door's sources (meson.build): one executable, with the slot library
FRONT_DOOR = ["core/frontdoor/main.c", "core/frontdoor/plan.c", "core/frontdoor/record.c",
              "core/frontdoor/run.c", "core/frontdoor/jobserver.c",
              "core/frontdoor/waitline.c", "core/slotclient/lpslot.c"]


def tracked(untracked: bool = True) -> list[str]:
    """The checkout's files (with those not yet added, unless ignored)."""
    more = ["-o", "--exclude-standard"] if untracked else []
    return list(filter(None, subprocess.run(
        ["git", "ls-files", "-c", *more], cwd=ROOT, capture_output=True, text=True,
        check=True).stdout.split("\n")))


def package_files() -> dict[str, str]:
    """The checkout's files the wheel installs into site-packages: wheel path -> source.
    Everything tracked under core/ and integrations/ but the launchers (scripts) and the C
    (built into the front door)."""
    files = {}
    for name in tracked():
        top, _, rest = name.partition("/")
        if (top not in ("core", "integrations") or name.startswith("core/launcher/")
                or name.endswith((".c", ".h")) or not (ROOT / name).exists()):
            continue
        files[f"linkpool/{rest}" if top == "core" else f"linkpool/{name}"] = name
    return files


class Built(NamedTuple):
    wheel: Path
    tree: Path  # the sources it was built from
    builddir: Path  # meson's build folder


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Built:
    src = tmp_path_factory.mktemp("src")
    with tarfile.open(src / "tree.tar", "w") as tar:
        for name in tracked():
            if (ROOT / name).exists():
                tar.add(ROOT / name, arcname=name)
    tree = src / "tree"
    with tarfile.open(src / "tree.tar") as tar:
        tar.extractall(tree)
    out = tmp_path_factory.mktemp("wheel")
    builddir = tmp_path_factory.mktemp("meson")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(tree),
                    f"--config-settings=build-dir={builddir}", "-w", str(out)],
                   check=True, timeout=600)
    (found,) = out.glob("linkpool-*.whl")
    return Built(found, tree, builddir)


@pytest.fixture(scope="module")
def wheel(build: Built) -> Path:
    return build.wheel


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)],
                   check=True)
    # Its dependencies (pluggy; tomli before 3.11), offline: copied from this environment,
    # file by file as pip installed them here.
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    for name in ("pluggy", *(["tomli"] if sys.version_info < (3, 11) else [])):
        dist = importlib.metadata.distribution(name)
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            (site / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(dist.locate_file(file)), site / file)
    return venv


def test_the_wheel_carries_what_the_docs_name(wheel: Path) -> None:
    whl = zipfile.ZipFile(wheel)
    # the front door makes the wheel platform-specific, not Python-specific: every
    # Python 3 of the platform installs the same wheel
    assert wheel.name.startswith("linkpool-0.1.0-py3-none-linux_")
    # Python files go in .data/purelib (the root is the platform's): the same place once
    # installed
    names = {n.removeprefix(f"{DATA}/purelib/") for n in whl.namelist()}
    assert "linkpool-0.1.0.dist-info/licenses/LICENSE" in names
    assert "linkpool/py.typed" in names
    assert "linkpool/frontdoor/run_options.def" in names  # Python reads run's options there
    assert "linkpool/integrations/site_scons/site_tools/linkpool.py" in names  # docs/scons.md
    for part in ("BUILD", "WORKSPACE", "cc_toolchain_config.bzl", "linkpool_link.sh",
                 "stubs/rules_cc/cc/defs.bzl", "stubs/rules_java/java/defs.bzl"):
        assert f"linkpool/integrations/bazel/{part}" in names  # docs/bazel.md
    assert not any("/launcher/" in n or n.endswith((".c", ".h")) for n in names)
    # the front door is an executable built for this machine; linkpool-py keeps its
    # `#!python` line for pip to rewrite
    scripts = {n for n in names if n.startswith(f"{DATA}/scripts/")}
    assert scripts == {f"{DATA}/scripts/linkpool", f"{DATA}/scripts/linkpool-py"}
    assert whl.read(f"{DATA}/scripts/linkpool")[:4] == b"\x7fELF"
    assert whl.read(f"{DATA}/scripts/linkpool-py").startswith(b"#!python\n")
    for name in (f"{DATA}/scripts/linkpool", f"{DATA}/scripts/linkpool-py",
                 f"{DATA}/purelib/linkpool/integrations/bazel/linkpool_link.sh"):
        assert whl.getinfo(name).external_attr >> 16 & 0o111 == 0o111, name
    meta = whl.read("linkpool-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in meta
    assert "Classifier: Typing :: Typed" in meta


def test_the_wheel_installs_every_tracked_package_file_and_nothing_else(wheel: Path) -> None:
    """meson.build names each installed file: a new module must be added there."""
    whl = zipfile.ZipFile(wheel)
    inside = {n.removeprefix(f"{DATA}/purelib/"): n for n in whl.namelist()
              if n.startswith(f"{DATA}/purelib/")}
    expected = package_files()
    assert sorted(inside) == sorted(expected)
    for name, source in expected.items():
        assert whl.read(inside[name]) == (ROOT / source).read_bytes(), source


def test_the_front_door_is_built_from_the_checkout_with_every_warning_an_error(
        build: Built) -> None:
    commands = json.loads((build.builddir / "compile_commands.json").read_text())
    compiled = sorted((Path(c["directory"]) / c["file"]).resolve().relative_to(
        build.tree.resolve()).as_posix() for c in commands)
    assert compiled == sorted(FRONT_DOOR)
    for c in commands:
        args = c["arguments"] if "arguments" in c else shlex.split(c["command"])
        assert {"-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"} <= set(args), c["file"]
        assert "-O3" not in args, c["file"]


def test_the_repository_holds_no_prebuilt_binary() -> None:
    """The executable comes from the C sources at install time, never from the tree."""
    for name in tracked(untracked=False):
        path = ROOT / name
        if path.is_file():
            with open(path, "rb") as f:
                head = f.read(8)
            assert head[:4] != b"\x7fELF" and head != b"!<arch>\n", name
            assert not name.endswith((".o", ".a", ".so", ".whl")), name


def test_this_environment_runs_the_checkout() -> None:
    """The suite's environment holds a copy of the checkout (a plain install, not an
    editable one): scripts/test.sh installs it again before every run. A failure here
    means the tests ran an older copy: run `bash scripts/setup.sh --test`."""
    site = Path(linkpool.__file__).parent.parent
    stale = [source for name, source in package_files().items()
             if not (site / name).is_file()
             or (site / name).read_bytes() != (ROOT / source).read_bytes()]
    bin_py = Path(sys.executable).parent / "linkpool-py"
    src_py = (ROOT / "core" / "launcher" / "linkpool-py").read_bytes()
    if bin_py.read_bytes().partition(b"\n")[2] != src_py.partition(b"\n")[2]:
        stale.append("core/launcher/linkpool-py")
    assert not stale, "run `bash scripts/setup.sh --test`: stale " + ", ".join(stale)


def test_the_installed_launcher_survives_a_hostile_environment(installed: Path,
                                                               tmp_path: Path) -> None:
    (tmp_path / "hello.c").write_text("int main(void) { return 7; }\n")
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    for name in ("enum", "re", "linkpool"):
        (hostile / f"{name}.py").write_text("raise ImportError('hostile')\n")
    env = {"PATH": os.environ["PATH"], "LINKPOOL_DIR": str(tmp_path / "pool"),
           "PYTHONPATH": str(hostile), "PYTHONNOUSERSITE": "1", "PYTHONHOME": "/nonexistent",
           "XDG_CONFIG_HOME": str(tmp_path / "config-home")}
    lp = str(installed / "bin" / "linkpool")
    # pip wrote the interpreter into linkpool-py's first line: the front door reads it
    first = (installed / "bin" / "linkpool-py").read_text().split("\n", 1)[0]
    python = Path(first.removeprefix("#!"))
    assert python.parent == installed / "bin" and os.access(python, os.X_OK), first
    done = subprocess.run([lp, "gcc", "-o", "hello", "hello.c"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert subprocess.run(["./hello"], cwd=tmp_path).returncode == 7
    history = subprocess.run([lp, "history", "--json"], env=env, capture_output=True,
                             text=True, check=True).stdout
    assert str(tmp_path / "hello") in history


def test_setup_bazel_names_the_installed_repository(installed: Path, tmp_path: Path) -> None:
    lp = str(installed / "bin" / "linkpool")
    out = subprocess.run([lp, "setup", "bazel", "--pool", str(tmp_path / "p")],
                         capture_output=True, text=True, check=True).stdout.split()
    repo = next(w for w in out if w.startswith("--override_repository=linkpool="))
    path = Path(repo.split("=", 2)[2])
    assert (path / "BUILD").is_file() and (path / "linkpool_link.sh").is_file()
    assert str(path).startswith(str(installed))
    assert f"--action_env=LINKPOOL={lp}" in out
    assert f"--sandbox_writable_path={tmp_path / 'p'}" in out
