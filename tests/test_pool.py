"""The pool's Python API, its files, and what it refuses: real files, real locks."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import linkpool
from linkpool.pool import Pool, PoolBroken, PoolError, Timeout, WeightError

from conftest import lp, make_pool, status


def test_hold_is_a_context_manager_on_the_default_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with linkpool.hold(1) as lease:
        path = tmp_path / "linkpool"
        assert lease.pool.path == str(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        assert status(path)["holders"][0]["pid"] == os.getpid()
    assert status(path)["holders"] == []


def test_fallback_default_is_tmp_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert linkpool.pool.default_path() == f"/tmp/linkpool-{os.geteuid()}"


def test_a_new_pool_gets_the_machine_capacity(tmp_path: Path) -> None:
    from linkpool.capacity import default_slots, read_machine

    with Pool.open(str(tmp_path / "p")) as pool:
        assert pool.slots == default_slots(read_machine())
    conf = json.loads((tmp_path / "p" / "pool.json").read_text())
    assert conf == {"protocol": 1, "slots": pool.slots, "shared": False}


def test_acquire_release_and_weights(tmp_path: Path) -> None:
    with Pool.open(str(tmp_path / "p"), default_slots=3) as pool:
        a = pool.acquire(2)
        assert len(a.fds) == 2 and a.indices == [0, 1]
        with pytest.raises(Timeout):
            pool.acquire(2, timeout=0.2)
        b = pool.acquire(1, timeout=1)
        assert b.indices == [2]
        a.release()
        with pool.acquire(2, timeout=1) as c:
            assert c.indices == [0, 1]
        b.release()
        with pool.acquire(4, timeout=1) as d:  # more than the pool has: all of it
            assert d.indices == [0, 1, 2]
        with pytest.raises(WeightError):
            pool.acquire(0)


def test_timeout_in_a_thread_polls_instead_of_sigalrm(tmp_path: Path) -> None:
    pool = Pool.open(str(tmp_path / "p"), default_slots=1)
    lease = pool.acquire(1)
    errors: list[BaseException] = []

    def other() -> None:
        try:
            Pool.open(pool.path).acquire(1, timeout=0.3)
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=other)
    start = time.monotonic()
    t.start()
    t.join(10)
    assert isinstance(errors[0], Timeout)
    assert time.monotonic() - start < 3
    lease.release()


def test_identity_and_status_show_holders_and_waiters(tmp_path: Path) -> None:
    pool = Pool.open(str(tmp_path / "p"), default_slots=2)
    lease = pool.acquire(2, identity={"command": ["ld", "-o", "big"]})
    st = pool.status()
    assert st["slots"] == 2 and st["in_use"] == 2 and st["waiting"] == 0
    (h,) = st["holders"]
    assert (h["pid"], h["weight"], h["command"]) == (os.getpid(), 2, ["ld", "-o", "big"])
    assert h["since"] <= time.time()
    lease.release()


def test_human_status_is_a_table(tmp_path: Path) -> None:
    import subprocess

    pool = make_pool(tmp_path / "p", 1)
    with Pool.open(str(pool)) as p, p.acquire(1, identity={"command": ["g++", "-o", "app"]}):
        w = subprocess.Popen(["linkpool", "run", "--pool", str(pool), "--weight", "1", "--",
                              "true"])
        deadline = time.monotonic() + 20
        while status(pool)["waiting"] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        out = lp("status", "--pool", str(pool), check=True).stdout
    assert w.wait(timeout=20) == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"pool {pool}: 1 slots, 1 in use, 1 waiting (wakes by inotify")
    assert any(line.startswith("HOLDERS") and "PID" in line for line in lines)
    assert any("g++ -o app" in line and str(os.getpid()) in line for line in lines)
    assert any(line.startswith("WAITING") for line in lines)
    assert any(line.rstrip().endswith("  true") for line in lines)


def test_slot_files_are_never_deleted(tmp_path: Path) -> None:
    pool = Pool.open(str(tmp_path / "p"), default_slots=2)
    with pool.acquire(2):
        pass
    names = sorted(os.listdir(pool.path))
    assert names == ["pool.json", "queue.lock", "slot.0", "slot.1"]


def test_dead_tickets_are_cleared_by_the_next_waiter(tmp_path: Path) -> None:
    pool = Pool.open(str(tmp_path / "p"), default_slots=1)
    (Path(pool.path) / "wait.7").write_text("{}")  # left by a waiter that was SIGKILLed
    with pool.acquire(1, timeout=2):
        pass
    assert not (Path(pool.path) / "wait.7").exists()


# -- refusals ------------------------------------------------------------------------------------


def test_symlinked_pool_dir_is_refused(tmp_path: Path) -> None:
    real = make_pool(tmp_path / "real", 1)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(PoolBroken, match="is a symlink"):
        Pool.open(str(link))
    r = lp("status", "--pool", str(link))
    assert r.returncode == 1 and r.stderr.startswith("linkpool: pool path")
    assert r.stderr.count("\n") == 1


def test_symlinked_slot_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (pool / "slot.0").unlink()
    (pool / "slot.0").symlink_to(victim)
    with pytest.raises(PoolBroken, match=r"slot\.0 is a symlink"):
        Pool.open(str(pool)).acquire(1)
    assert victim.read_text() == "precious"


def test_pool_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to chown the pool to another user")
    pool = make_pool(tmp_path / "p", 1)
    os.chown(pool, 65534, 65534)
    with pytest.raises(PoolBroken, match="owned by uid 65534"):
        Pool.open(str(pool))


def test_group_writable_private_pool_is_refused(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    pool.chmod(0o770)
    with pytest.raises(PoolBroken, match="writable by others"):
        Pool.open(str(pool))


def test_slot_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    (pool / "slot.0").unlink()
    (pool / "slot.0").mkdir()
    with pytest.raises(PoolBroken, match=r"slot\.0 is a directory"):
        Pool.open(str(pool)).acquire(1)


def test_broken_pool_fails_open_with_one_warning_or_closed_when_strict(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    (pool / "pool.json").write_text("{not json")
    out = tmp_path / "out"
    r = lp("run", "--pool", str(pool), "--", "sh", "-c", f"echo done > {out}; exit 3")
    assert r.returncode == 3 and out.read_text() == "done\n"
    assert r.stderr.startswith("linkpool: warning: ") and r.stderr.count("\n") == 1
    assert "running the command without the pool" in r.stderr
    out.unlink()
    r = lp("run", "--strict", "--pool", str(pool), "--", "touch", str(out))
    assert r.returncode == 69 and not out.exists()
    assert r.stderr.startswith("linkpool: ") and "corrupt" in r.stderr
    r = lp("run", "--pool", str(pool), "--", "true", env={**os.environ, "LINKPOOL_STRICT": "1"})
    assert r.returncode == 69
    # init repairs it
    lp("init", "--pool", str(pool), "--slots", "2", check=True)
    assert status(pool)["slots"] == 2


def test_unwritable_pool_location_fails_open(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = lp("run", "--pool", str(blocker / "pool"), "--", "echo", "ran")
    assert r.returncode == 0 and r.stdout == "ran\n"
    assert r.stderr.startswith("linkpool: warning: cannot use pool")


def test_newer_protocol_is_refused(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    (pool / "pool.json").write_text('{"protocol": 99, "slots": 1}')
    with pytest.raises(PoolBroken, match="protocol 99"):
        Pool.open(str(pool))


def test_slots_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(PoolError):
        Pool.open(str(tmp_path / "p"), default_slots=0)
    r = lp("init", "--pool", str(tmp_path / "q"), "--slots", "0")
    assert r.returncode == 2 and r.stderr.startswith("linkpool: init: argument --slots: takes")


# -- init -------------------------------------------------------------------------------------


def test_init_creates_resizes_and_reports(tmp_path: Path) -> None:
    path = tmp_path / "p"
    assert lp("init", "--pool", str(path), "--slots", "2", check=True).stdout == \
        f"pool {path} (from --pool): created with 2 slots (private)\n"
    assert lp("init", "--pool", str(path), check=True).stdout == \
        f"pool {path} (from --pool): has 2 slots (private)\n"
    assert lp("init", "--pool", str(path), "--slots", "5", check=True).stdout == \
        f"pool {path} (from --pool): resized from 2 to 5 slots\n"
    assert status(path)["slots"] == 5


def test_messages_about_a_pool_say_where_its_path_came_from(tmp_path: Path) -> None:
    """A pool named by $LINKPOOL_DIR or a config file is one the user may not know they
    chose: every line about it names the source (the default pool needs none)."""
    env = {**os.environ, "LINKPOOL_DIR": str(tmp_path / "env")}
    r = lp("init", env=env)
    assert r.stdout.startswith(f"pool {tmp_path / 'env'} (from $LINKPOOL_DIR): created with ")
    config = tmp_path / "config.toml"
    config.write_text(f'pool = "{tmp_path / "conf"}"\n')
    r = lp("init", env={**os.environ, "LINKPOOL_CONFIG": str(config)})
    assert r.stdout.startswith(f"pool {tmp_path / 'conf'} (from {config}): created with ")
    # a pool that cannot be used: init and status fail, a link warns and runs without it
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {**os.environ, "LINKPOOL_DIR": str(blocker)}
    for command in (["init"], ["status"], ["history"], ["stats"]):
        r = lp(*command, env=env)
        assert r.returncode == 1 and r.stderr == (
            f"linkpool: pool path {blocker} (from $LINKPOOL_DIR) is not a directory; remove "
            f"it or choose another --pool\n"), command
    r = lp("run", "--", "echo", "ran", env=env)
    assert r.returncode == 0 and r.stdout == "ran\n"
    assert r.stderr == (f"linkpool: warning: pool path {blocker} (from $LINKPOOL_DIR) is not "
                        f"a directory; remove it or choose another --pool; running the command "
                        f"without the pool\n")
    below = {**os.environ, "LINKPOOL_DIR": str(blocker / "pool")}
    r = lp("echo", "ran", env=below)
    assert r.returncode == 0 and r.stderr.startswith(
        f"linkpool: warning: cannot use pool {blocker / 'pool'} (from $LINKPOOL_DIR): ")
    (tmp_path / "env" / "pool.json").write_text("{corrupt")
    r = lp("run", "--strict", "--", "true", env={**os.environ,
                                                  "LINKPOOL_DIR": str(tmp_path / "env")})
    assert r.returncode == 69 and r.stderr.startswith(
        f"linkpool: pool {tmp_path / 'env'} (from $LINKPOOL_DIR): {tmp_path / 'env'}/pool.json "
        f"is corrupt; ")


def test_pool_from_environment_and_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "config.toml"
    conf.write_text(f'pool = "{tmp_path / "from-config"}"\n')
    monkeypatch.setenv("LINKPOOL_CONFIG", str(conf))
    lp("run", "--", "true", check=True)
    assert (tmp_path / "from-config" / "pool.json").exists()
    monkeypatch.setenv("LINKPOOL_DIR", str(tmp_path / "from-env"))
    lp("run", "--", "true", check=True)
    assert (tmp_path / "from-env" / "pool.json").exists()
    lp("run", "--pool", str(tmp_path / "from-cli"), "--", "true", check=True)
    assert (tmp_path / "from-cli" / "pool.json").exists()
    conf.write_text("pool = [")
    monkeypatch.delenv("LINKPOOL_DIR")
    r = lp("status")
    assert r.returncode == 2 and r.stderr.startswith(f"linkpool: config {conf} is not valid TOML")


def test_shared_pool_is_sticky_and_its_slots_open_to_all(tmp_path: Path) -> None:
    path = tmp_path / "shared"
    out = lp("init", "--shared", str(path), "--slots", "2", check=True).stdout
    assert out == f"pool {path} (from --shared): created with 2 slots (shared)\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o1777
    for i in range(2):
        assert stat.S_IMODE((path / f"slot.{i}").stat().st_mode) == 0o666
    assert json.loads((path / "pool.json").read_text())["shared"] is True
    r = lp("init", "--pool", str(path))
    assert r.returncode == 0
    r = lp("init", "--pool", str(tmp_path / "private"))
    r = lp("init", "--shared", str(tmp_path / "private"))
    assert r.returncode == 1 and "already exists as a private pool" in r.stderr


def test_status_watch_refreshes_until_ctrl_c(tmp_path: Path) -> None:
    import signal
    import subprocess

    pool = make_pool(tmp_path / "p", 1)
    for args, marker in ((["--json"], '"slots": 1'), ([], "pool ")):
        p = subprocess.Popen(["linkpool", "status", "--pool", str(pool), "--watch", "0.1",
                              *args], stdout=subprocess.PIPE, text=True)
        assert p.stdout is not None
        seen: list[str] = []
        while len(seen) < 2:  # two refreshes
            line = p.stdout.readline()
            assert line, "status --watch stopped by itself"
            if marker in line:
                seen.append(line)
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 0


def test_holders_in_another_pid_namespace_are_marked(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to make a pid namespace")
    pool = make_pool(tmp_path / "p", 1)
    flag = tmp_path / "go"
    holder = subprocess.Popen(["unshare", "--pid", "--fork", "linkpool", "run", "--pool",
                               str(pool), "--", "sh", "-c",
                               f"while [ ! -e {flag} ]; do sleep 0.02; done"])
    deadline = time.monotonic() + 20
    while not status(pool)["holders"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    out = lp("status", "--pool", str(pool), check=True).stdout
    flag.touch()
    assert holder.wait(timeout=20) == 0
    assert "* in another pid namespace" in out
    assert any(line.split()[0].endswith("*") for line in out.splitlines()
               if line.rstrip().endswith("done")), out


# -- what opening a pool costs ---------------------------------------------------------------


def test_opening_a_pool_asks_capacity_only_when_making_one(tmp_path: Path) -> None:
    """pool.py knows nothing of capacity, except for the N of a pool it makes itself."""
    existing = make_pool(tmp_path / "old", 2)
    code = (
        "import sys\nfrom linkpool.pool import Pool\n"
        f"Pool.open({str(existing)!r}).acquire(1).release()\n"
        f"Pool.open({str(tmp_path / 'given')!r}, default_slots=3).close()\n"
        "print('linkpool.capacity' in sys.modules)\n"
        f"Pool.open({str(tmp_path / 'new')!r}).close()\n"
        "print('linkpool.capacity' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


def test_acquiring_loads_only_the_pools_rooms(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    code = (
        "import sys\nfrom linkpool.pool import Pool\n"
        f"Pool.open({str(pool)!r}).acquire(1).release()\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('linkpool'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["linkpool", "linkpool.pool", "linkpool.pooldir", "linkpool.strictjson",
                   "linkpool.waiting"]
