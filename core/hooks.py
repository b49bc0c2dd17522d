"""Load the plugins: a pluggy ``PluginManager`` with the built-in plugins and the installed
ones, minus those the ``disable`` setting turns off.

The built-in plugins are registered first, in the order of :data:`BUILTIN`, and the
third-party ones after them: pluggy calls the last registered first, so a third-party
implementation runs before the built-in one of the same hook unless ``tryfirst`` or
``trylast`` says otherwise.

Third-party plugins are found in the ``linkpool`` group of the installed distributions'
``entry_points.txt`` (on linkpool's own ``sys.path`` and in the ``plugin_path``
setting's directories), read directly and cached in
``$XDG_CACHE_HOME/linkpool/plugins.json``, keyed by the modification time of every
directory searched: installing, upgrading or removing a distribution adds or removes
its ``.dist-info`` folder there, which changes that time, and the next run scans again.
The cache stays because a measurement justifies it: ``importlib.metadata.entry_points()``
reads every distribution's metadata on every run, 5.8 ms (median of 21 runs) with the
test environment's 25 distributions against 0.5 ms for a cache hit (Python 3.11).

Nothing another user could write is imported: a ``plugin_path`` folder that someone other
than root and the user could change (it or a folder above it; see
:func:`linkpool.configfile.untrusted`) is left out with one warning line, and a cache that
someone else could have written is not believed (the folders are scanned again).
"""

from __future__ import annotations

import os
import stat
import sys
from importlib import import_module

import pluggy

from . import hookspecs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from .settings import Settings


#: The built-in plugins: the name ``disable`` knows each by, and its module.
BUILTIN = (
    ("classify", "linkpool.plugins.classify"),
    ("cost", "linkpool.plugins.cost"),
    ("history", "linkpool.plugins.history"),
    ("threads", "linkpool.plugins.threads"),
    ("jobserver", "linkpool.plugins.jobserver"),
    ("output-check", "linkpool.plugins.outputcheck"),
)
GROUP = "linkpool"
#: The hooks that only watch: a plugin implementing no other may join a link the C front
#: door runs from a plan (``linkpool.plans``), its after_link called when the record is
#: folded (``linkpool.spool``). Any other hook decides something about each link.
OBSERVING = ("linkpool_configure", "linkpool_after_link", "linkpool_error")


def load(settings: Settings) -> pluggy.PluginManager:
    """A plugin manager with the built-in and the installed plugins, minus those the
    ``disable`` setting turns off; its ``hook.linkpool_x(**kwargs)`` calls a hook. The
    ``plugin_path`` setting's directories are looked in for plugins and put on
    ``sys.path``, before linkpool's own environment: linkpool runs in isolated mode and
    does not honour ``PYTHONPATH`` (a build's environment is not linkpool's), so this is
    how plugins installed outside its environment (``pip install --target DIR``) join."""
    off = set(settings.disable)
    extra = trusted_folders([d for d in settings.plugin_path if d not in sys.path], True)
    if extra:
        sys.path[:0] = extra
    third = [(n, v) for n, v in discover() if n not in off]
    manager = pluggy.PluginManager(hookspecs.NAME)
    manager.add_hookspecs(hookspecs)
    for name, module in BUILTIN:
        if name not in off:
            manager.register(import_module(module), name=name)
    for name, value in third:
        manager.register(_load(value), name=name)
    return manager


def installed(settings: Settings) -> list[str]:
    """The names of the third-party plugins :func:`load` would register with these
    settings, found as it finds them but imported not (for ``linkpool config`` and
    ``doctor``: a config key no setting reads may be one of theirs)."""
    off = set(settings.disable)
    folders = trusted_folders([d for d in settings.plugin_path if d not in sys.path])
    return [name for name, _ in discover([*folders, *sys.path]) if name not in off]


def deciding(manager: Any, hooks: Iterable[str] | None = None) -> list[str]:
    """The third-party plugins of ``manager`` (:func:`load`'s) that implement a hook
    deciding something about a link (any hook but :data:`OBSERVING`; with ``hooks``, one
    of those)."""
    builtin = {name for name, _ in BUILTIN}
    out = []
    for name, plugin in manager.list_name_plugin():
        if name in builtin:
            continue
        if any(caller.name not in OBSERVING and (hooks is None or caller.name in hooks)
               for caller in manager.get_hookcallers(plugin) or ()):
            out.append(name)
    return out


def trusted_folders(folders: Iterable[str], warn: bool = False) -> list[str]:
    """The plugin folders of ``folders`` that only root and this user can write (see
    :func:`linkpool.configfile.untrusted`): code in the others, which another user could
    have put there, is never imported. ``warn``: one line for each refused folder. A
    folder that does not exist holds nothing to import: left out, silently."""
    from .configfile import untrusted

    out = []
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        wrong = untrusted(folder)
        if wrong is None:
            out.append(folder)
        elif warn:
            from .names import say

            what, who, fix = wrong
            say(f"warning: plugin folder {folder} {what}, so {who} could run code as you; "
                f"its plugins are not loaded: `{fix}`")
    return out


def _load(value: str) -> Any:
    module, _, attr = value.partition(":")
    obj: Any = import_module(module.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj


# -- discovery --------------------------------------------------------------------------------


# A directory changed this close before a scan may change again within the same tick of
# the filesystem's clock (a few ms), leaving its time as it was: such a scan is not
# trusted, the next run looks again (git's "racily clean" entries, the same trap).
SETTLED_NS = 1_000_000_000


def discover(paths: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(name, "module:attr") of every ``linkpool`` entry point on ``sys.path``: from the
    cache when no directory searched has changed since it was written, else scanned."""
    dirs = [p for p in (sys.path if paths is None else paths) if p and os.path.isdir(p)]
    stamp = {d: os.stat(d).st_mtime_ns for d in dirs}
    cache = _cache_file()
    cached = _read_cache(cache)
    if cached is not None and cached.get("stamp") == stamp and _settled(stamp, cached):
        return [tuple(e) for e in cached["plugins"]]  # type: ignore[misc]
    import time

    scanned = time.time_ns()
    found = [e for d in dirs for e in _scan(d)]
    _write_cache(cache, {"stamp": stamp, "scanned": scanned, "plugins": found})
    return found


def _settled(stamp: dict[str, int], cached: dict[str, Any]) -> bool:
    """Whether every directory had been left alone a while when the cache was written."""
    scanned = cached.get("scanned")
    return isinstance(scanned, int) and all(m < scanned - SETTLED_NS for m in stamp.values())


def _scan(directory: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return out
    for name in names:
        if not name.endswith((".dist-info", ".egg-info")):
            continue
        try:
            with open(os.path.join(directory, name, "entry_points.txt"), encoding="utf-8") as f:
                out.extend(parse_entry_points(f.read()))
        except (OSError, UnicodeDecodeError):
            continue
    return out


def parse_entry_points(text: str, group: str = GROUP) -> list[tuple[str, str]]:
    """The ``name = value`` lines of one ``[group]`` section of an entry_points.txt."""
    out, inside = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            inside = line.strip("[]").strip() == group
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def _cache_file() -> str | None:
    """``plugins.json`` in linkpool's cache folder (None: there is none, the folders are
    scanned every time)."""
    from .cache import cache_dir

    folder = cache_dir()
    return None if folder is None else os.path.join(folder, "plugins.json")


def _read_cache(path: str | None) -> dict[str, Any] | None:
    """The cache's table; None when there is none, or when someone other than root and
    this user could have written it (it names the modules to import): then the folders
    are scanned again."""
    if path is None:
        return None
    try:
        from . import strictjson
        from .configfile import untrusted

        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, encoding="utf-8") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or untrusted(path, st) is not None:
                return None
            data = strictjson.loads(f.read())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _write_cache(path: str | None, data: dict[str, Any]) -> None:
    from . import strictjson
    from .cache import open_cache
    from .configfile import untrusted

    if path is None:
        return
    folder = open_cache(create=True)  # ours, 0700 whatever the umask
    if folder is None:
        return  # another user could replace it, or a symlink: it would not be read anyway
    try:
        if untrusted(os.path.dirname(path)) is not None:
            return
        name = os.path.basename(path)
        tmp = f"{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=folder)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(strictjson.dumps(data))
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError:
        pass  # a read-only home: discovery just runs again next time
    finally:
        os.close(folder)
