"""The pool directory and whether to trust it: where the default one is, the names of
its files, how it and they are opened, and the rules they must pass.

This is the one implementation of those rules: the pool applies them each time it opens
the directory or a file in it, and ``linkpool doctor`` reports what they say. Each
refusal is one line saying what is wrong and what to do. Files are opened relative to
the directory's descriptor, with ``O_NOFOLLOW`` and ``O_CLOEXEC``.
"""

from __future__ import annotations

import errno
import os
import stat

CONFIG = "pool.json"  # the capacity and protocol version, replaced by rename
QUEUE = "queue.lock"  # held for the moment it takes to draw a ticket
SLOT = "slot."  # slot.<i>: held while a descriptor of it holds LOCK_EX
TICKET = "wait."  # wait.<n>: a waiter's place in line
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PoolError(Exception):
    """A problem the user can fix: one line (without the `linkpool:` prefix) saying what to do."""


class PoolBroken(PoolError):
    """The pool directory cannot be used; callers fail open unless strict."""


def default_path() -> str:
    """The private default pool: ``$XDG_RUNTIME_DIR/linkpool``, else ``/tmp/linkpool-$UID``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "linkpool")
    return f"/tmp/linkpool-{os.geteuid()}"


def open_dir(path: str, create: bool, shared: bool) -> int:
    """A descriptor of the directory ``path``; with ``create``, make it first if missing
    (mode 0700, or 1777 when ``shared``). Raises :class:`PoolError` if it is missing and
    not to be made, :class:`PoolBroken` if it is a symlink or not a directory."""
    try:
        return os.open(path, DIR_FLAGS)
    except FileNotFoundError:
        if not create:
            raise PoolError(
                f"no pool at {path}; create it with `linkpool init --pool {path}` or run a "
                f"link"
            ) from None
    except NotADirectoryError as e:
        # O_NOFOLLOW with O_DIRECTORY: a symlink fails with ENOTDIR, not ELOOP, as a plain
        # file does; so does a file higher up the path. lstat says which it is.
        what = _not_a_dir(path)
        if what is None:
            raise
        raise PoolBroken(f"pool path {path} is {what}; remove it or choose another --pool") from e
    # The owner's bits whatever the umask (277 or 777 would make folders we cannot use);
    # the group's and others' as the umask says for the folders above.
    old = os.umask(0o077)
    os.umask(old & 0o077)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        return open_dir(path, False, shared)  # another process made it first
    finally:
        os.umask(old)  # at once: the command inherits the build's umask
    fd = open_dir(path, False, shared)
    if os.fstat(fd).st_uid == os.geteuid():  # the one we made: its mode, whatever the umask
        # (sticky when shared: users may add files but not remove others')
        os.fchmod(fd, 0o1777 if shared else 0o700)
    return fd


def _not_a_dir(path: str) -> str | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None  # a component above it is the file
    if stat.S_ISLNK(st.st_mode):
        return "a symlink"
    return None if stat.S_ISDIR(st.st_mode) else "not a directory"


def check_parent(path: str) -> None:
    """Refuse a pool whose folder anyone may write without the sticky bit: another user
    could rename the pool away (and the next job would silently make a second pool) or
    put their own in its place. /tmp and /run/user are sticky or private: fine."""
    parent = os.path.dirname(path) or "/"
    try:
        st = os.stat(parent)
    except OSError:
        return  # not reachable from here (a bind mount, a hidden parent): nothing to judge
    if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
        raise PoolBroken(
            f"the pool's folder {parent} is writable by anyone and not sticky, so another "
            f"user could replace the pool; put it elsewhere or run `chmod +t {parent}`"
        )


def check_dir(path: str, st: os.stat_result, shared: bool) -> None:
    """Refuse the pool directory (``st``, its fstat) if others could change it: a shared
    one world-writable without the sticky bit, a private one of another user or writable
    by group or others."""
    mode = stat.S_IMODE(st.st_mode)
    if shared:
        if mode & 0o002 and not mode & stat.S_ISVTX:
            raise PoolBroken(
                f"shared pool {path} is world-writable without the sticky bit; "
                f"run `chmod +t {path}`"
            )
        return
    if st.st_uid != os.geteuid():
        raise PoolBroken(
            f"pool {path} is owned by uid {st.st_uid}, not you; use your own --pool "
            f"or ask its owner to make it shared with `linkpool init --shared`"
        )
    if mode & 0o022:
        raise PoolBroken(
            f"private pool {path} is writable by others; run `chmod 700 {path}`"
        )


def file_problem(st: os.stat_result, shared: bool) -> str | None:
    """What makes a file of the pool (``st``, its lstat or fstat) unusable ("is a
    symlink"), or None: it must be a regular file, and in a private pool one of ours."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_nlink > 1:  # another name of a file elsewhere, linked in by someone
        return f"has {st.st_nlink} hard links"
    if not shared and st.st_uid != os.geteuid():
        return f"is owned by uid {st.st_uid}"
    return None


def open_file(dirfd: int, path: str, name: str, flags: int, shared: bool) -> int:
    """Open ``name`` in the pool directory (``dirfd``, at ``path``) with ``flags``; made
    with mode 0600, or 0666 in a shared pool. Raises :class:`PoolBroken` for a file that
    :func:`file_problem` refuses.

    Never blocks: O_NONBLOCK makes the open of a FIFO return at once (it is then refused
    as not a regular file); on a regular file O_NONBLOCK changes nothing, so it is left
    set. The mode is set only on a file we made: ours, with a single link (another user
    can hard-link a file of ours into a sticky directory, never make one owned by us)."""
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     0o666 if shared else 0o600, dir_fd=dirfd)
    except OSError as e:
        if e.errno == errno.ELOOP:  # O_NOFOLLOW refused a symlink
            raise PoolBroken(f"{path}/{name} is a symlink; remove it") from e
        if e.errno == errno.EISDIR:  # O_RDWR on a directory
            raise PoolBroken(f"{path}/{name} is a directory; remove it") from e
        if e.errno == errno.ENXIO:  # O_WRONLY|O_NONBLOCK on a FIFO nobody reads
            raise PoolBroken(f"{path}/{name} is not a regular file; remove it") from e
        raise
    st = os.fstat(fd)
    problem = file_problem(st, shared)
    if problem:
        os.close(fd)
        fix = "remove it or use a pool of your own" if problem.startswith("is owned") else \
            "remove it"
        raise PoolBroken(f"{path}/{name} {problem}; {fix}")
    mode = 0o666 if shared else 0o600
    if st.st_uid == os.geteuid() and st.st_nlink == 1 and stat.S_IMODE(st.st_mode) != mode:
        os.fchmod(fd, mode)  # the umask trimmed it (277: read-only); others must open it too
    return fd


MAX_DIGITS = 18  # a slot or ticket number fits a signed 64-bit integer (the C front door)


def number_of(name: str, prefix: str) -> int:
    """The n of ``<prefix><n>``, or -1: n is ASCII digits, no sign, no leading zero but
    "0", at most :data:`MAX_DIGITS` (str.isdigit and int() accept "٣" too)."""
    if not name.startswith(prefix):
        return -1
    digits = name[len(prefix):]
    if not 0 < len(digits) <= MAX_DIGITS or (digits[0] == "0" and len(digits) > 1):
        return -1
    for c in digits:
        if not "0" <= c <= "9":
            return -1
    return int(digits)


def numbered(dirfd: int, prefix: str) -> list[int]:
    """The numbers n of the files ``<prefix><n>`` in the directory (slots, tickets),
    strictly spelled (see :func:`number_of`): another name is not one of ours."""
    out = []
    for name in os.listdir(dirfd):
        n = number_of(name, prefix)
        if n >= 0:
            out.append(n)
    return out


def write_note(fd: int, note: bytes) -> None:
    """Replace the content of a held slot or ticket (who holds it, for ``status``)."""
    try:
        os.pwrite(fd, note, 0)
        os.ftruncate(fd, len(note))
    except OSError:  # read-only slot of a shared pool, or a full disk: status shows less
        pass
