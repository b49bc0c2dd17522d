"""linkers.py against the real linkers: bfd and gold (binutils), lld and mold (installed
here as root when missing, skipped otherwise), all driven by the real gcc."""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from linkpool.command import add_linker_args, parse
from linkpool.linkers import (
    Bfd,
    Generic,
    Gold,
    Linker,
    Lld,
    Mold,
    flavour_from_name,
    identify,
    resolve_driver_linker,
)

FLAVOURS: dict[str, type[Linker]] = {"bfd": Bfd, "gold": Gold, "lld": Lld, "mold": Mold}
PROGRAMS = {"bfd": "ld.bfd", "gold": "ld.gold", "lld": "ld.lld", "mold": "mold"}


@pytest.fixture(scope="module", autouse=True)
def real_linkers() -> None:
    """gcc, bfd and gold must be here; mold and lld are installed when we are root."""
    if shutil.which("gcc") is None or shutil.which("ld.gold") is None:
        pytest.skip("gcc and binutils are needed")
    if shutil.which("mold") and shutil.which("ld.lld"):
        return
    if os.geteuid() != 0:
        pytest.skip("mold and lld are missing, and only root may install them")
    for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "mold", "lld"]):
        done = subprocess.run(step, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode:
            pytest.fail(f"{' '.join(step)} failed:\n{done.stdout}{done.stderr}")


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hello.o (a C program) and start.o (a freestanding _start that exits 42)."""
    work = tmp_path_factory.mktemp("objects")
    (work / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("hello"); }\n')
    subprocess.run(["gcc", "-c", "hello.c"], cwd=work, check=True)
    if platform.machine() == "x86_64":
        (work / "start.c").write_text(
            'void _start(void) { __asm__ volatile("mov $60, %eax\\n"\n'
            '                                     "mov $42, %edi\\n syscall"); }\n')
        subprocess.run(["gcc", "-c", "-O1", "-fno-pie", "-fcf-protection=none",
                        "-fno-asynchronous-unwind-tables", "start.c"], cwd=work, check=True)
    return work


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)


def first_line(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.split("\n")[0]


# -- the table ---------------------------------------------------------------------------

def test_flavour_table() -> None:
    assert [f.id for f in (Bfd, Gold, Lld, Mold, Generic)] == [
        "bfd", "gold", "lld", "mold", "generic"]
    assert (Bfd.thread_args(4), Bfd.max_threads(8)) == ([], 1)
    assert (Gold.thread_args(3), Gold.max_threads(8)) == (["--threads", "--thread-count=3"], 1)
    assert (Lld.thread_args(3), Lld.max_threads(8)) == (["--threads=3"], 8)
    assert (Mold.thread_args(3), Mold.max_threads(8), Mold.max_threads(64)) == (
        ["--threads=3"], 8, 32)
    assert (Generic.thread_args(3), Generic.max_threads(0)) == ([], 1)
    assert Mold.forks_child and not any(f.forks_child for f in (Bfd, Gold, Lld, Generic))
    assert Mold.leaves_child(["--as-needed"]) and not Mold.leaves_child(["--no-fork"])
    assert Mold.leaves_child(["--no-fork", "--fork"]) and not Lld.leaves_child([])


@pytest.mark.parametrize(("name", "flavour"), [
    ("ld.bfd", Bfd), ("/usr/bin/x86_64-linux-gnu-ld.bfd", Bfd), ("ld.gold", Gold),
    ("aarch64-linux-gnu-ld.gold", Gold), ("ld.lld", Lld), ("ld.lld-14", Lld), ("lld", Lld),
    ("/usr/lib/llvm-14/bin/lld", Lld), ("ld.mold", Mold), ("mold", Mold),
    ("ld", None), ("x86_64-linux-gnu-ld", None), ("ld.so", None), ("lld-link", None),
    ("gcc", None), ("", None),
])
def test_flavour_from_name(name: str, flavour: type[Linker] | None) -> None:
    assert flavour_from_name(name) is flavour


def test_one_table_of_linker_names() -> None:
    """The parser, the flavours, doctor and the linker shims read one list of names."""
    from linkpool import doctor, shims
    from linkpool.names import LINKER_NAMES

    assert [f.id for f in FLAVOURS.values()] == list(LINKER_NAMES)
    for flavour in FLAVOURS.values():
        assert flavour.names == LINKER_NAMES[flavour.id]
        for name in flavour.names:
            assert flavour_from_name(name) is flavour
            argv = [name, "-flavor", "gnu", "a.o"] if name == "lld" else [name, "a.o"]
            assert parse(argv).tool == "linker", name
    assert shims.NAMES == ("ld", "ld.bfd", "ld.gold", "ld.lld", "ld.mold")
    assert doctor.LINKERS == ("ld.bfd", "ld.gold", "ld.lld", "ld.mold")


def test_path_search(tmp_path: Path) -> None:
    """One $PATH search for the linker, the mistyped-subcommand check and doctor: an empty
    entry is the working directory, a file that is not executable is passed over."""
    from linkpool.names import find_program, path_dirs

    assert path_dirs("/usr/bin:/opt/x/::") == ["/usr/bin/", "/opt/x/", "./", "./"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "tool").write_text("not executable\n")
    (tmp_path / "b" / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "b" / "tool").chmod(0o755)
    found = find_program("tool", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert found == f"{tmp_path / 'b'}/tool"
    assert find_program("tool", ":a", str(tmp_path / "b")) == "./tool"  # relative to cwd
    assert find_program("tool", str(tmp_path / "a")) is None
    assert find_program("tool\0", str(tmp_path / "b")) is None


# -- (a) identify the real binaries ------------------------------------------------------

@pytest.mark.parametrize(("program", "flavour"), [
    ("ld", Bfd),  # Debian: ld -> x86_64-linux-gnu-ld -> x86_64-linux-gnu-ld.bfd
    ("ld.bfd", Bfd), ("ld.gold", Gold), ("ld.lld", Lld), ("lld", Lld), ("mold", Mold),
    ("ld.mold", Mold),
])
def test_identify_installed_linkers(program: str, flavour: type[Linker]) -> None:
    path = shutil.which(program)
    assert path is not None
    assert identify(path) is flavour
    assert identify(program) is flavour  # a bare name is looked up on $PATH


@pytest.mark.parametrize("flavour_id", list(FLAVOURS))
def test_identify_by_version_banner(tmp_path: Path, flavour_id: str) -> None:
    """A copy called plain `ld` says nothing by its name: `--version` tells."""
    copy = tmp_path / "ld"
    shutil.copy(os.path.realpath(shutil.which(PROGRAMS[flavour_id]) or ""), copy)
    assert identify(str(copy)) is FLAVOURS[flavour_id]


def test_identify_follows_symlinks_and_falls_back(tmp_path: Path) -> None:
    (tmp_path / "ld").symlink_to(os.path.realpath(shutil.which("ld.gold") or ""))
    assert identify(str(tmp_path / "ld")) is Gold
    script = tmp_path / "linker"
    script.write_text("#!/bin/sh\necho 'Some Linker 1.0'\n")
    script.chmod(0o755)
    assert identify(str(script)) is Generic
    assert identify(str(tmp_path / "missing")) is Generic


# -- (b) which linker gcc really runs ----------------------------------------------------

def gcc_runs(objects: Path, *args: str) -> tuple[str, str]:
    """(the linker gcc ran, its banner): collect2 with --version shows its ld command."""
    done = subprocess.run(["gcc", *args, "hello.o", "-o", "hello", "-Wl,--version"],
                          cwd=objects, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)  # collect2 on stderr, ld on stdout
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].startswith("collect2 version")
    return lines[1].split()[0], lines[2]


@pytest.mark.parametrize("fuse_ld", [None, *FLAVOURS])
def test_resolve_matches_what_gcc_runs(objects: Path, fuse_ld: str | None) -> None:
    args = [f"-fuse-ld={fuse_ld}"] if fuse_ld else []
    ran, banner = gcc_runs(objects, *args)
    resolved = resolve_driver_linker("gcc", fuse_ld, None, [], os.environ["PATH"])
    assert resolved is not None
    assert os.path.realpath(resolved) == os.path.realpath(ran)
    assert first_line([resolved, "--version"]) == banner
    assert identify(resolved) is FLAVOURS[fuse_ld or "bfd"]


def wrapper(directory: Path, name: str, real: str) -> Path:
    directory.mkdir(exist_ok=True)
    script = directory / name
    script.write_text(f'#!/bin/sh\nexec {shutil.which(real)} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_gcc_looks_in_b_dirs_first(objects: Path, tmp_path: Path) -> None:
    mine = wrapper(tmp_path / "b", "ld.mold", "mold")
    for b_args in (["-B", str(tmp_path / "b")], [f"-B{tmp_path / 'b'}/"]):
        ran, banner = gcc_runs(objects, *b_args, "-fuse-ld=mold")
        assert ran == str(mine)
        cmd = parse(["gcc", *b_args, "-fuse-ld=mold", "hello.o"])
        resolved = resolve_driver_linker("gcc", cmd.fuse_ld, cmd.ld_path, cmd.b_dirs, None)
        assert resolved is not None and os.path.samefile(resolved, mine)
        assert identify(resolved) is Mold and banner.startswith("mold ")


def test_gcc_real_ld_in_b_dir_beats_fuse_ld(objects: Path, tmp_path: Path) -> None:
    """collect2 takes `real-ld` from the compiler dirs before it looks for ld.NAME."""
    real_ld = wrapper(tmp_path / "b", "real-ld", "ld.gold")
    wrapper(tmp_path / "b", "ld.mold", "mold")
    ran, banner = gcc_runs(objects, f"-B{tmp_path / 'b'}", "-fuse-ld=mold")
    resolved = resolve_driver_linker("gcc", "mold", None, [str(tmp_path / "b")], None)
    assert ran == str(real_ld) and resolved is not None and os.path.samefile(resolved, ran)
    assert banner.startswith("GNU gold") and identify(resolved) is Gold  # by its banner


def test_gcc_path_order_and_missing_linker(objects: Path, tmp_path: Path) -> None:
    mine = wrapper(tmp_path / "bin", "ld.lld", "ld.lld")
    path = f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"
    assert gcc_runs(objects, "-fuse-ld=lld")[0] != str(mine)
    env_done = subprocess.run(["gcc", "-fuse-ld=lld", "hello.o", "-Wl,--version"], cwd=objects,
                              capture_output=True, text=True, env={**os.environ, "PATH": path})
    assert env_done.stderr.splitlines()[1].split()[0] == str(mine)
    assert resolve_driver_linker("gcc", "lld", None, [], path) == str(mine)
    assert resolve_driver_linker("gcc", "mold", None, [], str(tmp_path / "bin")) is None
    assert resolve_driver_linker("gcc", "/usr/bin/ld.gold", None, [], path) is None
    assert resolve_driver_linker("gcc", None, "/usr/bin/ld.gold", [], path) is None


def test_clang_rules(tmp_path: Path) -> None:
    """clang's ToolChain::GetLinkerPath, on fake programs (clang is not installed here)."""
    lld = wrapper(tmp_path / "b", "ld.lld", "ld.lld")
    custom = wrapper(tmp_path / "bin", "my-linker", "mold")
    prefixed = wrapper(tmp_path / "pfx", "cross-ld.gold", "ld.gold")
    path = f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"
    b_dirs = [str(tmp_path / "b")]
    assert resolve_driver_linker("clang", "lld", None, b_dirs, path) == str(lld)
    assert resolve_driver_linker("clang", "lld", str(custom), b_dirs, path) == str(custom)
    assert resolve_driver_linker("clang", None, "my-linker", [], path) == str(custom)
    assert resolve_driver_linker("clang", None, "ld.lld", b_dirs, path) == str(lld)
    assert resolve_driver_linker("clang", str(custom), None, [], path) == str(custom)
    assert resolve_driver_linker("clang", "gold", None, [str(tmp_path / "pfx" / "cross-")],
                                 path) == str(prefixed)  # a -B that is no directory: a prefix
    assert resolve_driver_linker("clang", None, None, [], path) == shutil.which("ld")
    assert resolve_driver_linker("clang", "ld", None, [], path) == shutil.which("ld")
    assert resolve_driver_linker("clang", "nosuch", None, [], path) is None
    assert resolve_driver_linker("clang", None, "/nonexistent/ld", [], path) is None
    relative = resolve_driver_linker("clang", None, "bin/my-linker", [], path, cwd=str(tmp_path))
    assert relative == "bin/my-linker"


# -- (c) the thread options each flavour gives are taken by the real linker --------------

@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("flavour_id", list(FLAVOURS))
def test_thread_args_through_gcc(objects: Path, tmp_path: Path, flavour_id: str,
                                 threads: int) -> None:
    flavour, out = FLAVOURS[flavour_id], str(tmp_path / "hello")
    cmd = parse(["gcc", f"-fuse-ld={flavour_id}", "hello.o", "-o", out], cwd=str(objects))
    argv = add_linker_args(cmd, flavour.thread_args(threads))
    assert argv[-len(cmd.argv) + 1:] == cmd.argv[1:]  # added after argv[0], nothing moved
    assert len(argv) == len(cmd.argv) + (flavour is not Bfd)
    done = run(argv, objects)
    assert done.returncode == 0, done.stderr
    assert run([out], objects).stdout == "hello\n"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="start.o is x86_64 code")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("program", ["ld.bfd", "ld.gold", "ld.lld", "lld", "mold", "ld"])
def test_thread_args_direct(objects: Path, tmp_path: Path, program: str, threads: int) -> None:
    path = shutil.which(program) or program
    flavour, out = identify(path), str(tmp_path / "prog")
    argv = [path, *(["-flavor", "gnu"] if program == "lld" else []), "start.o", "-o", out]
    cmd = parse(argv, cwd=str(objects))
    assert (cmd.tool, cmd.kind, cmd.output, cmd.inputs) == ("linker", "link", out, ["start.o"])
    done = run(add_linker_args(cmd, flavour.thread_args(threads)), objects)
    assert done.returncode == 0, done.stderr
    assert run([out], objects).returncode == 42


# -- (d) a thread count the user chose is seen -------------------------------------------

USER_THREAD_OPTIONS = {
    "gold": [["--threads"], ["--no-threads"], ["--thread-count=2"], ["--thread-count", "2"],
             ["-thread-count=2"], ["--thread-count-initial=2"], ["--thread-count-final", "1"]],
    "lld": [["--threads=2"], ["--threads", "2"]],
    "mold": [["--threads=2"], ["-threads=2"], ["--threads"], ["--no-threads"],
             ["--thread-count=2"], ["--thread-count", "2"]],
}


@pytest.mark.parametrize(("flavour_id", "args"), [
    (flavour_id, args) for flavour_id, forms in USER_THREAD_OPTIONS.items() for args in forms])
def test_threads_set_for_options_the_linker_takes(flavour_id: str, args: list[str]) -> None:
    flavour = FLAVOURS[flavour_id]
    done = run([PROGRAMS[flavour_id], *args, "--version"], Path("/"))
    assert done.returncode == 0, done.stderr  # a real option of that linker
    assert flavour.threads_set(["--as-needed", *args, "x.o"])
    cmd = parse(["gcc", "-Wl," + ",".join(args), "x.o"])
    assert flavour.threads_set(cmd.linker_args)


@pytest.mark.parametrize("flavour", [Bfd, Gold, Lld, Mold, Generic])
def test_threads_not_set(flavour: type[Linker]) -> None:
    for args in ([], ["--as-needed", "-O1", "x.o"], ["--plt-thread-safe"], ["threads.o"],
                 ["--thinlto-jobs=2"], ["-z", "now"]):
        assert not flavour.threads_set(args)
    assert not Bfd.threads_set(["--threads=2"])  # bfd has no threads to choose


def test_user_threads_win_over_ours(objects: Path, tmp_path: Path) -> None:
    """Our options go first, so a user's later --threads=1 is what lld and mold use."""
    for flavour_id in ("lld", "mold"):
        flavour, out = FLAVOURS[flavour_id], str(tmp_path / flavour_id)
        cmd = parse(["gcc", f"-fuse-ld={flavour_id}", "hello.o", "-Wl,--threads=1", "-o", out])
        assert flavour.threads_set(cmd.linker_args)
        done = run(add_linker_args(cmd, flavour.thread_args(2)), objects)
        assert done.returncode == 0, done.stderr
