"""The SCons tool, with the real SCons: examples/scons built into a fresh pool."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, history, make_pool

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "scons"
LINKS = {"build/hello", "build/sum", "build/loader", "build/libgreet.so", "build/shout.so"}
SCONS = str(BIN / "scons")

pytest.importorskip("SCons")


def outputs(pool: Path, project: Path) -> set[str]:
    return {os.path.relpath(r["output"], project) for r in history(pool)}


def scons(project: Path, pool: Path, *args: str, check: bool = True
          ) -> subprocess.CompletedProcess:
    env = dict(os.environ, LINKPOOL_DIR=str(pool))
    return subprocess.run([SCONS, "-Q", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120, check=check)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / "project"))


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    return make_pool(tmp_path / "pool", 2)


def check_programs(project: Path) -> None:
    def run(*argv: str) -> str:
        return subprocess.run(argv, cwd=project, capture_output=True, text=True, check=True,
                              timeout=30).stdout

    assert run("build/hello", "pool") == "hello, pool (10)\n"
    assert run("build/sum", "5") == "sum 1..5 = 15\n"
    assert run("build/loader", "build/shout.so", "quiet") == "QUIET\n"


def test_every_link_goes_through_the_pool_and_no_archive_does(project: Path, pool: Path) -> None:
    out = scons(project, pool, "-j4").stdout
    check_programs(project)
    records = history(pool)
    assert outputs(pool, project) == LINKS
    assert all(r["exit"] == 0 and r["linker"] for r in records), records
    assert (project / "build" / "libmathx.a").exists()  # made, but by ar: no record
    words = [line.split() for line in out.splitlines()]
    archive = [w for w in words if w[1:3] == ["rc", "build/libmathx.a"]]
    assert archive == [["ar", "rc", "build/libmathx.a", "build/mathx.os"]], archive  # no
    # launcher in front of ar, whatever the launcher's path (a clone's may hold "linkpool")


def test_turning_the_tool_on_relinks_nothing(project: Path, pool: Path) -> None:
    scons(project, pool, "-j4", "linkpool=0")
    assert history(pool) == []
    # --question: exit 0 only if every target is up to date, for both ways to load the tool
    for form in ("form=tool", "form=generate"):
        assert scons(project, pool, "-q", form, check=False).returncode == 0, form
    assert "is up to date" in scons(project, pool).stdout
    assert history(pool) == []
    # and once something changes, the tool (the tools=[...] form here) gates the relinks
    greet = project / "src" / "greet.cpp"
    greet.write_text(greet.read_text().replace('"hello, "', '"hi, "'))
    scons(project, pool, "form=generate")
    assert outputs(pool, project) == {"build/libgreet.so", "build/hello"}
    assert subprocess.run([str(project / "build" / "hello")], capture_output=True, text=True,
                          check=True).stdout == "hi, world (10)\n"
    # turning it off again relinks nothing either
    assert "is up to date" in scons(project, pool, "linkpool=0").stdout


def test_the_tool_shim_leaves_the_linkpool_package_importable(tmp_path: Path, pool: Path
                                                              ) -> None:
    """SCons registers a toolpath tool named `linkpool` in sys.modules over our package."""
    from linkpool.integrations import scons as tool

    (tmp_path / "SConstruct").write_text(f"""
import sys
env = Environment()
env.Tool("linkpool", toolpath=[{tool.toolpath()!r}])  # linkpool not imported before
import linkpool.integrations.scons as first
assert hasattr(sys.modules["linkpool"], "hold"), sys.modules["linkpool"]
env2 = Environment(tools=["default", "linkpool"], toolpath=[first.toolpath()])
assert sys.modules["linkpool"] is first.PACKAGE
assert env2["SHLINKCOM"].startswith("$( $LINKPOOL $) $SHLINK"), env2["SHLINKCOM"]
print("shim ok")
""")
    assert "shim ok" in scons(tmp_path, pool, "-n").stdout


# -- the tool in-process: what it changes in an Environment ----------------------------------


def environment(**kw: Any) -> Any:
    import SCons.Environment

    return SCons.Environment.Environment(**kw)


def test_generate_prefixes_only_the_link_commands_outside_the_signature(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import SCons.Subst

    from linkpool.integrations.scons import PREFIX, exists, generate

    monkeypatch.setenv("LINKPOOL_DIR", "/somewhere/pool")
    plain = environment(tools=["default"])
    env = environment(tools=["default", generate])
    assert exists(env)
    for name in ("LINKCOM", "SHLINKCOM", "LDMODULECOM"):
        assert env[name] == PREFIX + plain[name]
    for name in ("LINK", "SHLINK", "LDMODULE", "ARCOM", "CCCOM", "CXXCOM"):
        assert env[name] == plain[name], name
    generate(env)  # twice is once
    assert env["LINKCOM"] == PREFIX + plain["LINKCOM"]
    assert os.path.isabs(env["LINKPOOL"]) and os.access(env["LINKPOOL"], os.X_OK)
    assert env["ENV"]["LINKPOOL_DIR"] == "/somewhere/pool"  # SCons's ENV is not os.environ

    target, source = [env.File("prog")], [env.File("main.o")]
    for name in ("LINKCOM", "SHLINKCOM", "LDMODULECOM"):
        sig = env.subst("$" + name, SCons.Subst.SUBST_SIG, target=target, source=source)
        assert sig == plain.subst("$" + name, SCons.Subst.SUBST_SIG, target=target,
                                  source=source)
        cmd = env.subst("$" + name, SCons.Subst.SUBST_CMD, target=target, source=source)
        assert cmd == f"{env['LINKPOOL']} {sig}"


def test_linkpool_variable_overrides_and_non_string_commands_are_left_alone() -> None:
    import SCons.Subst

    from linkpool.integrations.scons import generate

    def callable_link(target: Any, source: Any, env: Any) -> int:
        return 0

    env = environment(tools=["default"], LINKPOOL="lp run --pool /p --",
                      ENV={"PATH": os.defpath, "LINKPOOL_DIR": "/mine"})
    env["SHLINKCOM"] = callable_link  # what MSVC-style toolchains do: not prefixable
    generate(env)
    assert env["SHLINKCOM"] is callable_link
    assert env["ENV"]["LINKPOOL_DIR"] == "/mine"  # the SConstruct's own ENV wins
    cmd = env.subst("$LINKCOM", SCons.Subst.SUBST_CMD, target=[env.File("p")],
                    source=[env.File("p.o")])
    assert cmd.startswith("lp run --pool /p -- ")


def test_a_launcher_path_with_blanks_stays_one_argument(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import SCons.Subst

    from linkpool.integrations import scons as tool

    odd = tmp_path / "with blank" / "linkpool"
    odd.parent.mkdir()
    odd.write_text("#!/bin/sh\n")
    odd.chmod(0o755)
    monkeypatch.setattr(tool, "find_linkpool", lambda: str(odd))
    env = environment(tools=["default", tool.generate])
    argv = env.subst_list("$LINKCOM", SCons.Subst.SUBST_CMD, target=[env.File("p")],
                          source=[env.File("p.o")])[0]
    assert str(argv[0]) == str(odd)


def test_toolpath_holds_the_linkpool_tool() -> None:
    from linkpool.integrations import scons as tool

    assert (Path(tool.toolpath()) / "linkpool.py").is_file()
