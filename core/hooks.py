"""Load the plugins and call the hooks: with pluggy when third-party plugins are installed,
with a small relay of the same semantics when only the built-in ones are.

Why two paths: importing pluggy costs the wrapper 15-40 ms, more than the whole budget
of an uncontended link, and on most machines only the built-in plugins are present. The
relay calls implementations exactly as pluggy does for plain (non-wrapper) hooks:
last-registered first, ``tryfirst`` ones before and ``trylast`` ones after the rest, the
first non-``None`` result ending a ``firstresult`` hook. The ``pluggy`` setting
(``LINKPOOL_PLUGGY=1``) forces pluggy (the tests run the built-ins both ways).

Third-party plugins are found in the ``linkpool`` group of the installed distributions'
``entry_points.txt`` (on linkpool's own ``sys.path`` and in the ``plugin_path``
setting's directories), read directly (no importlib.metadata at start-up) and cached in
``$XDG_CACHE_HOME/linkpool/plugins.json``, keyed by the modification time of every
directory searched: installing, upgrading or removing a distribution adds or removes
its ``.dist-info`` folder there, which changes that time, and the next run scans again.
Which plugins are turned off is the ``disable`` setting.

Nothing another user could write is imported: a ``plugin_path`` folder that someone other
than root and the user could change (it or a folder above it; see
:func:`linkpool.configfile.untrusted`) is left out with one warning line, and a cache that
someone else could have written is not believed (the folders are scanned again).
"""

from __future__ import annotations

import os
import sys

from . import hookspecs

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from .settings import Settings


def import_module(name: str) -> Any:
    """The module ``name`` (dotted), imported: ``importlib.import_module`` without the
    package, whose import (it imports ``warnings``) cost the wrapper 0.5-0.8 ms."""
    __import__(name)
    return sys.modules[name]


# name, module, and the hooks it implements: the relay imports a built-in plugin only
# when one of its hooks is called (a compile imports just `classify`). A test checks
# this table against the modules.
BUILTIN = (
    ("classify", "linkpool.plugins.classify", ("linkpool_classify", "linkpool_choose_linker")),
    ("cost", "linkpool.plugins.cost", ("linkpool_estimate", "linkpool_weigh")),
    ("history", "linkpool.plugins.history", ("linkpool_estimate", "linkpool_after_link")),
    ("threads", "linkpool.plugins.threads", ("linkpool_tune",)),
    ("jobserver", "linkpool.plugins.jobserver", ("linkpool_before_acquire", "linkpool_tune")),
    ("output-check", "linkpool.plugins.outputcheck", ("linkpool_after_link",)),
)
GROUP = "linkpool"


class Relay:
    """``relay.hook.linkpool_x(**kwargs)`` over registered plugins, as pluggy calls them."""

    def __init__(self) -> None:
        self.plugins: list[tuple[str, Any]] = []
        self.lazy: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.hook = self

    def register(self, plugin: Any, name: str) -> None:
        self.plugins.append((name, plugin))

    def register_lazy(self, module: str, name: str, hooks: tuple[str, ...]) -> None:
        """Register ``module`` under ``name``, importing it when one of ``hooks`` is called."""
        self.plugins.append((name, None))
        self.lazy[name] = (module, hooks)

    def __getattr__(self, hook: str) -> Any:
        spec = getattr(hookspecs, hook, None)
        opts = getattr(spec, f"{hookspecs.NAME}_spec", None)
        if opts is None:
            raise AttributeError(hook)
        for i, (name, plugin) in enumerate(self.plugins):
            if plugin is None and hook in self.lazy[name][1]:
                self.plugins[i] = (name, import_module(self.lazy[name][0]))
        first: list[Any] = []
        normal: list[Any] = []
        last: list[Any] = []
        for _, plugin in self.plugins:
            impl = getattr(plugin, hook, None)
            impl_opts = getattr(impl, f"{hookspecs.NAME}_impl", None)
            if impl_opts is None:
                continue
            where = first if impl_opts["tryfirst"] else last if impl_opts["trylast"] else normal
            where.append(impl)
        impls = [*reversed(first), *reversed(normal), *reversed(last)]
        firstresult = opts["firstresult"]

        def call(**kwargs: Any) -> Any:
            results = []
            for impl in impls:
                value = impl(**kwargs)
                if value is not None:
                    if firstresult:
                        return value
                    results.append(value)
            return None if firstresult else results

        return call


def load(settings: Settings) -> Any:
    """A hook caller with the built-in and the installed plugins, minus those the
    ``disable`` setting turns off. The ``plugin_path`` setting's directories are looked
    in for plugins and put on ``sys.path``, before linkpool's own environment: linkpool
    runs in isolated mode and does not honour ``PYTHONPATH`` (a build's environment is
    not linkpool's), so this is how plugins installed outside its environment
    (``pip install --target DIR``) join."""
    off = set(settings.disable)
    extra = trusted_folders([d for d in settings.plugin_path if d not in sys.path], True)
    if extra:
        sys.path[:0] = extra
    third = [(n, v) for n, v in discover() if n not in off]
    if third or settings.pluggy:
        import pluggy

        manager: Any = pluggy.PluginManager(hookspecs.NAME)
        manager.add_hookspecs(hookspecs)
    else:
        manager = Relay()
    for name, module, implements in BUILTIN:
        if name in off:
            continue
        if isinstance(manager, Relay):
            manager.register_lazy(module, name, implements)
        else:
            manager.register(import_module(module), name=name)
    for name, value in third:
        manager.register(_load(value), name=name)
    return manager


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


def _cache_file() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "linkpool", "plugins.json")


def _read_cache(path: str) -> dict[str, Any] | None:
    """The cache's table; None when there is none, or when someone other than root and
    this user could have written it (it names the modules to import): then the folders
    are scanned again."""
    try:
        from . import strictjson
        from .configfile import untrusted

        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, encoding="utf-8") as f:
            st = os.fstat(fd)
            if not _regular(st.st_mode) or untrusted(path, st) is not None:
                return None
            data = strictjson.loads(f.read())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _regular(mode: int) -> bool:
    return mode & 0o170000 == 0o100000  # S_ISREG, without importing stat


def _write_cache(path: str, data: dict[str, Any]) -> None:
    from . import strictjson
    from .configfile import untrusted

    try:
        folder = os.path.dirname(path)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if untrusted(folder) is not None:
            return  # another user could replace it: it would not be read anyway
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(strictjson.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: discovery just runs again next time
