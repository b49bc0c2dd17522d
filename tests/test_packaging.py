"""The wheel a user installs: built by pip with its defaults (build isolation) from the
tracked sources, installed into a fresh environment, and used from there.

It must carry the licence, the type marker, both launcher scripts and every file the docs
tell a user to use (the SCons tool, the Bazel toolchain repository), and its `linkpool`
must work inside a build's hostile Python environment.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    with tarfile.open(src / "tree.tar", "w") as tar:
        for name in filter(None, files):
            if (ROOT / name).exists():
                tar.add(ROOT / name, arcname=name)
    tree = src / "tree"
    with tarfile.open(src / "tree.tar") as tar:
        tar.extractall(tree)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(tree),
                    "-w", str(out)], check=True, timeout=600)
    (found,) = out.glob("linkpool-*.whl")
    return found


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
    names = set(zipfile.ZipFile(wheel).namelist())
    assert any(n.startswith("linkpool-") and n.endswith("/LICENSE") for n in names)
    assert "linkpool/py.typed" in names
    assert {"linkpool-0.1.0.data/scripts/linkpool",
            "linkpool-0.1.0.data/scripts/linkpool-py"} <= names
    assert "linkpool/integrations/site_scons/site_tools/linkpool.py" in names  # docs/scons.md
    for part in ("BUILD", "WORKSPACE", "cc_toolchain_config.bzl", "linkpool_link.sh",
                 "stubs/rules_cc/cc/defs.bzl", "stubs/rules_java/java/defs.bzl"):
        assert f"linkpool/integrations/bazel/{part}" in names  # docs/bazel.md
    assert not any("/launcher/" in n for n in names)  # scripts, not package files
    meta = zipfile.ZipFile(wheel).read("linkpool-0.1.0.dist-info/METADATA").decode()
    assert "Classifier: License :: OSI Approved :: MIT License" in meta
    assert "Classifier: Typing :: Typed" in meta


def test_the_installed_launcher_survives_a_hostile_environment(installed: Path,
                                                               tmp_path: Path) -> None:
    (tmp_path / "hello.c").write_text("int main(void) { return 7; }\n")
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    for name in ("enum", "re", "linkpool"):
        (hostile / f"{name}.py").write_text("raise ImportError('hostile')\n")
    env = {"PATH": os.environ["PATH"], "LINKPOOL_DIR": str(tmp_path / "pool"),
           "PYTHONPATH": str(hostile), "PYTHONNOUSERSITE": "1", "PYTHONHOME": "/nonexistent",
           "LINKPOOL_CONFIG": str(tmp_path / "none.toml")}
    lp = str(installed / "bin" / "linkpool")
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
