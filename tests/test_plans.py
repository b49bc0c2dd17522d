"""Plans for the C front door (linkpool.plans) and the fold of its record spool
(linkpool.spool), driven as the front door drives them: `python -I linkpool-py --plan=FD
ARGS...` with the write end of a pipe as FD, the plan read from the pipe, the cache and the
spool as real files, the history read back with `linkpool history`."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from linkpool import plans
from linkpool.history import History

from conftest import BIN, lp, make_pool

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
         python: str = sys.executable) -> Planned:
    """Ask for the plan of `linkpool ARGS` as the front door does."""
    r, w = os.pipe()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([python, "-I", LINKPOOL_PY, f"--plan={w}", *args],
                                pass_fds=(w,), env=env, cwd=cwd, stdout=out, stderr=err)
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
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a build: a cache of its own, a pool of 2 slots."""
    pool = make_pool(tmp_path / "pool", 2)
    return dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), LINKPOOL_DIR=str(pool))


@pytest.fixture
def objs(tmp_path: Path) -> Path:
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


# -- the key --------------------------------------------------------------------------------


def test_fnv1a64_and_the_key_are_the_specified_ones() -> None:
    # FNV-1a 64 vectors (the FNV authors' test suite)
    assert plans.fnv1a64(b"") == 0xCBF29CE484222325
    assert plans.fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert plans.fnv1a64(b"foobar") == 0x85944171F73967E8
    environ = {b"PATH": b"/bin", b"LINKPOOL_DIR": b"/p", b"HOME": b"/h",
               b"LINKPOOL_A": b"x\xff", b"LINKPOOLX": b"no", b"XPATH": b"no"}
    k = plans.key(1000, b"/w", [b"run", b"--", b"cc", b"\xfe"], environ)
    assert k == (b"linkpool-plan-1\0" b"1000\0" b"/w\0" b"4\0" b"run\0--\0cc\0\xfe\0"
                 b"HOME=/h\0LINKPOOL_A=x\xff\0LINKPOOL_DIR=/p\0PATH=/bin\0")
    # str arguments are the same bytes (os.fsencode: surrogates stand for the bytes)
    assert plans.key(1000, "/w", ["run", "--", "cc", "\udcfe"],
                     {os.fsdecode(n): os.fsdecode(v) for n, v in environ.items()}) == k
    assert plans.file_name(b"") == "cbf29ce484222325"
    assert plans.file_name(b"foobar") == "85944171f73967e8"


def test_the_plan_starts_with_the_key_of_its_invocation(env: dict[str, str], objs: Path) -> None:
    args = ["gcc", "-o", "app", "main.o", "caf\udce9.o"]
    env = dict(env, LINKPOOL_QUIET="1", UNRELATED="1")
    p = plan(*args, env=env, cwd=objs)
    assert p.code == 0
    expected = plans.key(os.geteuid(), str(objs), args, env)
    assert p.key == expected and p.data.startswith(b"lpplan1\n%d\n" % len(expected))
    assert stored(env, p).read_bytes() == p.data


# -- the outcomes of `run` ------------------------------------------------------------------


def test_usage_errors_and_help_say_what_run_says_and_exit(env: dict[str, str],
                                                          objs: Path) -> None:
    for args in (["run", "--bogus", "gcc"], ["run", "--weight", "0", "--", "gcc"],
                 ["run", "--pool"], ["run"], ["statsu"]):
        p = plan(*args, env=env, cwd=objs)
        bare = lp(*args, env=env, cwd=objs)
        assert (p.action, p.one("status")) == ("exit", "2"), args
        assert p.err == bare.stderr and p.err.startswith("linkpool: ") and p.out == ""
    p = plan("run", "--help", env=env, cwd=objs)
    assert (p.action, p.one("status")) == ("exit", "0")
    assert p.out == lp("run", "--help").stdout and p.out.startswith("usage: linkpool run")
    assert cached(env) == []  # an exit is never stored


def test_not_a_link_is_pythons(env: dict[str, str]) -> None:
    p = plan("status", env=env)
    assert p.action == "python" and p.out == p.err == ""


def test_a_config_error_warns_and_runs_the_command_bare(env: dict[str, str],
                                                        objs: Path) -> None:
    for bad in ({"LINKPOOL_STRICT": "maybe"}, {"LINKPOOL_MEMORY_BUDGET": "2"}):
        p = plan("run", "--", "gcc", "-o", "app", "main.o", env=dict(env, **bad), cwd=objs)
        assert p.action == "exec" and p.command() == ["gcc", "-o", "app", "main.o"]
        bare = lp("run", "--", "gcc", "-o", "app", "main.o", env=dict(env, **bad), cwd=objs)
        assert p.err == bare.stderr and p.err.count("\n") == 1
        assert p.err.startswith(f"linkpool: warning: {next(iter(bad))}=")
        assert p.err.endswith("; running the command without linkpool\n")
    config = objs / "config.toml"
    config.write_text("strict = [\n")
    p = plan("gcc", "-o", "app", "main.o", env=dict(env, LINKPOOL_CONFIG=str(config)), cwd=objs)
    assert p.action == "exec" and "is not valid TOML" in p.err
    assert cached(env) == []


def test_compiles_info_and_nested_runs_exec_and_are_stored(env: dict[str, str],
                                                          objs: Path) -> None:
    for args in (["gcc", "-c", "main.c"], ["run", "--", "ccache", "gcc", "-c", "main.c"],
                 ["gcc", "--version"], ["ld", "-v"]):
        p = plan(*args, env=env, cwd=objs)
        command = args[2:] if args[0] == "run" else args
        assert (p.action, p.command(), p.err) == ("exec", command, ""), args
        assert stored(env, p).read_bytes() == p.data and holds(p)
    nested = dict(env, LINKPOOL_HELD=env["LINKPOOL_DIR"])
    p = plan("gcc", "-o", "app", "main.o", env=nested, cwd=objs)
    assert p.action == "exec" and p.command() == ["gcc", "-o", "app", "main.o"]
    assert stored(env, p).exists()
    # the pool of another build is no nesting
    p = plan("gcc", "-o", "app", "main.o", env=dict(env, LINKPOOL_HELD="/elsewhere"), cwd=objs)
    assert p.action == "run"


def test_an_unusable_pool_warns_and_execs_or_strictly_exits(tmp_path: Path, env: dict[str, str],
                                                           objs: Path) -> None:
    (tmp_path / "file").write_text("")
    bad = dict(env, LINKPOOL_DIR=str(tmp_path / "file" / "pool"))
    p = plan("gcc", "-o", "app", "main.o", env=bad, cwd=objs)
    bare = lp("gcc", "-o", "app", "main.o", env=bad, cwd=objs)
    assert p.action == "exec" and p.command() == ["gcc", "-o", "app", "main.o"]
    assert p.err == bare.stderr and "running the command without the pool" in p.err
    assert cached(env) == []  # said: the next link says it again
    p = plan("run", "--strict", "--", "gcc", "-o", "app", "main.o", env=bad, cwd=objs)
    assert (p.action, p.one("status")) == ("exit", "69")
    assert p.err.endswith("(strict mode: the command was not run)\n") and p.err.count("\n") == 1
    assert cached(env) == []


def test_a_plan_that_does_not_hold_any_more_is_not_left_stored(
        tmp_path: Path, env: dict[str, str], objs: Path) -> None:
    """The same invocation once its pool became unusable: the warning again, the command
    bare, and the stored plan of that key gone (the front door asks each time)."""
    good = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert good.action == "run" and stored(env, good).exists()
    os.rename(env["LINKPOOL_DIR"], tmp_path / "moved")
    Path(env["LINKPOOL_DIR"]).write_text("not a pool\n")
    assert not holds(good)  # its pool.json is gone
    bad = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert bad.key == good.key and bad.action == "exec" and "without the pool" in bad.err
    assert cached(env) == []


def test_a_weight_above_the_slots_is_capped_after_the_warning(env: dict[str, str],
                                                              objs: Path) -> None:
    p = plan("run", "--weight", "4", "--", "gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert p.action == "run" and (p.one("weight"), p.one("weight_max")) == ("2", "2")
    assert p.err.startswith("linkpool: warning: weight 4 is more than the 2 slots")
    assert stored(env, p).exists()  # the pool's pool.json is among what it depends on


def test_the_run_plan(env: dict[str, str], objs: Path) -> None:
    p = plan("run", "--timeout", "2.5", "--", "gcc", "-o", "app", "main.o",
             env=dict(env, LINKPOOL_QUIET="1", LINKPOOL_WAKEUP="polling"), cwd=objs)
    assert p.code == 0 and p.err == "" and p.action == "run"
    names = [n for n, _ in p.fields]
    assert names[0] == "cpus" and names.index("jobserver") < names.index("action")
    assert p.one("cpus") == str(CORES) and p.one("jobserver") == "0"
    assert p.get("once") is None
    assert (p.one("pool"), p.one("weight"), p.one("weight_max")) == (env["LINKPOOL_DIR"], "1", "1")
    # where the pool's path came from, for the front door's line about it (none: default)
    assert p.one("pool_source") == "$LINKPOOL_DIR"
    assert names.index("pool_source") == names.index("pool") + 1
    runtime = objs / "runtime"  # the default pool, $XDG_RUNTIME_DIR/linkpool: no source
    runtime.mkdir(mode=0o700)
    default = {k: v for k, v in env.items() if k != "LINKPOOL_DIR"}
    d = plan("gcc", "-o", "app", "main.o", env=dict(default, XDG_RUNTIME_DIR=str(runtime)),
             cwd=objs)
    assert d.one("pool") == str(runtime / "linkpool") and d.get("pool_source") is None
    assert (p.one("timeout"), p.one("strict"), p.one("quiet"), p.one("polling")) == \
        ("2.5", "0", "1", "1")
    assert (p.one("forking"), p.one("label")) == ("0", str(objs / "app"))
    note = json.loads(p.one("note"))
    assert note["command"] == ["gcc", "-o", "app", "main.o"] and note["cwd"] == str(objs)
    assert note["output"] == str(objs / "app") and note["linker"] == "bfd"
    record = json.loads(p.one("record"))
    assert {k: record[k] for k in ("output", "cwd", "kind", "linker", "command", "shared")} == \
        {"output": str(objs / "app"), "cwd": str(objs), "kind": "link", "linker": "bfd",
         "command": ["gcc", "-o", "app", "main.o"], "shared": False}
    assert record["estimate"]["source"] == "inputs" and record["extra"] == {}
    assert p.variants() == {(1, 0): ["gcc", "-o", "app", "main.o"]}  # bfd: no threads
    assert p.get("js_want") is None and p.get("js_fixed") is None
    # what it depends on: the config files (absent), pool.json, gcc, ld, linkpool itself,
    # and the output's record in the history (absent: weighed from its inputs)
    stats = {v.split(" ", 5)[5] for v in p.all("stat")}
    absent = set(p.all("absent"))
    user_config = f"{os.environ['XDG_CONFIG_HOME']}/linkpool/config.toml"
    assert {user_config, "/nonexistent/linkpool-tests/linkpool/config.toml"} <= absent
    assert f"{env['LINKPOOL_DIR']}/pool.json" in stats and shutil.which("gcc") in stats
    assert any(s.endswith("/linkpool/__init__.py") for s in stats)
    assert any(a.startswith(f"{env['LINKPOOL_DIR']}/outputs/") for a in absent)
    assert holds(p) and stored(env, p).read_bytes() == p.data
    mode = stat.S_IMODE(stored(env, p).stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(stored(env, p).parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(stored(env, p).parent.parent.stat().st_mode) == 0o700
    unknown = plan("run", "--", "sh", "-c", "true", env=env, cwd=objs)
    assert unknown.action == "run" and unknown.one("label") == "sh"
    assert json.loads(unknown.one("record"))["kind"] == "unknown"


def test_a_forking_linker_is_said(env: dict[str, str], objs: Path) -> None:
    assert shutil.which("mold"), "mold is installed by scripts/setup.sh --test"
    p = plan("gcc", "-fuse-ld=mold", "-o", "app", "main.o", env=env, cwd=objs)
    assert p.one("forking") == "1" and json.loads(p.one("record"))["linker"] == "mold"
    p = plan("gcc", "-fuse-ld=mold", "-Wl,--no-fork", "-o", "app", "main.o", env=env, cwd=objs)
    assert p.one("forking") == "0"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
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
                env=env, cwd=big), env


@pytest.mark.skipif(CORES != 2, reason="the thread counts are those of 2 CPUs")
def test_variants_for_every_slot_count_and_a_learning_plan_is_once(tmp_path: Path,
                                                                   big: Path) -> None:
    """lld on 2 CPUs, a pool of 4 slots: it waits for 1 and takes 2 when nobody waits;
    two threads either way (twice a core's share when links meet), the command as given
    (lld takes both CPUs by itself). No history yet: the policy wants its measurements."""
    p, env = lld_plan(tmp_path, big)
    assert (p.one("weight"), p.one("weight_max")) == ("1", "2")
    app = str(tmp_path / "app")
    argv = ["gcc", "-fuse-ld=lld", "-o", app, "big.o"]
    assert p.variants() == {(1, 2): argv, (2, 2): argv}
    assert p.one("once") == "1"
    record = json.loads(p.one("record"))
    assert record["extra"]["plan"]["learning"] is True and record["linker"] == "lld"
    assert stored(env, p).read_bytes() == p.data  # once: the front door uses it once
    # 8 slots: at 1 slot a core's share is 1 thread (x2), at 2 slots 2: no option needed
    p, env = lld_plan(tmp_path, big, slots=8)
    assert (p.one("weight"), p.one("weight_max")) == ("1", "4")
    assert p.variants() == {(n, 2): argv for n in range(1, 5)}


@pytest.mark.skipif(CORES != 2, reason="the thread counts are those of 2 CPUs")
def test_variants_under_a_jobserver(tmp_path: Path, big: Path) -> None:
    """Under make's jobserver: a variant for each thread count below the plan's (fewer
    tokens were free), the tokens to want for each slot count, and whether the count is
    the user's."""
    fifo = tmp_path / "jobserver"
    os.mkfifo(fifo)
    makeflags = f" -j4 --jobserver-auth=fifo:{fifo}"
    p, env = lld_plan(tmp_path, big, slots=2, MAKEFLAGS=makeflags)
    app = str(tmp_path / "app")
    assert p.one("jobserver") == "1" and (p.one("weight"), p.one("weight_max")) == ("1", "1")
    assert p.variants() == {(1, 2): ["gcc", "-fuse-ld=lld", "-o", app, "big.o"],
                            (1, 1): ["gcc", "-Wl,--threads=1", "-fuse-ld=lld", "-o", app,
                                     "big.o"]}
    assert (p.all("js_want"), p.one("js_fixed")) == (["1 2"], "0")
    record = json.loads(p.one("record"))
    assert record["tuned"]["1 2"] == record["tuned"]["1 1"] == \
        {"make_jobs": 4, "jobserver": "fifo"}
    assert "tokens" not in json.dumps(record)  # the front door measures them
    assert stored(env, p).exists()
    # the user's own count: the command does not change, its tokens are still wanted
    p, env = lld_plan(tmp_path, big, "-Wl,--threads=2", slots=2, MAKEFLAGS=makeflags)
    assert list(p.variants()) == [(1, 0), (2, 0)] and p.get("once") is None
    assert (p.all("js_want"), p.one("js_fixed")) == (["1 2", "2 2"], "1")
    # the build's -jN without a jobserver bounds it, but MAKEFLAGS is no part of the key
    p, env = lld_plan(tmp_path, big, slots=2, MAKEFLAGS="-j1")
    assert p.action == "run" and not stored(env, p).exists()


def test_gcc_ltrans_under_a_jobserver_is_pythons(env: dict[str, str], objs: Path) -> None:
    pipe = dict(env, MAKEFLAGS=" -j2 --jobserver-auth=3,4")
    p = plan("gcc", "-flto=auto", "-o", "app", "main.o", env=pipe, cwd=objs)
    assert p.action == "python" and not cached(env)
    fifo = dict(env, MAKEFLAGS=" -j2 --jobserver-auth=fifo:/nonexistent/fifo")
    p = plan("gcc", "-flto", "-o", "app", "main.o", env=pipe, cwd=objs)
    assert p.action == "python"
    # gcc reads a fifo jobserver by itself: planned, but not stored (a pipe next time?)
    p = plan("gcc", "-flto", "-o", "app", "main.o", env=fifo, cwd=objs)
    assert p.action == "run" and not stored(env, p).exists()


def test_check_output_is_pythons(env: dict[str, str], objs: Path) -> None:
    p = plan("gcc", "-o", "app", "main.o", env=dict(env, LINKPOOL_CHECK_OUTPUT="1"), cwd=objs)
    assert p.action == "python"
    p = plan("gcc", "-o", "app", "main.o",
             env=dict(env, LINKPOOL_CHECK_OUTPUT="1", LINKPOOL_DISABLE="output-check"), cwd=objs)
    assert p.action == "run"


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
DECIDER = '''
import pluggy

hookimpl = pluggy.HookimplMarker("linkpool")


@hookimpl
def linkpool_before_acquire(job):
    return False
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


HOLDER = '''
import pluggy

hookimpl = pluggy.HookimplMarker("linkpool")


@hookimpl
def linkpool_after_acquire(job, waited):
    pass
'''


def test_a_plugin_that_decides_is_asked_each_link(tmp_path: Path, env: dict[str, str],
                                                  objs: Path) -> None:
    """A third-party plugin that decides (here a veto in before_acquire) decides in the
    plan of each link: the plan is not stored; one that acts while the slots are held
    (after_acquire) makes the link Python's."""
    holder = plugin_folder(tmp_path, "holder", HOLDER)
    p = plan("gcc", "-o", "app", "main.o", env=dict(env, LINKPOOL_PLUGIN_PATH=str(holder)),
             cwd=objs)
    assert p.action == "python" and not cached(env)
    decider = plugin_folder(tmp_path, "decider", DECIDER)
    watcher = plugin_folder(tmp_path, "watch", WATCHER)
    p = plan("gcc", "-o", "app", "main.o", env=dict(env, LINKPOOL_PLUGIN_PATH=str(decider)),
             cwd=objs)
    assert p.action == "exec" and not cached(env)  # vetoed: run bare, asked again next time
    p = plan("gcc", "-o", "app", "main.o", env=dict(env, LINKPOOL_PLUGIN_PATH=str(decider),
                                                    LINKPOOL_DISABLE="decider"), cwd=objs)
    assert p.action == "run"
    # one that only watches: the front door runs the link, its after_link comes with the fold
    p = plan("gcc", "-o", "app", "main.o", env=dict(env, LINKPOOL_PLUGIN_PATH=str(watcher)),
             cwd=objs)
    assert p.action == "run"
    assert f"{watcher}" in {v.split(" ", 5)[5] for v in p.all("stat")}


def test_a_veto_of_before_acquire_runs_the_command_bare(tmp_path: Path, objs: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """No third-party plugin may veto in a plan (it makes the link Python's, above): the
    veto's plan is the engine's own answer, seen here with a plugin registered in the
    engine's plugin manager as if it were a built-in."""
    from linkpool import hooks
    from linkpool.engine import Engine
    from linkpool.hookspecs import hookimpl
    from linkpool.settings import resolve

    class Veto:
        @staticmethod
        @hookimpl
        def linkpool_before_acquire(job: Any) -> bool:
            return False

    monkeypatch.chdir(objs)
    settings = resolve({"pool": str(make_pool(tmp_path / "pool", 2))})
    engine = Engine(["gcc", "-o", "app", "main.o"], settings)
    engine.hooks = hooks.load(settings)
    engine.hooks.register(Veto, "veto")
    # a third-party plugin that decides makes the link Python's (above): here the veto
    # stands for a built-in's, to see the planner's answer to it
    monkeypatch.setattr(hooks, "deciding", lambda manager, hooks=None: [])
    planner = plans.Planner()
    assert planner.plan(engine) == 0 and planner.made is not None
    made = planner.made
    assert made.action == "exec" and made.reusable
    assert [os.fsdecode(v) for v in made.get("arg")] == ["gcc", "-o", "app", "main.o"]


# -- the cache ------------------------------------------------------------------------------


def test_the_cache_is_never_written_through_a_symlink_or_a_folder_not_ours(
        tmp_path: Path, env: dict[str, str], objs: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    cache = Path(env["XDG_CACHE_HOME"])
    cache.mkdir()
    (cache / "linkpool").symlink_to(elsewhere)
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    # (the plugin table of linkpool.hooks may go there: a folder only we can write)
    assert p.action == "run" and not (elsewhere / "plans").exists()
    (cache / "linkpool").unlink()
    (cache / "linkpool").mkdir(mode=0o700)
    (cache / "linkpool" / "plans").symlink_to(elsewhere)
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert not (elsewhere / "plans").exists() and \
        [f.name for f in elsewhere.iterdir()] in ([], ["plugins.json"])
    (cache / "linkpool" / "plans").unlink()
    os.chmod(cache / "linkpool", 0o770)  # writable by its group: refused
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert not (cache / "linkpool" / "plans").exists()
    os.chmod(cache / "linkpool", 0o700)
    if os.geteuid() == 0:  # another user's folder
        os.chown(cache / "linkpool", 65534, 65534)
        p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
        assert not (cache / "linkpool" / "plans").exists()
        os.chown(cache / "linkpool", os.geteuid(), os.getegid())
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert stored(env, p).read_bytes() == p.data
    # no cache at all: no XDG_CACHE_HOME, HOME not absolute
    bare = {k: v for k, v in env.items() if k != "XDG_CACHE_HOME"}
    p = plan("gcc", "-o", "app", "main.o", env=dict(bare, HOME="relative"), cwd=objs)
    assert p.action == "run" and not (objs / "relative").exists()


def test_the_cache_is_made_private_whatever_the_umask(tmp_path: Path, env: dict[str, str],
                                                      objs: Path) -> None:
    code = ("import os, sys\nos.umask(0o277)\n"
            "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n")
    r, w = os.pipe()
    subprocess.run([sys.executable, "-c", code, "-I", LINKPOOL_PY, f"--plan={w}", "gcc",
                    "-o", "app", "main.o"], pass_fds=(w,), env=env, cwd=objs, check=True)
    os.close(w)
    data = os.read(r, 1 << 20)
    os.close(r)
    (path,) = cached(env)
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700


def test_a_plan_from_a_removed_working_directory_is_not_stored(
        tmp_path: Path, env: dict[str, str], objs: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (f"import os, sys\nos.chdir({str(gone)!r})\nos.rmdir({str(gone)!r})\n"
            "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n")
    r, w = os.pipe()
    subprocess.run([sys.executable, "-c", code, "-I", LINKPOOL_PY, f"--plan={w}", "gcc",
                    "-o", f"{objs}/app", f"{objs}/main.o"], pass_fds=(w,), env=env, check=True)
    os.close(w)
    _, fields = plans.decode(os.read(r, 1 << 20))
    os.close(r)
    assert dict(fields)[b"action"] == b"run" and cached(env) == []


def test_a_stale_entry_is_described_and_replanned(tmp_path: Path, env: dict[str, str],
                                                  objs: Path) -> None:
    first = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert holds(first)
    # a config file appears where there was none: the plan no longer holds
    config = Path(env["XDG_CONFIG_HOME"]) / "linkpool" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("quiet = true\n")
    assert not holds(first)
    second = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert holds(second) and second.one("quiet") == "1"
    st = config.stat()
    assert f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns // 10**9} " \
           f"{st.st_mtime_ns % 10**9} {config}" in second.all("stat")
    assert stored(env, second).read_bytes() == second.data  # the same key, replaced
    # the pool resized: its pool.json is another file
    lp("init", "--pool", env["LINKPOOL_DIR"], "--slots", "3", check=True)
    assert not holds(second)
    third = plan("run", "--weight", "3", "--", "gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert holds(third) and third.one("weight") == "3" and third.err == ""
    # a response file the command reads changed
    (objs / "args.rsp").write_text("-o app main.o\n")
    rsp = plan("gcc", "@args.rsp", env=env, cwd=objs)
    assert holds(rsp) and json.loads(rsp.one("record"))["output"] == str(objs / "app")
    (objs / "args.rsp").write_text("-c main.c\n")
    assert not holds(rsp)
    assert plan("gcc", "@args.rsp", env=env, cwd=objs).action == "exec"


def test_without_linkpool_the_plan_runs_the_command_bare(tmp_path: Path, objs: Path) -> None:
    """A Python that cannot import linkpool: the launcher itself writes the plan that runs
    the command unchanged, after one warning line."""
    base = os.path.realpath(os.path.join(sys.base_prefix, "bin", "python3"))
    if subprocess.run([base, "-I", "-c", "import linkpool"], capture_output=True).returncode == 0:
        pytest.skip("the base interpreter has linkpool")
    env = dict(os.environ, LINKPOOL_DIR="/p")
    p = plan("run", "--pool", "x", "--", "gcc", "-o", "app", "main.o", env=env, cwd=objs,
             python=base)
    assert p.code == 0 and p.action == "exec"
    assert p.command() == ["gcc", "-o", "app", "main.o"]
    assert p.key == plans.key(os.geteuid(), str(objs),
                              ["run", "--pool", "x", "--", "gcc", "-o", "app", "main.o"], env)
    assert p.err.startswith("linkpool: warning: cannot start (ModuleNotFoundError")
    assert p.err.count("\n") == 1
    p = plan("run", "--quiet", env=env, cwd=objs, python=base)
    assert (p.action, p.one("status")) == ("exit", "2")


# -- the record spool -----------------------------------------------------------------------


def spool_line(p: Planned, **measured: Any) -> bytes:
    """The RECORD line the front door appends after running the plan ``p``."""
    entry = {"v": 1, "pool": p.one("pool"), "job": "JOB", "time": 1700000001.5,
             "admitted": 1700000000.0, "slots": [0], "weight": 1, "threads": None,
             "tokens": None, "wait_s": 0.25, "run_s": 1.25, "tail_s": 0.0, "cpu_s": 1.0,
             "max_rss_kb": 2048, "anon_peak_kb": 1024, "exit": 0, "busy": False, "pid": 1}
    entry.update(measured)
    text = json.dumps(entry, separators=(",", ":"))
    return text.replace('"JOB"', p.one("record")).encode() + b"\n"


def records(env: dict[str, str]) -> list[dict[str, Any]]:
    out = lp("history", "--pool", env["LINKPOOL_DIR"], "--json", env=env, check=True).stdout
    return json.loads(out)


def test_the_spool_is_folded_into_the_history_and_after_link(
        tmp_path: Path, env: dict[str, str], objs: Path) -> None:
    watcher = plugin_folder(tmp_path, "watch", WATCHER)
    log = tmp_path / "watch.log"
    env = dict(env, LINKPOOL_PLUGIN_PATH=str(watcher), LP_WATCH_LOG=str(log))
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert p.action == "run"
    spool = Path(env["XDG_CACHE_HOME"]) / "linkpool" / "records"
    lines = [spool_line(p, exit=-9, run_s=0.5, slots=[1], admitted=1699999990.0),
             b"garbage\n",
             b'{"v":1,"pool":"relative","job":{}}\n',
             b'{"v":2}\n',
             spool_line(p, exit=-9, run_s=0.5, slots=[1], admitted=1700000010.0)[:40] + b"\n",
             b"\xff\xfe not utf-8\n",
             spool_line(p),
             spool_line(p, weight="2")]
    with open(spool, "ab") as f:
        f.write(b"".join(lines) + b'{"v":1,"torn')
    # the front door wrote the history itself: the fold adds no line to it
    assert records(env) == [] and not spool.exists()
    first = History(env["LINKPOOL_DIR"]).last(str(objs / "app"))  # the output's last record
    assert first is not None
    assert {k: first[k] for k in ("output", "cwd", "kind", "linker", "weight", "exit",
                                  "wait_s", "run_s", "tail_s", "cpu_s", "max_rss_kb",
                                  "anon_peak_kb", "slots", "admitted", "command")} == \
        {"output": str(objs / "app"), "cwd": str(objs), "kind": "link", "linker": "bfd",
         "weight": 1, "exit": 0, "wait_s": 0.25, "run_s": 1.25, "tail_s": 0.0, "cpu_s": 1.0,
         "max_rss_kb": 2048, "anon_peak_kb": 1024, "slots": [0], "admitted": 1700000000.0,
         "command": ["gcc", "-o", "app", "main.o"]}
    assert first["time"] == 1700000001.25 and first["estimate"]["source"] == "inputs"
    # the output's last record is the next link's estimate: the plan changes once
    assert not holds(p)
    again = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert json.loads(again.one("record"))["estimate"]["source"] == "history"
    assert not any(a.endswith(".json") for a in again.all("absent"))
    # after_link of the plugin that watches, in the folding process, its words to /dev/null
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(c["status"], c["slots"], c["weight"], c["kind"], c["linker"]) for c in calls] == \
        [(137, [1], 1, "link", "bfd"), (0, [0], 1, "link", "bfd")]
    assert calls[1]["output"] == str(objs / "app") and calls[1]["run_s"] == 1.25
    # a second fold finds nothing
    assert records(env) == [] and len(log.read_text().splitlines()) == 2


@pytest.mark.skipif(CORES != 2, reason="the thread counts are those of 2 CPUs")
def test_the_fold_teaches_the_policy(tmp_path: Path, big: Path) -> None:
    """Links the policy planned fold what they measured into its summary: a lone one (the
    front door saw nobody) and one that met another (busy); a link folded with one that
    ran during it met it whichever is folded first."""
    p, env = lld_plan(tmp_path, big)
    spool = Path(env["XDG_CACHE_HOME"]) / "linkpool" / "records"
    spool.write_bytes(
        spool_line(p, weight=2, threads=2, slots=[0, 1], busy=False, cpu_s=2.0) +
        spool_line(p, weight=1, threads=2, busy=True, admitted=1700000100.0) +
        spool_line(p, weight=1, threads=2, busy=False, admitted=1700000200.0) +
        spool_line(p, weight=1, threads=2, busy=False, admitted=1700000200.5, slots=[1]))
    # the fold comes with the next plan
    again = plan("gcc", "-fuse-ld=lld", "-o", str(tmp_path / "app"), "big.o", env=env, cwd=big)
    assert again.action == "run" and not spool.exists()
    history = History(env["LINKPOOL_DIR"])
    (summary,) = [f for f in (Path(env["LINKPOOL_DIR"]) / "policy").glob("lld*.json")]
    stats = json.loads(summary.read_text())
    assert stats["2"]["an"] == 1 and stats["2"]["sn"] == 3
    recent = history.summary("recent")["recent"]
    assert len(recent) == 4 and recent[0] == [1699999999.75, 1700000001.25]


def test_a_spool_left_by_a_folder_that_died_is_folded(tmp_path: Path, env: dict[str, str],
                                                      objs: Path) -> None:
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    cache = Path(env["XDG_CACHE_HOME"]) / "linkpool"
    child = subprocess.Popen(["true"])
    child.wait()
    (cache / f"records.{child.pid}.0").write_bytes(spool_line(p))
    alive = cache / f"records.{os.getpid()}"  # a live folder's: not ours to take
    alive.write_bytes(spool_line(p))
    records(env)
    assert History(env["LINKPOOL_DIR"]).last(str(objs / "app")) is not None
    assert alive.exists() and not (cache / f"records.{child.pid}.0").exists()
    foreign = cache / "records"
    foreign.symlink_to(alive)  # never followed
    records(env)
    assert alive.exists()


@pytest.mark.parametrize("command", ["status", "stats", "trace", "report"])
def test_the_readers_fold_first(tmp_path: Path, env: dict[str, str], objs: Path,
                                command: str) -> None:
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    spool = Path(env["XDG_CACHE_HOME"]) / "linkpool" / "records"
    spool.write_bytes(spool_line(p))
    extra = {"trace": ["--output", str(tmp_path / "t.json")],
             "report": ["--output", str(tmp_path / "r.svg")]}.get(command, [])
    lp(command, "--pool", env["LINKPOOL_DIR"], *extra, env=env, check=True)
    assert not spool.exists()
    record = History(env["LINKPOOL_DIR"]).last(str(objs / "app"))
    assert record is not None and record["run_s"] == 1.25


LATE = '''
import os

import pluggy

hookimpl = pluggy.HookimplMarker("linkpool")


@hookimpl
def linkpool_after_link(job, result):
    """Once: what a front door that opened the spool before it was taken writes later,
    into the file taken."""
    line = os.environ["LP_LATE_LINE"]
    if os.path.exists(line):
        taken = os.path.join(os.environ["XDG_CACHE_HOME"], "linkpool",
                             f"records.{os.getpid()}.0")
        with open(line, "rb") as f, open(taken, "ab") as out:
            out.write(f.read())
        os.unlink(line)
'''


def test_a_record_written_into_the_spool_while_it_is_folded_is_folded(
        tmp_path: Path, env: dict[str, str], objs: Path) -> None:
    late = plugin_folder(tmp_path, "late", LATE)
    env = dict(env, LINKPOOL_PLUGIN_PATH=str(late), LP_LATE_LINE=str(tmp_path / "late"))
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    (tmp_path / "late").write_bytes(spool_line(p, admitted=1700000050.0, slots=[1]))
    spool = Path(env["XDG_CACHE_HOME"]) / "linkpool" / "records"
    spool.write_bytes(spool_line(p))
    records(env)
    recent = History(env["LINKPOOL_DIR"]).summary("recent")["recent"]
    assert len(recent) == 2  # both folded
    assert History(env["LINKPOOL_DIR"]).last(str(objs / "app"))["slots"] == [1]
    assert not (tmp_path / "late").exists() and not spool.exists()
    assert not list(spool.parent.glob("records*"))


def test_the_plans_are_pruned_to_the_most_kept(tmp_path: Path) -> None:
    """The cache keeps at most MAX_PLANS plans: the oldest go first."""
    folder = tmp_path / "plans"
    folder.mkdir()
    for i in range(12):
        (folder / f"{i:016x}").write_bytes(b"lpplan1\n")
        os.utime(folder / f"{i:016x}", (1000 + i, 1000 + i))
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        old = plans.MAX_PLANS
        plans.MAX_PLANS = 5
        plans.prune(fd)
    finally:
        plans.MAX_PLANS = old
        os.close(fd)
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:016x}" for i in range(7, 12)]
