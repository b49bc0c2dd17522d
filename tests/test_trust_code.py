"""Nothing another user can write is ever imported or run (issue 19, class 6 "Code").

The config files (the system's, the user's own), the folders holding them, every plugin
folder and the plugin cache must be owned by root or the user and writable by nobody
else, groups included (ssh's StrictModes). Real users: an attacker and a victim made with
useradd (the victim is also root), with linkpool run as the victim; the attacker's code
writes a marker file when it runs. When something is not trusted, the link runs as bare
after one `linkpool: warning:` line naming the path and the fix, and no marker appears.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import test_hostile_pools as hostile
import test_system_config as sysconf
from test_hostile_pools import Env

from conftest import LINKPOOL

env = hostile.env  # its fixture of two real users and a copy of linkpool they can run


VICTIMS = ["user", "root"]


class Scene:
    """A scratch area: an attacker, a victim, a marker folder, the victim's home."""

    def __init__(self, env: Env, base: Path, victim: str) -> None:
        self.env, self.base = env, base
        self.attacker = env.users[0]
        self.victim = env.users[1] if victim == "user" else "root"
        self.marks = base / "marks"
        self.marks.mkdir()
        self.marks.chmod(0o1777)
        self.home = base / "home"
        self.home.mkdir()
        env.chown(self.home, self.victim)
        pools = base / "pools"
        pools.mkdir()
        pools.chmod(0o1777)
        self.pool = pools / "victim"
        self.xdg = base / "xdg"
        self.out = self.home / "out"

    def gid(self, who: str) -> int:
        import pwd

        return pwd.getpwnam(who).pw_gid

    def evil_folder(self, where: Path, owner: str = "root", mode: int = 0o755) -> Path:
        """A plugin folder holding a plugin (an entry point of group `linkpool`) and a
        `pluggy.py` (named like a library linkpool imports), both of which write
        a marker when imported."""
        where.mkdir(parents=True, exist_ok=True)
        code = ("import os\n"
                f"open(os.path.join({str(self.marks)!r}, 'ran-as-%d' % os.geteuid()), 'a')"
                ".close()\n")
        (where / "evilmod.py").write_text(code)
        (where / "pluggy.py").write_text(code)
        info = where / "evil-1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "entry_points.txt").write_text("[linkpool]\nevil = evilmod\n")
        for path in [where, *where.rglob("*")]:
            self.env.chown(path, owner)
            path.chmod(mode if path.is_dir() else 0o644)
        where.chmod(mode)
        return where

    def system_config(self, text: str) -> Path:
        conf = sysconf.system_config(self.xdg, text)
        return conf

    def environ(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith("LINKPOOL_") and k not in ("XDG_CONFIG_HOME",
                                                                "XDG_CACHE_HOME")}
        return {**keep, "HOME": str(self.home), "USER": self.victim,
                "XDG_CONFIG_DIRS": str(self.xdg), "LINKPOOL_DIR": str(self.pool), **extra}

    def linkpool(self, *args: str, **extra: str) -> Any:
        exe = LINKPOOL if self.victim == "root" else self.env.shim
        import subprocess

        return subprocess.run([*self.env.prefix(self.victim), exe, *args], cwd="/",
                              text=True, env=self.environ(**extra), capture_output=True,
                              timeout=60)

    def link(self, **extra: str) -> Any:
        """The victim's link: `sh -c 'echo ran > OUT; exit 3'` through linkpool."""
        if self.out.exists():
            self.out.unlink()
        return self.linkpool("run", "--", "sh", "-c", 'echo ran > "$0"; exit 3',
                             str(self.out), **extra)

    def ran(self) -> list[str]:
        return sorted(os.listdir(self.marks))


@pytest.fixture(params=VICTIMS)
def scene(env: Env, request: pytest.FixtureRequest) -> Scene:
    base = Path(tempfile.mkdtemp(prefix="c-", dir=env.base))
    base.chmod(0o755)
    return Scene(env, base, request.param)


def refused(scene: Scene, r: Any, path: Path, fix: str) -> None:
    """The link ran as bare (status 3, its output), the attacker's code did not, and the
    one line of stderr is a warning naming ``path`` and the command that fixes it."""
    assert scene.ran() == [], f"the attacker's code ran: {scene.ran()} ({r.stderr})"
    assert r.returncode == 3, r.stderr
    assert scene.out.read_text() == "ran\n"
    assert r.stderr.startswith("linkpool: warning: ") and r.stderr.count("\n") == 1, r.stderr
    assert str(path) in r.stderr and fix in r.stderr, r.stderr


# -- the system config and its folders ---------------------------------------------------


def test_a_group_writable_system_config_is_not_obeyed(scene: Scene) -> None:
    """Owned by root, but its group is the attacker's and it is mode 0664: the attacker
    could name any plugin folder (here a root-owned one, so that only the file is wrong)."""
    evil = scene.evil_folder(scene.base / "plugins")
    conf = scene.system_config(f'plugin_path = ["{evil}"]\n')
    os.chown(conf, 0, scene.gid(scene.attacker))
    conf.chmod(0o664)
    r = scene.link()
    refused(scene, r, conf, f"chmod g-w {conf}")
    c = scene.linkpool("config")
    assert c.returncode == 2 and str(conf) in c.stderr and scene.ran() == []
    doctor = json.loads(scene.linkpool("doctor", "--json").stdout)["checks"]
    assert any(ch["level"] == "FAIL" and str(conf) in ch["message"] for ch in doctor)
    assert scene.ran() == []
    conf.chmod(0o644)  # fixed as the line says: now obeyed (the plugin folder is root's)
    r = scene.link()
    assert r.returncode == 3 and scene.ran() != []


@pytest.mark.parametrize("how", ["owned", "world", "group", "above"])
def test_a_system_config_folder_another_user_can_write_is_not_obeyed(
        scene: Scene, how: str) -> None:
    """The file is root's and 0644, but the attacker could replace it: its folder is
    theirs, or writable by anyone, or by their group; or a folder above it is."""
    evil = scene.evil_folder(scene.base / "plugins")
    conf = scene.system_config(f'plugin_path = ["{evil}"]\n')
    folder = conf.parent if how != "above" else scene.xdg
    if how == "owned":
        scene.env.chown(folder, scene.attacker)
    elif how == "world":
        folder.chmod(0o777)
    else:
        os.chown(folder, 0, scene.gid(scene.attacker))
        folder.chmod(0o775)
    r = scene.link()
    fix = f"chown root {folder}" if how == "owned" else \
        f"chmod {'go' if how == 'world' else 'g'}-w {folder}"
    refused(scene, r, conf, fix)


def test_a_system_config_through_a_symlink_from_a_folder_others_can_write(
        scene: Scene) -> None:
    """linkpool/ is a symlink, made by the attacker in a folder they can write, to a
    root-owned, well-kept copy: what counts is who could change what is read."""
    evil = scene.evil_folder(scene.base / "plugins")
    good = scene.base / "good"
    sysconf.system_config(good, f'plugin_path = ["{evil}"]\n')
    scene.xdg.mkdir()
    scene.xdg.chmod(0o777)
    (scene.xdg / "linkpool").symlink_to(good / "linkpool")
    conf = scene.xdg / "linkpool" / "config.toml"
    r = scene.link()
    refused(scene, r, conf, f"chmod go-w {scene.xdg}")


def test_a_user_config_another_user_owns_or_can_write_is_not_obeyed(scene: Scene) -> None:
    """$LINKPOOL_CONFIG names a file a team mate owns, then one their group can write."""
    evil = scene.evil_folder(scene.base / "plugins")
    shared = scene.base / "team"
    shared.mkdir()
    conf = shared / "linkpool.toml"
    conf.write_text(f'plugin_path = ["{evil}"]\n')
    scene.env.chown(conf, scene.attacker)
    r = scene.link(LINKPOOL_CONFIG=str(conf))
    refused(scene, r, conf, f"chown root {conf}")
    os.chown(conf, 0, scene.gid(scene.attacker))
    conf.chmod(0o664)
    r = scene.link(LINKPOOL_CONFIG=str(conf))
    refused(scene, r, conf, f"chmod g-w {conf}")


# -- plugin folders ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["owned", "group", "world", "parent"])
def test_a_plugin_folder_another_user_can_write_is_not_imported(scene: Scene,
                                                                how: str) -> None:
    """A well-kept system config names a plugin folder the attacker can write (or
    replace: its parent is theirs): nothing in it is imported, the link runs pooled."""
    if how == "parent":
        parent = scene.base / "attackers"
        parent.mkdir()
        scene.env.chown(parent, scene.attacker)
        evil = scene.evil_folder(parent / "plugins")
        wrong, fix = parent, f"chown root {parent}"
    else:
        owner, mode = {"owned": (scene.attacker, 0o755), "group": ("root", 0o775),
                       "world": ("root", 0o777)}[how]
        evil = scene.evil_folder(scene.base / "plugins", owner, mode)
        if how == "group":
            os.chown(evil, 0, scene.gid(scene.attacker))
        wrong = evil
        fix = {"owned": f"chown root {evil}", "group": f"chmod g-w {evil}",
               "world": f"chmod go-w {evil}"}[how]
    scene.system_config(f'plugin_path = ["{evil}"]\n')
    r = scene.link()
    refused(scene, r, evil, fix)
    assert str(wrong) in r.stderr
    assert "plugin folder" in r.stderr
    # `config` and `doctor` say so too, and neither runs the code
    c = scene.linkpool("config")
    assert c.returncode == 0 and str(evil) in c.stderr and fix in c.stderr
    doctor = json.loads(scene.linkpool("doctor", "--json").stdout)["checks"]
    assert any(ch["level"] == "FAIL" and str(evil) in ch["message"] for ch in doctor), doctor
    assert scene.ran() == []


def test_a_plugin_folder_from_the_environment_is_checked_too(scene: Scene) -> None:
    evil = scene.evil_folder(scene.base / "plugins", scene.attacker)
    r = scene.link(LINKPOOL_PLUGIN_PATH=str(evil))
    refused(scene, r, evil, f"chown root {evil}")


# -- the plugin cache --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["file", "folder"])
def test_a_plugin_cache_another_user_can_write_is_not_read(env: Env, how: str) -> None:
    """The cache names the modules to import as plugins, and the stamp that makes it
    believed is public (the folders' times). Made writable by the attacker and told to
    import `this` (whose import prints to stdout), it is ignored: scanned again.
    Root's linkpool (with pluggy) is the victim: it would register the cached plugins."""
    base = Path(tempfile.mkdtemp(prefix="c-", dir=env.base))
    base.chmod(0o755)
    scene = Scene(env, base, "root")
    first = scene.link()
    assert first.returncode == 3 and first.stderr == ""
    cache = scene.home / ".cache" / "linkpool" / "plugins.json"
    data = json.loads(cache.read_text())
    data["plugins"] = [["evil", "this"]]
    cache.write_text(json.dumps(data))
    if how == "file":
        os.chown(cache, 0, scene.gid(scene.attacker))
        cache.chmod(0o664)
    else:
        cache.parent.chmod(0o777)
    r = scene.link()
    assert r.returncode == 3 and scene.out.read_text() == "ran\n"
    assert r.stdout == "", "the attacker's cache was obeyed"
    assert r.stderr == ""
