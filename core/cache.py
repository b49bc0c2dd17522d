"""linkpool's cache folder: the C front door's plans (``linkpool.plans``) and records
(``linkpool.spool``), and the table of installed plugins (``linkpool.hooks``).

It is ``$XDG_CACHE_HOME/linkpool`` when that is an absolute path, else
``$HOME/.cache/linkpool`` when HOME is one (without HOME, the home of the password
database); else there is none (nothing is cached, links are not recorded). It
(and each folder in it) is made mode 0700 whatever the umask, and used only when it is a
directory, not a symlink, owned by us and writable by nobody else (:func:`open_dir`): the
front door reads the same folders by the same rules.
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Mapping


def cache_dir(environ: Mapping[str, str] = os.environ) -> str | None:
    """The cache folder's path, or None: there is none."""
    xdg = environ.get("XDG_CACHE_HOME") or ""
    if xdg.startswith("/"):
        return os.path.join(xdg, "linkpool")
    home = environ.get("HOME")
    if home is None:  # env -i: the user's home from the password database
        import pwd

        try:
            home = pwd.getpwuid(os.geteuid()).pw_dir
        except KeyError:
            return None
    if home.startswith("/"):
        return os.path.join(home, ".cache", "linkpool")
    return None


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def own_folder(name: str, parent: int | None = None, create: bool = False,
               mode: int = 0o700) -> int:
    """A descriptor of the folder ``name`` (in ``parent``), owned by us: never through a
    symlink, never another user's folder of that name or a file (OSError). With
    ``create`` a missing one is made, with ``mode`` whatever the umask (a umask of 277
    must not leave it unwritable). The history's folders in a pool are opened so too."""
    made = False
    if create:
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
            made = True
        except FileExistsError:
            pass
    fd = os.open(name, _DIR, dir_fd=parent)
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise PermissionError(errno.EPERM, f"{name} is owned by uid {st.st_uid}", name)
        if made and stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_dir(name: str, parent: int | None = None, create: bool = False) -> int | None:
    """A descriptor of the folder ``name`` (in ``parent``), or None unless it is a
    directory, not a symlink, owned by us and writable by nobody else. With ``create``
    a missing one is made, mode 0700 whatever the umask."""
    try:
        fd = own_folder(name, parent, create)
    except (OSError, ValueError):
        return None
    try:
        if not os.fstat(fd).st_mode & 0o022:
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def open_cache(create: bool = False, environ: Mapping[str, str] = os.environ) -> int | None:
    """A descriptor of CACHE (:func:`open_dir`'s checks), or None. With ``create``, it is
    made if missing (and the folders above it, as mkdir -p does)."""
    path = cache_dir(environ)
    if path is None:
        return None
    if create:
        _make_parents(os.path.dirname(path))
    return open_dir(path, None, create)


def _make_parents(path: str) -> None:
    """mkdir -p ``path``, each folder made here mode 0700 whatever the umask."""
    missing = []
    while not os.path.lexists(path) and path not in ("", "/"):
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o700)
        except FileExistsError:
            pass
        except (OSError, ValueError):
            return
