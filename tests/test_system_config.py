"""The system configuration and `linkpool setup system`, with real users, real processes and
a real mount namespace.

The machine's /etc/xdg is never touched: every system config here sits in a scratch
directory named by $XDG_CONFIG_DIRS, and `setup system` writes under a scratch --root.
Users run a copy of linkpool with the system Python (test_hostile_pools.py's `env`).
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import test_hostile_pools as hostile
from test_hostile_pools import Env

from conftest import LINKPOOL, WITNESS, lp, status, wait_for, witness_log

env = hostile.env  # its fixture of two real users and a copy of linkpool they can run

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not (ROOT and hostile.HAVE_TOOLS and os.path.exists(hostile.SYS_PY)),
    reason="needs root, unshare/setpriv/useradd/mount and /usr/bin/python3")


def system_config(folder: Path, text: str) -> Path:
    """``folder/linkpool/config.toml`` holding ``text``, readable by everyone."""
    (folder / "linkpool").mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    path = folder / "linkpool" / "config.toml"
    path.write_text(text)
    path.chmod(0o644)
    return path


def settings(*args: str, **env: str) -> dict[str, Any]:
    r = lp("config", "--json", *args, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# -- as a user with no config of their own -----------------------------------------------------


def user_env(env: Env, area: Path, who: str, xdg: Path) -> dict[str, str]:
    """What a user with no config of their own has: a home without ~/.config/linkpool, no
    LINKPOOL_* variables, and the (scratch) system config directories."""
    home = area / f"home-{who}"
    home.mkdir(exist_ok=True)
    env.chown(home, who)
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith("LINKPOOL_") and k not in ("XDG_CONFIG_HOME", "XDG_RUNTIME_DIR")}
    return {**keep, "HOME": str(home), "USER": who, "XDG_CONFIG_DIRS": str(xdg)}


def as_user(env: Env, who: str, environ: dict[str, str], *args: str,
            popen: bool = False) -> Any:
    cmd = [*env.prefix(who), env.shim, *args]
    if popen:
        return subprocess.Popen(cmd, cwd="/", text=True, env=environ,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return subprocess.run(cmd, cwd="/", text=True, env=environ, capture_output=True,
                          timeout=60)


@needs_root
def test_two_users_without_config_share_the_system_pool(env: Env, area: Path) -> None:
    pool, seen = hostile.shared_pool(env, area, 2)
    xdg = area / "xdg"
    conf = system_config(xdg, f'pool = "{pool}"\n')
    environs = {who: user_env(env, area, who, xdg) for who in env.users}
    for who in env.users:  # `linkpool config` as each user names the system file
        r = as_user(env, who, environs[who], "config", "--json")
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["config_file"]["exists"] is False
        assert data["config_file"]["path"] == f"{environs[who]['HOME']}/.config/linkpool/" \
                                              f"config.toml"
        assert data["system_files"] == [{"path": str(conf), "exists": True,
                                         "source": "$XDG_CONFIG_DIRS"}]
        assert data["settings"]["pool"] == {"value": str(pool), "origin": "system",
                                            "source": str(conf)}
        r = as_user(env, who, environs[who], "config")
        assert f"pool           {pool}  {conf}" in r.stdout, r.stdout
    procs = []
    for i in range(6):
        for who in env.users:
            procs.append(as_user(env, who, environs[who], "run", "--quiet", "--",
                                 *hostile.witness_for(seen, f"{who}-{i}", 0.15), popen=True))
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    most, entered, done = witness_log(seen)
    assert results == [(0, "")] * 12, results
    assert most <= 2, f"the witness saw {most} inside the 2-slot system pool"
    assert len(entered) == 12 and len(done) == 12
    # every one of those links went through the system pool, none through a private one
    # the records are written once each job has answered, each user's in their own folder
    wait_for(lambda: len(json.loads(lp("history", "--pool", str(pool), "--json",
                                       check=True).stdout)) == 12, what="12 records")
    for who in env.users:
        assert not Path(f"/tmp/linkpool-{pwd.getpwnam(who).pw_uid}").exists()


@needs_root
def test_doctor_as_a_user_says_shared_or_private_and_why(env: Env, area: Path) -> None:
    pool, _ = hostile.shared_pool(env, area, 2)
    xdg = area / "xdg"
    conf = system_config(xdg, f'pool = "{pool}"\n')
    who = env.users[0]
    environ = user_env(env, area, who, xdg)

    def sharing(**extra: str) -> tuple[str, str]:
        r = as_user(env, who, {**environ, **extra}, "doctor", "--json")
        data = json.loads(r.stdout)
        found = [(c["level"], c["message"]) for c in data["checks"] if c["check"] == "sharing"]
        assert len(found) == 1, data
        return found[0]

    level, message = sharing()
    assert level == "OK", message
    assert message == f"your links share the machine's pool {pool} (named by the system " \
                      f"config {conf})"
    mine = Path(environ["HOME"]) / "mine"
    level, message = sharing(LINKPOOL_DIR=str(mine))
    assert level == "WARN" and f"a private pool {mine}, not the machine's pool {pool}" in message
    assert "$LINKPOOL_DIR overrides the system config's pool; unset LINKPOOL_DIR" in message
    own = Path(environ["HOME"]) / ".config" / "linkpool" / "config.toml"
    own.parent.mkdir(parents=True)
    own.write_text(f'pool = "{mine}"\n')
    for folder in (own.parent.parent, own.parent, own):
        env.chown(folder, who)
    level, message = sharing()
    assert level == "WARN" and f"your config file {own} sets pool, which overrides the " \
                               f"system config's; remove that line" in message, message
    own.unlink()
    (xdg / "linkpool" / "config.toml").unlink()  # no system config, no /run/linkpool
    level, message = sharing()
    assert level == "OK" and "a private pool" in message
    assert "no system config file names a pool" in message


@needs_root
def test_doctor_finds_the_machines_pool_at_run_linkpool(tmp_path: Path) -> None:
    """No config names a pool, but /run/linkpool exists (in a mount namespace of its own,
    over a tmpfs: the host's /run is untouched); and a system config naming a pool that is
    gone (after a reboot without the boot entry)."""

    def sharing(script: str, **env: str) -> tuple[str, str]:
        r = subprocess.run(["unshare", "--mount", "sh", "-ec",
                            "mount --make-rprivate /\nmount -t tmpfs tmpfs /run\n" + script +
                            f"\nexec {LINKPOOL} doctor --json"],
                           capture_output=True, text=True, env={**os.environ, **env})
        found = [(c["level"], c["message"]) for c in json.loads(r.stdout)["checks"]
                 if c["check"] == "sharing"]
        assert len(found) == 1, r.stdout + r.stderr
        return found[0]

    make = f"{LINKPOOL} init --shared /run/linkpool --slots 1 >/dev/null"
    level, message = sharing(make)
    assert level == "WARN", message
    assert "not the machine's pool /run/linkpool (which exists, but no config file names " \
           "it): ask the administrator to run `linkpool setup system --install`, or write " \
           'pool = "/run/linkpool" in ' in message, message
    level, message = sharing(make, LINKPOOL_DIR="/run/linkpool")
    assert (level, message) == ("OK", "your links share the machine's pool /run/linkpool "
                                      "($LINKPOOL_DIR names it; no system config file does)")
    system_config(tmp_path / "xdg", 'pool = "/run/linkpool"\n')
    level, message = sharing("", XDG_CONFIG_DIRS=str(tmp_path / "xdg"))
    assert level == "WARN" and "but it does not exist" in message, message
    assert "`linkpool setup system --install --pool /run/linkpool`" in message


# -- precedence ------------------------------------------------------------------------------


def test_user_file_overrides_the_system_file_and_the_environment_both(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys_conf = system_config(tmp_path / "xdg", f'pool = "{tmp_path / "system"}"\n'
                                               f'memory_budget = 0.5\nstrict = true\n'
                                               f'disable = ["threads"]\nsys_key = 1\n')
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    for name in ("LINKPOOL_DISABLE", "LINKPOOL_QUIET", "LINKPOOL_MEMORY_BUDGET"):
        monkeypatch.delenv(name, raising=False)
    s = settings()["settings"]
    assert s["pool"] == {"value": str(tmp_path / "system"), "origin": "system",
                         "source": str(sys_conf)}
    r = lp("run", "--", "true")  # the run agrees: the system pool is made and used
    assert r.returncode == 0 and r.stderr == "" and (tmp_path / "system" / "pool.json").exists()
    user = tmp_path / "user.toml"
    user.write_text(f'pool = "{tmp_path / "user"}"\ndisable = ["history"]\nuser_key = 2\n')
    monkeypatch.setenv("LINKPOOL_CONFIG", str(user))
    data = settings()
    s = data["settings"]
    assert s["pool"] == {"value": str(tmp_path / "user"), "origin": "file", "source": str(user)}
    # a key only the system file sets still counts, with that file as its source
    assert s["memory_budget"] == {"value": 0.5, "origin": "system", "source": str(sys_conf)}
    assert s["strict"] == {"value": True, "origin": "system", "source": str(sys_conf)}
    assert s["disable"] == {"value": ["history"], "origin": "file", "source": str(user)}
    assert data["other_keys"] == ["sys_key", "user_key"]
    r = lp("run", "--", "true")
    assert r.returncode == 0 and (tmp_path / "user" / "pool.json").exists()
    monkeypatch.setenv("LINKPOOL_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("LINKPOOL_MEMORY_BUDGET", "0.25")
    s = settings()["settings"]
    assert s["pool"] == {"value": str(tmp_path / "env"), "origin": "env",
                         "source": "$LINKPOOL_DIR"}
    assert s["memory_budget"]["origin"] == "env"
    s = settings("--pool", str(tmp_path / "cli"))["settings"]
    assert s["pool"]["source"] == "--pool"


def test_order_among_several_system_directories(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    first = system_config(tmp_path / "first", 'pool = "pools/one"\n')
    second = system_config(tmp_path / "second", 'pool = "/elsewhere"\nquiet = true\n')
    monkeypatch.delenv("LINKPOOL_QUIET", raising=False)
    monkeypatch.chdir(tmp_path)
    # relative entries are invalid (the XDG spec) and ignored; a repeat counts once
    monkeypatch.setenv("XDG_CONFIG_DIRS", f"second:{tmp_path / 'first'}/:"
                                          f"{tmp_path / 'second'}:{tmp_path / 'first'}")
    data = settings()
    assert [f["path"] for f in data["system_files"]] == [str(first), str(second)]
    s = data["settings"]
    # the first directory listed wins; its relative pool is taken from its own folder
    assert s["pool"] == {"value": str(tmp_path / "first" / "linkpool" / "pools" / "one"),
                         "origin": "system", "source": str(first)}
    assert s["quiet"] == {"value": True, "origin": "system", "source": str(second)}
    r = lp("config")
    lines = r.stdout.splitlines()
    at = lines.index("system config files, below yours (from $XDG_CONFIG_DIRS; the first "
                     "listed wins):")
    assert lines[at + 1:at + 3] == [f"  {first}", f"  {second}"]
    assert f"pool: 'pools/one' in {first} is relative" in r.stdout
    monkeypatch.setenv("XDG_CONFIG_DIRS", f"{tmp_path / 'second'}:{tmp_path / 'first'}")
    assert settings()["settings"]["pool"]["value"] == "/elsewhere"
    monkeypatch.setenv("XDG_CONFIG_DIRS", "")  # unset or empty: /etc/xdg, as the spec says
    assert [f["path"] for f in settings()["system_files"]] == ["/etc/xdg/linkpool/config.toml"]


def test_a_broken_system_file_is_one_line_and_links_still_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = system_config(tmp_path / "xdg", "pool = [\n")
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    r = lp("config")
    assert r.returncode == 2 and r.stderr.startswith(f"linkpool: config {conf} is not valid TOML")
    assert r.stderr.count("\n") == 1
    out = tmp_path / "out"
    r = lp("run", "--", "sh", "-c", 'echo ran > "$0"; exit 3', str(out))
    assert r.returncode == 3 and out.read_text() == "ran\n"
    assert r.stderr.startswith("linkpool: warning: config ") and r.stderr.count("\n") == 1
    conf.write_text("pool = 3\n")
    r = lp("config")
    assert r.stderr == f"linkpool: {conf}: 'pool' must be a directory path (a string), not 3\n"
    r = lp("doctor", "--json")
    checks = json.loads(r.stdout)["checks"]
    assert any(c["level"] == "FAIL" and str(conf) in c["message"] for c in checks), checks


@needs_root
def test_a_system_file_others_could_change_is_refused(env: Env, area: Path) -> None:
    """It names every user's pool and plugin path: one that another user owns, or that
    anyone may write, is refused (links run, without the pool, after one warning)."""
    xdg = area / "xdg"
    conf = system_config(xdg, f'pool = "{area / "p"}"\n')
    a, b = env.users
    environ = user_env(env, area, a, xdg)
    env.chown(conf, b)
    r = as_user(env, a, environ, "config")
    assert r.returncode == 2 and r.stderr == (
        f"linkpool: config {conf} is owned by uid {env.uid(b)}, not root, so that user could "
        f"change everyone's settings; refused: `chown root {conf}`\n")
    env.chown(conf, "root")
    conf.chmod(0o666)
    out = Path(environ["HOME"]) / "out"
    r = as_user(env, a, environ, "run", "--", "sh", "-c", 'echo ran > "$0"', str(out))
    assert r.returncode == 0 and out.read_text() == "ran\n"
    assert r.stderr.startswith(f"linkpool: warning: config {conf} is writable by anyone")
    assert r.stderr.count("\n") == 1
    conf.chmod(0o644)
    assert as_user(env, a, environ, "config").returncode == 0


# -- linkpool setup system -------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int, int, int]]:
    """Every path under ``root``: its content (files), mtime, mode and owner."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(root))] = (path.read_bytes() if path.is_file() else None,
                                            st.st_mtime_ns, st.st_mode, st.st_uid)
    return out


def setup_system(root: Path, *args: str) -> subprocess.CompletedProcess:
    return lp("setup", "system", "--root", str(root), *args)


def test_setup_system_without_install_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    r = setup_system(root, "--slots", "3")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert list(root.iterdir()) == []
    assert f"pool: {root}/run/linkpool  [to make]" in r.stdout
    assert f"config: {root}/etc/xdg/linkpool/config.toml  [to make]" in r.stdout
    assert f"boot entry: {root}/etc/tmpfiles.d/linkpool.conf  [to make]" in r.stdout
    assert "d /run/linkpool 1777 root root -" in r.stdout
    assert 'pool = "/run/linkpool"' in r.stdout
    assert "nothing written: run `linkpool setup system --install` as root" in r.stdout
    r = lp("setup", "system", "--help")
    assert r.returncode == 0 and "usage: linkpool setup system" in r.stdout
    assert "--install" in r.stdout and "--root DIR" in r.stdout
    r = lp("setup", "system", "--pool", "relative")
    assert r.returncode == 2 and r.stderr == "linkpool: setup system: --pool takes an " \
                                             "absolute path, not 'relative' (see `linkpool " \
                                             "setup system --help`)\n"


@needs_root
def test_setup_system_installs_once_then_changes_nothing(tmp_path: Path, env: Env,
                                                         area: Path) -> None:
    root = area / "root"
    root.mkdir()
    r = setup_system(root, "--install", "--slots", "3")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "done: 5 change(s)" in r.stdout  # pool, boot entry, config, shims, /etc/environment
    pool = root / "run" / "linkpool"
    # the pool is what `linkpool init --shared` makes
    twin = area / "twin"
    assert lp("init", "--shared", str(twin), "--slots", "3").returncode == 0
    for a, b in ((pool, twin), (pool / "pool.json", twin / "pool.json"),
                 (pool / "slot.0", twin / "slot.0")):
        sa, sb = a.stat(), b.stat()
        assert (oct(sa.st_mode), sa.st_uid, sa.st_gid) == (oct(sb.st_mode), sb.st_uid, sb.st_gid)
    assert (pool / "pool.json").read_text() == (twin / "pool.json").read_text()
    assert json.loads((pool / "pool.json").read_text()) == {"protocol": 1, "slots": 3,
                                                            "shared": True}
    config = root / "etc" / "xdg" / "linkpool" / "config.toml"
    from linkpool.configfile import read

    assert read(str(config)) == {"pool": "/run/linkpool"}
    assert oct(config.stat().st_mode) == "0o100644"
    entry = (root / "etc" / "tmpfiles.d" / "linkpool.conf").read_text()
    lines = [line for line in entry.splitlines() if not line.startswith("#")]
    mode = f"{pool.stat().st_mode & 0o7777:04o}"
    assert lines == [f"d /run/linkpool {mode} root root -",
                     f"f /run/linkpool/pool.json 0644 root root - "
                     f"{(pool / 'pool.json').read_text().strip()}\\n",
                     "f /run/linkpool/queue.lock 0666 root root -",
                     *(f"f /run/linkpool/slot.{i} 0666 root root -" for i in range(3))]
    assert mode == "1777"
    before = snapshot(root)
    r = setup_system(root, "--install")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.count("[right]") == 5, r.stdout
    assert "nothing to change: this host is set up already" in r.stdout
    assert snapshot(root) == before
    r = setup_system(root)  # and the dry run agrees
    assert "nothing to change" in r.stdout and snapshot(root) == before
    # users can use it at once, with no warning
    for who in env.users:
        r = env.linkpool(who, "run", "--pool", str(pool), "--", "true")
        assert r.returncode == 0 and r.stderr == "", r.stderr


@needs_root
def test_the_boot_entry_makes_a_pool_every_user_can_use(env: Env, area: Path) -> None:
    """A reboot wipes /run: systemd-tmpfiles, reading only the entry, makes the pool again,
    and another user's first link finds it ready (no warning, the pool's slots)."""
    tmpfiles = shutil.which("systemd-tmpfiles")
    assert tmpfiles, "scripts/setup.sh --test installs systemd-tmpfiles"
    root = area / "root"
    root.mkdir()
    assert setup_system(root, "--install", "--slots", "2").returncode == 0
    pool = root / "run" / "linkpool"
    shutil.rmtree(pool)  # the reboot
    r = subprocess.run([tmpfiles, "--create", f"--root={root}", "linkpool.conf"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert oct(pool.stat().st_mode & 0o7777) == "0o1777" and pool.stat().st_uid == 0
    a, b = env.users
    seen = area / "seen"
    seen.mkdir()
    seen.chmod(0o1777)
    (seen / "log").touch()
    (seen / "log").chmod(0o666)
    procs = [env.popen(who, "run", "--quiet", "--pool", str(pool), "--",
                       *hostile.witness_for(seen, f"{who}{i}", 0.1))
             for i in range(3) for who in (a, b)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert results == [(0, "")] * 6, results
    most, entered, _ = witness_log(seen)
    assert most <= 2 and len(entered) == 6
    assert status(pool)["slots"] == 2 and status(pool)["shared"] is True
    r = setup_system(root)
    assert "nothing to change" in r.stdout, r.stdout


def test_setup_system_keeps_other_keys_and_refuses_what_it_cannot_edit(tmp_path: Path) -> None:
    root = tmp_path / "root"
    config = root / "etc" / "xdg" / "linkpool" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('# the admin\'s\nstrict = true\npool = "/old"  # before\n\n'
                      '[myplugin]\npool = "not this one"\n')
    r = setup_system(root, "--install", "--slots", "1")
    assert r.returncode == 0, r.stderr
    assert config.read_text() == ('# the admin\'s\nstrict = true\npool = "/run/linkpool"\n\n'
                                  '[myplugin]\npool = "not this one"\n')
    assert "(its other keys are kept)" in r.stdout
    config.write_text("quiet = true\n[myplugin]\nlevel = 3\n")  # no pool yet: added on top
    assert setup_system(root, "--install").returncode == 0
    assert config.read_text() == 'pool = "/run/linkpool"\nquiet = true\n[myplugin]\nlevel = 3\n'
    for text, why in (('pool = """\n/x\n"""\n', "cannot safely set the `pool` key"),
                      ("pool = [\n", "is not valid TOML")):
        config.write_text(text)
        before = snapshot(root)
        r = setup_system(root, "--install")
        assert r.returncode == 1 and r.stdout == "", r.stdout
        assert r.stderr.startswith("linkpool: setup system: ") and why in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1
        assert snapshot(root) == before
    # a tmpfiles.d file of someone else's is not overwritten
    config.unlink()
    entry = root / "etc" / "tmpfiles.d" / "linkpool.conf"
    entry.write_text("d /run/linkpool 0755 root root -\n")
    r = setup_system(root, "--install")
    assert r.returncode == 1 and "was not written by `linkpool setup system`" in r.stderr
    assert entry.read_text() == "d /run/linkpool 0755 root root -\n"


def test_setup_system_resizes_refuses_a_private_pool_and_says_what_to_do_at_boot(
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert setup_system(root, "--install", "--slots", "2").returncode == 0
    r = setup_system(root, "--install", "--slots", "4")
    assert "[resized from 2 to 4 slots]" in r.stdout and "[updated]" in r.stdout
    assert status(root / "run" / "linkpool")["slots"] == 4
    assert '"slots":4' in (root / "etc" / "tmpfiles.d" / "linkpool.conf").read_text()
    # no systemd here (no /run/systemd/system): what to run at boot instead
    assert "at boot: no systemd here" in r.stdout
    assert "@reboot root " in r.stdout and "init --shared /run/linkpool --slots 4" in r.stdout
    (root / "run" / "systemd" / "system").mkdir(parents=True)
    r = setup_system(root)
    assert "at boot: systemd" in r.stdout and "systemd-tmpfiles --create" in r.stdout
    assert "@reboot" not in r.stdout
    other = tmp_path / "other"
    assert lp("init", "--pool", str(other / "run" / "linkpool")).returncode == 0
    r = setup_system(other, "--install")
    assert r.returncode == 1 and r.stderr.startswith("linkpool: setup system: pool ")
    assert "already exists as a private pool" in r.stderr and r.stderr.count("\n") == 1
    assert not (other / "etc").exists()


@needs_root
def test_setup_system_install_as_a_user_is_one_line(env: Env) -> None:
    # the users' copy of linkpool has core/ only (test_hostile_pools): add the adapters
    shutil.copytree(hostile.CORE.parent / "integrations", env.base / "lib" / "linkpool" /
                    "integrations", ignore=shutil.ignore_patterns("__pycache__"),
                    dirs_exist_ok=True)
    r = env.linkpool(env.users[0], "setup", "system", "--install")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == "linkpool: setup system --install writes in /run and /etc: run it as " \
                       "root (or with --root DIR to write under DIR)\n"


# -- a container sharing the host's pool -------------------------------------------------------


@needs_root
def test_containers_share_the_hosts_system_pool(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's links find the pool through the system config. Containers (their own
    mount and pid namespaces) have it bind-mounted elsewhere and find it either by
    LINKPOOL_DIR or by a system config of their own at /etc/xdg (as if baked into the
    image: a tmpfs over /etc/xdg inside the namespace, the host's /etc/xdg untouched)."""
    pool = tmp_path / "pool"
    assert lp("init", "--shared", str(pool), "--slots", "1").returncode == 0
    system_config(tmp_path / "xdg", f'pool = "{pool}"\n')
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    seen = tmp_path / "seen"
    seen.mkdir()
    inside = tmp_path / "container-pool"
    inside.mkdir()
    i, p = shlex.quote(str(inside)), shlex.quote(str(pool))
    wit = [sys.executable, WITNESS, str(seen)]
    image = ("mount -t tmpfs tmpfs /etc/xdg\nmkdir /etc/xdg/linkpool\n"
             f"printf 'pool = \"%s\"\\n' {i} > /etc/xdg/linkpool/config.toml\n"
             "unset LINKPOOL_DIR XDG_CONFIG_DIRS\n")
    by_env = f"unset XDG_CONFIG_DIRS\nexport LINKPOOL_DIR={i}\n"

    def container(how: str, then: str, **kw: Any) -> Any:
        script = (f"mount --make-rprivate /\nmount --bind {p} {i}\n"
                  f"{image if how == 'image' else by_env}exec {LINKPOOL} {then}")
        return subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "sh", "-ec", script],
                                stderr=subprocess.PIPE, text=True, **kw)

    def contained(job: str, seconds: float, how: str) -> subprocess.Popen:
        cmd = " ".join(shlex.quote(a) for a in [*wit, job, "1", str(seconds)])
        return container(how, f"run --quiet -- {cmd}")

    first = contained("c0", 1.0, "env")
    wait_for(lambda: witness_log(seen)[1], what="the contained job inside")
    assert status(pool)["in_use"] == 1  # seen from the host, by its own path
    procs = [first]
    for n in range(3):
        procs.append(contained(f"e{n}", 0.1, "env"))
        procs.append(contained(f"i{n}", 0.1, "image"))
        procs.append(subprocess.Popen([LINKPOOL, "run", "--quiet", "--", *wit, f"h{n}", "1",
                                       "0.1"], stderr=subprocess.PIPE, text=True))
    results = [(q.wait(timeout=60), q.stderr.read()) for q in procs]
    assert results == [(0, "")] * 10, results
    most, entered, done = witness_log(seen)
    assert most == 1 and len(entered) == 10 and len(done) == 10
    assert len(json.loads(lp("history", "--pool", str(pool), "--json",
                             check=True).stdout)) == 10
    # inside, doctor says which pool and why: the command deploy.md gives for each recipe
    for how, why in (("env", "$LINKPOOL_DIR"),
                     ("image", "named by the system config /etc/xdg/linkpool/config.toml")):
        q = container(how, "doctor --json", stdout=subprocess.PIPE)
        out, _ = q.communicate(timeout=60)
        sharing = [c for c in json.loads(out)["checks"] if c["check"] == "sharing"]
        assert len(sharing) == 1 and sharing[0]["level"] == "OK", sharing
        assert f"{inside} ({why})" in sharing[0]["message"], sharing


@pytest.fixture
def area(env: Env) -> Path:
    """A fresh directory every user can reach (tmp_path is root's, mode 0700)."""
    d = Path(tempfile.mkdtemp(prefix="s-", dir=env.base))
    d.chmod(0o755)
    return d


# -- the files this project writes -------------------------------------------------------


def test_the_files_this_project_writes_read_back(tmp_path: Path) -> None:
    """The system config `setup system` writes is read as the pool it names; a table is
    read too (tomllib reads every file)."""
    root = tmp_path / "root"
    assert setup_system(root, "--install", "--slots", "1").returncode == 0
    written = root / "etc" / "xdg" / "linkpool" / "config.toml"
    other = tmp_path / "table.toml"
    other.write_text('pool = "/p"\n[myplugin]\nlevel = 3\n')
    from linkpool.configfile import read

    assert read(str(written), True) == {"pool": "/run/linkpool"}
    assert read(str(other)) == {"pool": "/p", "myplugin": {"level": 3}}


# -- the switch: every gcc/clang link of the host through the pool ----------------------------


def test_setup_system_switch_routes_links_and_edits_only_its_line(tmp_path: Path) -> None:
    """--install makes the shims and sets COMPILER_PATH for logins and services (other
    lines of /etc/environment kept); a gcc link with that COMPILER_PATH waits in the pool."""
    root = tmp_path / "root"
    (root / "etc" / "systemd").mkdir(parents=True)
    (root / "etc" / "environment").write_text('LANG="C.UTF-8"')  # no newline at the end
    r = setup_system(root, "--install", "--slots", "2")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    shims = root / "usr" / "local" / "lib" / "linkpool" / "shims"
    assert os.readlink(shims / "ld") == LINKPOOL
    environment = (root / "etc" / "environment").read_text().splitlines()
    assert environment[0] == 'LANG="C.UTF-8"'
    assert environment[-1] == "COMPILER_PATH=/usr/local/lib/linkpool/shims"
    for unit in ("system", "user"):
        conf = (root / "etc" / "systemd" / f"{unit}.conf.d" / "linkpool.conf").read_text()
        assert "[Manager]\nDefaultEnvironment=COMPILER_PATH=/usr/local/lib/linkpool/shims\n" \
            in conf
    again = setup_system(root, "--install")
    assert "nothing to change" in again.stdout, again.stdout

    pool = root / "run" / "linkpool"
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    env = {**os.environ, "COMPILER_PATH": str(shims), "LINKPOOL_DIR": str(pool)}
    done = subprocess.run(["gcc", "-o", "m", "m.c"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    (record,) = json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)
    assert record["output"] == str(tmp_path / "m") and record["kind"] == "link"

    # --no-switch leaves it out; a COMPILER_PATH set to something else is not overwritten
    other = tmp_path / "other"
    (other / "etc").mkdir(parents=True)
    (other / "etc" / "environment").write_text("COMPILER_PATH=/opt/cross/bin\n")
    r = setup_system(other, "--no-switch")
    assert r.returncode == 0 and "shims" not in r.stdout and "COMPILER_PATH" not in r.stdout
    r = setup_system(other, "--install")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "sets COMPILER_PATH=/opt/cross/bin already" in r.stderr
    assert (other / "etc" / "environment").read_text() == "COMPILER_PATH=/opt/cross/bin\n"


def test_the_switch_refuses_a_linkpool_others_could_change(tmp_path: Path) -> None:
    """Every user's links would run the program the shims point at: a folder above it
    that others can write is refused, with what to do."""
    from linkpool.configfile import untrusted  # the one rule (ssh's StrictModes)
    from linkpool.integrations.system import _program_files

    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    (open_dir / "linkpool").write_text("")
    assert untrusted(str(open_dir / "linkpool"))[0] == \
        f"is in {open_dir}, which is writable by anyone"
    open_dir.chmod(0o1777)  # sticky, as /tmp: others cannot replace what is ours
    assert untrusted(str(open_dir / "linkpool")) is None
    # this install is fine (the suite's own): the program, linkpool-py, its Python, modules
    assert [p for p in _program_files(LINKPOOL) if untrusted(p)] == []
