"""Plans for the C front door (linkpool.plans), driven as the front door drives them:
`python -I linkpool-py --plan=FD ARGS...` with the write end of a pipe as FD, the plan read
from the pipe, the cache as real files. The fold of the record spool is
tests/test_spool.py's; the cache folder's rules are tests/test_cache.py's."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from linkpool import plans

from conftest import (
    CORES,
    LINKPOOL_PY,
    WATCHER,
    cached,
    holds,
    lld_plan,
    lp,
    make_pool,
    plan,
    plan_big,
    plan_env,
    plan_objs,
    plugin_folder,
    stored,
)

env, objs, big = plan_env, plan_objs, plan_big  # conftest's fixtures, by this file's names


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


@pytest.mark.skipif(CORES < 2, reason="the plans are made on 2 CPUs of ours: this machine has 1")
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


@pytest.mark.skipif(CORES < 2, reason="the plans are made on 2 CPUs of ours: this machine has 1")
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


DECIDER = '''
import pluggy

hookimpl = pluggy.HookimplMarker("linkpool")


@hookimpl
def linkpool_before_acquire(job):
    return False
'''


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


# -- the plans kept in the cache ------------------------------------------------------------


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
