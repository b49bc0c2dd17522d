"""linkpool's cache folder (linkpool.cache), as the plans use it: never written through a
symlink or a folder not ours, made private whatever the umask. Plans asked of
`python -I linkpool-py --plan=FD` as the front door asks."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from conftest import LINKPOOL_PY, cached, plan, plan_env, plan_objs, stored

env, objs = plan_env, plan_objs  # conftest's fixtures, by this file's names


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
