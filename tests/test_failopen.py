"""linkpool is never why a command fails: whatever breaks inside linkpool (at start-up, in
its settings, at any step of the engine) or in the environment the build starts it in, the
command runs unchanged and its own status, stdout and stderr come back, with at most one
`linkpool: warning:` line.

Faults are injected for real: a third-party plugin (tests/faults_plugin.py, installed the
way any plugin is, by an entry point in a `LINKPOOL_PLUGIN_PATH` directory) that raises in a
hook or replaces a function of linkpool with one that raises; a broken install; hostile
environments; closed standard streams. Each outcome is compared with the bare command's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, LINKPOOL, install_plugin, lp, make_pool

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("src")
    (d / "main.c").write_text('#include <stdio.h>\nint f(void);\n'
                              'int main(void){ printf("%d\\n", f()); return 0; }\n')
    (d / "f.c").write_text("int f(void){ return 42; }\n")
    for name in ("main", "f"):
        subprocess.run(["gcc", "-c", f"{name}.c"], cwd=d, check=True)
    return d


@pytest.fixture
def faults(tmp_path: Path) -> Path:
    """A directory holding the fault plugin as an installed distribution."""
    return install_plugin(tmp_path / "plugins", "faults", (HERE / "faults_plugin.py").read_text())


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
        shell_redirect: str = "") -> subprocess.CompletedProcess:
    if shell_redirect:  # e.g. ">&-": start the command with a standard stream closed
        quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)
        argv = ["sh", "-c", f"exec {quoted} {shell_redirect}"]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def assert_like_bare(through: subprocess.CompletedProcess, bare: subprocess.CompletedProcess,
                     allow_warning: bool = True) -> None:
    assert through.returncode == bare.returncode, through.stderr
    assert through.stdout == bare.stdout
    ours = [line for line in through.stderr.splitlines(True) if line.startswith("linkpool:")]
    rest = "".join(line for line in through.stderr.splitlines(True)
                   if not line.startswith("linkpool:"))
    assert rest == bare.stderr
    assert len(ours) <= (1 if allow_warning else 0), ours
    assert all(line.startswith("linkpool: warning: ") for line in ours), ours
    assert "Traceback" not in through.stderr


LINK_OK = ["gcc", "-o", "prog", "main.o", "f.o"]
LINK_BAD = ["gcc", "-o", "prog", "main.o"]  # undefined reference to f: the linker's own error

HOOKS = ["linkpool_configure", "linkpool_classify", "linkpool_choose_linker",
         "linkpool_estimate", "linkpool_weigh", "linkpool_before_acquire", "linkpool_tune",
         "linkpool_after_acquire", "linkpool_after_link"]
INTERNALS = [
    "linkpool.command:parse",
    "linkpool.capacity:read_machine",
    "linkpool.estimate:estimate_inputs",
    "linkpool.policy:weight_range",
    "linkpool.policy:threads_for",
    "linkpool.policy:extra_slots",
    "linkpool.pool:Pool.open",
    "linkpool.pool:Pool.acquire",
    "linkpool.pool:Lease.update",
    "linkpool.pool:Lease.settle",
    "linkpool.history:History.append",
    "linkpool.history:History.last",
    "linkpool.process:_Sampler.sample",
    "linkpool.strictjson:dumps",
]


@pytest.mark.parametrize("fault", [*HOOKS, *INTERNALS])
def test_a_fault_at_any_step_still_runs_the_link(fault: str, src: Path, faults: Path,
                                                 tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    env = {**os.environ, "LINKPOOL_DIR": str(pool), "LINKPOOL_PLUGIN_PATH": str(faults),
           "LP_FAULT": fault}
    for argv in (LINK_OK, LINK_BAD):
        (src / "prog").unlink(missing_ok=True)
        bare = run(argv, src)
        bare_made = (src / "prog").exists()
        (src / "prog").unlink(missing_ok=True)
        through = run([LINKPOOL, *argv], src, env)
        assert_like_bare(through, bare)
        assert (src / "prog").exists() == bare_made
        if bare_made:
            assert run(["./prog"], src).stdout == "42\n"
    # and the pool is whole afterwards: nothing held
    assert '"in_use": 0' in lp("status", "--pool", str(pool), "--json").stdout


def test_many_faults_give_one_warning_line(src: Path, faults: Path, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    env = {**os.environ, "LINKPOOL_DIR": str(pool), "LINKPOOL_PLUGIN_PATH": str(faults),
           "LP_FAULT": ",".join([*HOOKS[1:], "linkpool.history:History.append"])}
    for argv in (LINK_OK, LINK_BAD):
        through = run([LINKPOOL, *argv], src, env)
        assert_like_bare(through, run(argv, src))
        assert through.stderr.count("linkpool: warning:") == 1


def test_the_plugin_really_breaks_linkpool(src: Path, faults: Path, tmp_path: Path) -> None:
    """The control: the injected fault is seen (its warning names it), so the tests above
    exercise the failure and not a plugin that never loaded."""
    pool = make_pool(tmp_path / "pool", 2)
    env = {**os.environ, "LINKPOOL_DIR": str(pool), "LINKPOOL_PLUGIN_PATH": str(faults),
           "LP_FAULT": "linkpool.capacity:read_machine"}
    through = run([LINKPOOL, *LINK_OK], src, env)
    assert through.returncode == 0
    assert "injected fault in linkpool.capacity:read_machine" in through.stderr


def test_a_fault_in_mold_bookkeeping_keeps_the_answer(src: Path, faults: Path,
                                                      tmp_path: Path) -> None:
    if not shutil.which("mold"):
        pytest.skip("mold is not installed (scripts/setup.sh --test installs it)")
    pool = make_pool(tmp_path / "pool", 2)
    argv = ["gcc", "-fuse-ld=mold", "-o", "prog", "main.o", "f.o"]
    bare = run(argv, src)
    for fault in ("linkpool.pool:Lease.update", "linkpool_after_link",
                  "linkpool.history:History.append"):
        env = {**os.environ, "LINKPOOL_DIR": str(pool), "LINKPOOL_PLUGIN_PATH": str(faults),
               "LP_FAULT": fault}
        (src / "prog").unlink(missing_ok=True)
        assert_like_bare(run([LINKPOOL, *argv], src, env), bare)
        assert run(["./prog"], src).stdout == "42\n"


# -- settings ------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [
    "pool = 3\n",
    "pool = [\n",  # not TOML
    "disable = 7\n",
    "memory_budget = 'lots'\n",
    None,  # the config path is a directory: cannot be read
])
def test_a_bad_config_file_still_runs_the_link(config: str | None, src: Path,
                                               tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    if config is None:
        path.mkdir()
    else:
        path.write_text(config)
    env = {**os.environ, "LINKPOOL_CONFIG": str(path), "LINKPOOL_DIR": str(tmp_path / "pool")}
    for argv in (LINK_OK, LINK_BAD):
        bare = run(argv, src)
        assert_like_bare(run([LINKPOOL, *argv], src, env), bare)
        assert_like_bare(run([LINKPOOL, "run", "--", *argv], src, env), bare)


def test_a_missing_linkpool_config_still_runs_the_link(src: Path, tmp_path: Path) -> None:
    """A link is never stopped by it: one warning naming the file, and the link runs
    without the pool (which is not made)."""
    missing = tmp_path / "lp.toml"
    env = {**os.environ, "LINKPOOL_CONFIG": str(missing), "LINKPOOL_DIR": str(tmp_path / "pool")}
    default = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for argv in (LINK_OK, LINK_BAD):
        bare = run(argv, src)
        for through in (run([LINKPOOL, *argv], src, env),
                        run([LINKPOOL, "run", "--", *argv], src, env)):
            assert_like_bare(through, bare)
            warning = [line for line in through.stderr.splitlines() if line.startswith("linkpool:")]
            assert warning == [f"linkpool: warning: $LINKPOOL_CONFIG names {missing}, which does "
                               f"not exist; create it, or unset LINKPOOL_CONFIG to read "
                               f"{default / 'linkpool' / 'config.toml'}; running "
                               f"the command without linkpool"], through.stderr
    assert not (tmp_path / "pool").exists()


@pytest.mark.parametrize("name, value", [
    ("LINKPOOL_STRICT", "maybe"), ("LINKPOOL_MEMORY_BUDGET", "abc"),
    ("LINKPOOL_QUIET", "loud"), ("LINKPOOL_DISABLE", ",,,"), ("LINKPOOL_WAKEUP", "telepathy"),
    ("LINKPOOL_PLUGIN_PATH", "/nonexistent:/etc/passwd"),
])
def test_a_bad_setting_in_the_environment_still_runs_the_link(name: str, value: str, src: Path,
                                                              tmp_path: Path) -> None:
    env = {**os.environ, name: value, "LINKPOOL_DIR": str(tmp_path / "pool")}
    for argv in (LINK_OK, LINK_BAD):
        assert_like_bare(run([LINKPOOL, *argv], src, env), run(argv, src))


def test_history_that_cannot_be_written(src: Path, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    (pool / "history.jsonl").mkdir()  # not a file: every append fails
    env = {**os.environ, "LINKPOOL_DIR": str(pool)}
    for argv in (LINK_OK, LINK_BAD):
        assert_like_bare(run([LINKPOOL, *argv], src, env), run(argv, src))


# -- start-up ------------------------------------------------------------------------------

def broken_install(tmp_path: Path, python: str | None) -> Path:
    """A copy of the two launcher files; linkpool-py's first line names ``python`` (None:
    no linkpool-py at all)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(BIN / "linkpool", bin_dir / "linkpool")
    if python is not None:
        body = (BIN / "linkpool-py").read_text().split("\n", 1)[1]
        (bin_dir / "linkpool-py").write_text(f"#!{python}\n{body}")
        (bin_dir / "linkpool-py").chmod(0o755)
    return bin_dir / "linkpool"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python that has no linkpool: a fresh virtual environment."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return str(venv / "bin" / "python")


@pytest.mark.parametrize("how", ["python without linkpool", "python gone", "no linkpool-py"])
@pytest.mark.parametrize("form", ["launcher", "run", "run with options"])
def test_a_broken_install_still_runs_the_link(how: str, form: str, bare_python: str,
                                              src: Path, tmp_path: Path) -> None:
    python = {"python without linkpool": bare_python, "python gone": "/nonexistent/python3",
              "no linkpool-py": None}[how]
    launcher = str(broken_install(tmp_path, python))
    prefix = {"launcher": [], "run": ["run", "--"],
              "run with options": ["run", "--pool", str(tmp_path / "p"), "--weight", "1",
                                   "--quiet", "--"]}[form]
    for argv in (LINK_OK, LINK_BAD):
        through = run([launcher, *prefix, *argv], src)
        assert_like_bare(through, run(argv, src))
        assert "running the command without linkpool" in through.stderr


# -- the build's environment ---------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PYTHONPATH directory of modules named like standard ones that break whoever imports
    them, and a sitecustomize that hides site-packages the way pip's build isolation does."""
    d = tmp_path_factory.mktemp("hostile")
    for name in ("enum", "warnings", "types", "re", "json", "typing", "linkpool"):
        (d / f"{name}.py").write_text(f"raise ImportError('hostile {name}')\n")
    (d / "sitecustomize.py").write_text(
        "import sys\nsys.path[:] = [p for p in sys.path if 'site-packages' not in p]\n")
    return d


def env_through(argv_env: dict[str, str], cwd: Path, redirect: str = "") -> tuple:
    bare = run(["env"], cwd, argv_env, redirect)
    through = run([LINKPOOL, "env"], cwd, argv_env, redirect)
    return bare, through


@pytest.mark.parametrize("case", [
    "pip isolation", "stdlib shadowed", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONWARNINGS",
    "other venv", "C locale", "no locale", "LC_CTYPE=C", "latin-1 locale",
])
def test_any_python_environment(case: str, hostile: Path, bare_python: str, src: Path,
                                tmp_path: Path) -> None:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
            "LINKPOOL_DIR": str(tmp_path / "pool"),
            "XDG_CONFIG_HOME": str(tmp_path / "config-home")}
    startup = tmp_path / "startup.py"
    startup.write_text("raise SystemExit('startup ran')\n")
    other = Path(bare_python).parent
    extra = {
        "pip isolation": {"PYTHONPATH": str(hostile), "PYTHONNOUSERSITE": "1"},
        "stdlib shadowed": {"PYTHONPATH": str(hostile)},
        "PYTHONHOME": {"PYTHONHOME": "/nonexistent"},
        "PYTHONSTARTUP": {"PYTHONSTARTUP": str(startup), "PYTHONINSPECT": "1"},
        "PYTHONWARNINGS": {"PYTHONWARNINGS": "error::NoSuchWarning"},
        "other venv": {"VIRTUAL_ENV": str(other.parent),
                       "PATH": f"{other}{os.pathsep}{os.environ['PATH']}"},
        "C locale": {"LANG": "C", "LC_ALL": "C"},
        "no locale": {},
        "LC_CTYPE=C": {"LC_CTYPE": "C"},
        "latin-1 locale": {"LANG": "en_US.ISO-8859-1"},
    }[case]
    env = {**base, **extra}
    bare, through = env_through(env, tmp_path)
    assert through.returncode == 0 and "Traceback" not in through.stderr, through.stderr
    # the command sees the environment it was given; linkpool adds only its nesting marker
    seen = [line for line in through.stdout.splitlines() if not line.startswith("LINKPOOL_HELD=")]
    assert sorted(seen) == sorted(bare.stdout.splitlines())
    assert through.stderr == bare.stderr
    # and a real link works in it, recorded in the history
    for argv in (LINK_OK, LINK_BAD):
        assert_like_bare(run([LINKPOOL, *argv], src, env), run(argv, src, env),
                         allow_warning=False)
    records = lp("history", "--pool", str(tmp_path / "pool"), "--json").stdout
    assert records.count('"exit"') >= 3  # env and the two links


@pytest.mark.parametrize("redirect", [">&-", "2>&-", "<&-", ">&- 2>&- <&-"])
def test_closed_standard_streams(redirect: str, src: Path, tmp_path: Path) -> None:
    env = {**os.environ, "LINKPOOL_DIR": str(tmp_path / "pool")}
    # A command that writes to both streams: it finds them closed just as it would bare
    # (no file of linkpool's took their place), so its status is the bare one.
    script = ["sh", "-c", "echo out; echo err >&2; cat </dev/null; exit 3"]
    bare = run(script, src, env, redirect)
    through = run([LINKPOOL, *script], src, env, redirect)
    assert (through.returncode, through.stdout, through.stderr) == \
        (bare.returncode, bare.stdout, bare.stderr)
    for argv in (LINK_OK, LINK_BAD):
        bare = run(argv, src, env, redirect)
        through = run([LINKPOOL, *argv], src, env, redirect)
        assert (through.returncode, through.stdout, through.stderr) == \
            (bare.returncode, bare.stdout, bare.stderr)
    # the slots hold no stray output: only the identity linkpool writes
    for slot in (tmp_path / "pool").glob("slot.*"):
        assert b"out\n" not in slot.read_bytes() and b"err\n" not in slot.read_bytes()
