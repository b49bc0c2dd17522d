"""``linkpool setup system``: one pool for every user, service and container of a Linux host.

    linkpool setup system              # print what this host needs
    linkpool setup system --install    # as root: do it (again: changes nothing)

What a host needs, in the order ``--install`` makes it:

1. the shared pool (``/run/linkpool`` by default), made by the pool code exactly as
   ``linkpool init --shared DIR`` makes it: mode 1777 (sticky), ``pool.json`` 0644,
   slot files 0666, owned by whoever runs it (root);
2. the boot entry ``/etc/tmpfiles.d/linkpool.conf``: ``/run`` is a tmpfs, so at every
   boot systemd-tmpfiles makes the directory again (a ``d`` line with the mode and owner
   the pool code gave it), its ``pool.json`` (an ``f`` line: without one, the first
   user's link would find a directory that is not a pool yet, owned by root, and refuse
   it), and its ``queue.lock`` and slot files, owned by root (left to be made on demand,
   any user could take a name first: a symlink or a FIFO in place of a slot). Where
   systemd is not the init (no ``/run/systemd/system``) it says what to run at
   boot instead;
3. the system config ``/etc/xdg/linkpool/config.toml`` naming the pool, read by every
   user below their own config file (``linkpool.configfile``): only its ``pool`` key is
   written; a file that cannot be edited safely is refused, not rewritten;
4. the switch (unless ``--no-switch``): the linker shims in ``/usr/local/lib/linkpool/shims``
   (``linkpool.shims``), links to a ``linkpool`` program that only root can change, and
   ``COMPILER_PATH`` naming them for every login (``/etc/environment``, read by pam_env)
   and every systemd service and user manager (``DefaultEnvironment=`` in
   ``/etc/systemd/{system,user}.conf.d/linkpool.conf``). Then every link that gcc or
   clang drives on the host waits in the pool, with no change to any build.

``--root DIR`` puts every path it reads or writes under DIR (a scratch root, an image
being built); the files it writes still name the host's paths. docs/deploy.md has the
rest.
"""

from __future__ import annotations

import os

from ..configfile import (
    SYSTEM_POOL,
    ConfigError,
    UsageError,
    argument_parser,
    pool_value,
    slots_value,
)
from ..names import say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONFIG = "/etc/xdg/linkpool/config.toml"
TMPFILES = "/etc/tmpfiles.d/linkpool.conf"
SYSTEMD = "/run/systemd/system"  # present only when systemd is the init (sd_booted(3))
SHARED_MODE = 0o1777  # what the pool code makes a shared pool's directory (docs/security.md)
MARK = "# written by `linkpool setup system`"
ENVIRONMENT = "/etc/environment"  # pam_env's: every login (ssh, su -l, a console, cron)
SYSTEMD_CONF = ("/etc/systemd/system.conf.d/linkpool.conf",  # every system service
                "/etc/systemd/user.conf.d/linkpool.conf")  # every user manager's services

DESCRIPTION = """\
Print, and with --install make, what a Linux host needs so that every user's, service's
and container's links share one pool with no per-user step:

  1. the shared pool DIR (default /run/linkpool), as `linkpool init --shared DIR` makes
     it: mode 1777 (sticky), pool.json 0644, slot files 0666, owned by you (root);
  2. /etc/tmpfiles.d/linkpool.conf, so that systemd makes DIR and its pool.json again at
     every boot (/run is a tmpfs); without systemd it says what to run at boot instead;
  3. /etc/xdg/linkpool/config.toml with pool = "DIR": every user reads it below their
     own config file, so their links share DIR unless they choose another pool;
  4. the switch (not with --no-switch): linker shims in /usr/local/lib/linkpool/shims and
     COMPILER_PATH naming them in /etc/environment (every login) and in systemd's
     DefaultEnvironment (every service): every link gcc or clang drives on this host
     then waits in the pool, with no change to any build.

Running it again is safe: what is already right is left alone (a second --install
changes nothing and says so), an existing system config keeps its other keys, and a
file it cannot edit safely is refused with the reason. Without --install it writes
nothing. docs/deploy.md has the recipes (containers, CI runners, Kubernetes, Bazel).
"""


class Host:
    """The host's paths, under ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root

    def at(self, path: str) -> str:
        """Where the host's ``path`` is here."""
        return path if self.root == "/" else os.path.join(self.root, path.lstrip("/"))


class Plan:
    """What one run found and did: (what, path, state, detail) lines, and whether any of
    them needs (or got) a change."""

    def __init__(self, install: bool) -> None:
        self.install = install
        self.lines: list[tuple[str, str, str, list[str]]] = []
        self.changes = 0

    def add(self, what: str, path: str, state: str, detail: list[str],
            change: bool = False) -> None:
        self.lines.append((what, path, state, detail))
        self.changes += change


# -- 1. the pool ----------------------------------------------------------------------------


def _names(uid: int, gid: int) -> tuple[str, str]:
    """The user and group names tmpfiles.d should give (numbers when unknown)."""
    import grp
    import pwd

    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return user, group


def pool_step(plan: Plan, host: Host, pool: str, slots: int | None) -> dict[str, Any]:
    """Check (and with --install make or fix) the shared pool; what the boot entry must
    recreate: its mode, owner, slots."""
    from ..pool import CONFIG as POOL_JSON
    from ..pool import Pool, PoolError

    here = host.at(pool)
    config = os.path.join(here, POOL_JSON)
    if (os.path.lexists(here) and not os.path.isdir(here)) or os.path.islink(here):
        raise PoolError(f"{here} exists and is not a directory (or is a symlink): remove it "
                        f"or choose another --pool")
    if os.path.isdir(here) and os.lstat(here).st_uid not in (0, os.geteuid()):
        raise PoolError(f"{here} was made by uid {os.lstat(here).st_uid}, not by you or root, "
                        f"and its owner could replace the pool's files; remove it (as root) "
                        f"or choose another --pool")
    found = None
    if os.path.isdir(here) and os.path.lexists(config):
        with Pool.open(here, create=False) as p:
            found = (p.slots, p.shared)
        if not found[1]:
            raise PoolError(f"pool {here} already exists as a private pool; remove it first "
                            f"(`rm -r {here}`) to make the shared one there")
    n = slots or (found[0] if found else None)
    if n is None:
        from ..capacity import default_slots, read_machine

        n = default_slots(read_machine())
    state, change = "right", False
    if found is None:
        state, change = ("made" if plan.install else "to make"), True
    elif found[0] != n:
        state = (f"resized from {found[0]} to {n} slots" if plan.install else
                 f"to resize from {found[0]} to {n} slots")
        change = True
    mode = None
    if os.path.isdir(here):
        mode = os.stat(here).st_mode & 0o7777
        if found is not None and mode != SHARED_MODE and not change:
            state = (f"mode {mode:04o} set to {SHARED_MODE:04o}" if plan.install else
                     f"mode {mode:04o} to set to {SHARED_MODE:04o}")
            change = True
    if plan.install and change:
        with Pool.open(here, default_slots=n, shared=True, repair=True) as p:
            p.make_slots()
            if p.slots != n:
                p.resize(n)
        if os.stat(here).st_mode & 0o7777 != SHARED_MODE:
            os.chmod(here, SHARED_MODE)  # a directory that was there before (pool.py
            # makes the mode only when it makes the directory)
    if os.path.isdir(here) and (plan.install or found is not None):
        st = os.stat(here)
        made = os.stat(config) if os.path.exists(config) else st
        owner, json_mode = (st.st_uid, st.st_gid), made.st_mode & 0o777
    else:  # what the pool code would make, run by this user
        owner, json_mode = (os.geteuid(), os.getegid()), 0o644
    user, group = _names(*owner)
    detail = [f"shared, mode {SHARED_MODE:04o} (sticky), owner {user}, {n} slots: as "
              f"`linkpool init --shared {pool} --slots {n}` makes it"]
    plan.add("pool", here, state, detail, change)
    return {"slots": n, "user": user, "group": group, "json_mode": json_mode}


# -- 2. the boot entry ------------------------------------------------------------------------


def tmpfiles_text(pool: str, made: dict[str, Any]) -> str:
    """The tmpfiles.d file: the pool's directory and its pool.json, as the pool code made
    them (pool.json's content is the protocol's, docs/protocol.md)."""
    from ..pool import CONFIG as POOL_JSON
    from ..pool import PROTOCOL, QUEUE, SLOT
    from ..strictjson import dumps

    data = dumps({"protocol": PROTOCOL, "slots": made["slots"], "shared": True})  # as pool.py
    owner = f"{made['user']} {made['group']}"
    target = os.path.join(pool, POOL_JSON)
    # Every file the pool needs, made by its owner before any user runs: a name left to
    # be made on demand is one another user could take first (a symlink, a FIFO).
    files = "".join(f"f {_field(os.path.join(pool, name))} 0666 {owner} -\n"
                    for name in [QUEUE, *(f"{SLOT}{i}" for i in range(made["slots"]))])
    return (f"{MARK} (docs/deploy.md).\n"
            f"# {pool} is on a tmpfs: make the shared pool again at every boot, with its\n"
            f"# pool.json, queue.lock and slot files, so that every user's first link finds\n"
            f"# it ready and no user can put anything of theirs in their place.\n"
            f"d {_field(pool)} {SHARED_MODE:04o} {owner} -\n"
            f"f {_field(target)} {made['json_mode']:04o} {owner} - "
            f"{data.replace('%', '%%')}\\n\n{files}")


def _field(path: str) -> str:
    """A path as one tmpfiles.d field (quoted when it has spaces; % is a specifier)."""
    path = path.replace("%", "%%")
    return f'"{path}"' if any(c in path for c in " \t\"\\") else path


def tmpfiles_step(plan: Plan, host: Host, pool: str, made: dict[str, Any]) -> None:
    here = host.at(TMPFILES)
    text = tmpfiles_text(pool, made)
    old = _read(here)
    if old is not None and old != text and not old.startswith(MARK):
        raise ConfigError(f"{here} exists and was not written by `linkpool setup system`: "
                          f"remove it, or add these lines to it yourself:\n{text}")
    state, change = _write_step(plan, here, old, text)
    plan.add("boot entry", here, state, [line for line in text.splitlines()
                                         if not line.startswith("#")], change)


def boot_step(plan: Plan, host: Host, pool: str, made: dict[str, Any]) -> None:
    from . import find_linkpool

    if os.path.isdir(host.at(SYSTEMD)):
        plan.add("at boot", "systemd", "", [
            f"systemd-tmpfiles reads {TMPFILES} at every boot (systemd-tmpfiles-setup."
            f"service); `systemd-tmpfiles --create linkpool.conf` applies it now"])
        return
    program = find_linkpool() or "linkpool"
    command = f"{program} init --shared {pool} --slots {made['slots']}"
    plan.add("at boot", "no systemd here", "", [
        f"{SYSTEMD} is absent: systemd is not the init, so nothing reads the boot entry",
        f"and {pool} is gone after a reboot if it is on a tmpfs. Make it at boot",
        "another way: a line in /etc/cron.d/linkpool (cron runs it as root at boot)",
        f"    @reboot root {command}",
        "or that command in a boot script (/etc/rc.local, OpenRC's /etc/local.d/). Left",
        "without --slots it takes the machine's capacity at each boot. OpenRC's",
        "opentmpfiles reads /etc/tmpfiles.d as systemd does."])


# -- 3. the system config ---------------------------------------------------------------------


def _toml_string(text: str) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{out}"'


def edited_config(path: str, old: str | None, pool: str) -> str:
    """The system config with ``pool`` set and every other key and comment kept; raises
    ConfigError when the file is not one this can edit safely."""
    from ..configfile import read, toml_loads

    line = f"pool = {_toml_string(pool)}\n"
    if old is None:
        return (f"{MARK} (docs/deploy.md): every user's links\n"
                f"# read this below their own ~/.config/linkpool/config.toml.\n{line}")
    before = read(path)  # ConfigError when it is not valid TOML
    if before.get("pool") == pool:
        return old
    lines = old.splitlines(keepends=True)
    at = None
    for i, text in enumerate(lines):
        word = text.strip()
        if word.startswith("["):
            break  # a table: keys below it are not top-level
        if word.startswith("pool") and word[4:].lstrip().startswith("="):
            at = i
            break
    if at is None:
        head = 0
        while head < len(lines) and lines[head].lstrip().startswith("#"):
            head += 1
        lines.insert(head, line)
    else:
        lines[at] = line
    new = "".join(lines)
    if not new.endswith("\n"):
        new += "\n"
    try:
        after = toml_loads(new)
    except ValueError:
        after = None
    if after != {**before, "pool": pool}:
        raise ConfigError(f"cannot safely set the `pool` key of {path} (it is not a one-line "
                          f"top-level key there): write pool = {_toml_string(pool)} in it "
                          f"yourself, then run this again")
    return new


def config_step(plan: Plan, host: Host, pool: str) -> None:
    from ..configfile import read

    here = host.at(CONFIG)
    old = _read(here)
    new = edited_config(here, old, pool)
    state, change = _write_step(plan, here, old, new)
    others = old is not None and set(read(here)) - {"pool"}
    detail = [f"pool = {_toml_string(pool)}" + (" (its other keys are kept)" if others else "")]
    dirs = os.environ.get("XDG_CONFIG_DIRS")
    if dirs and os.path.dirname(os.path.dirname(CONFIG)) not in dirs.split(":"):
        detail.append(f"note: this shell's $XDG_CONFIG_DIRS ({dirs}) does not list /etc/xdg, "
                      f"so it does not read this file")
    plan.add("config", here, state, detail, change)


# -- 4. the switch ------------------------------------------------------------------------------


def _program_files(program: str) -> list[str]:
    """The files a link through ``program`` runs: it, linkpool-py beside it, the Python
    linkpool-py names, and linkpool's package."""
    beside = os.path.join(os.path.dirname(os.path.realpath(program)), "linkpool-py")
    files = [program, beside]
    try:
        with open(beside, "rb") as f:
            first = f.readline().decode(errors="replace")
        if first.startswith("#!"):
            files.append(first[2:].strip().split()[0])
    except OSError:
        pass
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder, _dirs, names in os.walk(package):
        files += [os.path.join(folder, n) for n in names if n.endswith(".py")]
    return files


def shims_step(plan: Plan, host: Host, pool: str) -> str:
    """Check (and with --install make or refresh) the host's linker shims."""
    from ..shims import SHIM_FILE, SYSTEM_DIR, ShimError, front_door, write

    try:
        program = front_door()
    except ShimError as e:
        raise ConfigError(str(e)) from None
    from ..configfile import untrusted  # the rule config files and plugins are held to

    for path in _program_files(program):
        wrong = untrusted(path)
        if wrong:
            raise ConfigError(f"every user's links would run {path}, but it {wrong[0]}: install "
                              f"linkpool where only root can change it (as root: python3 -m "
                              f"venv /opt/linkpool && /opt/linkpool/bin/pip install linkpool), "
                              f"or use --no-switch")
    here = host.at(SYSTEM_DIR)
    from ..shims import NAMES, find_real_linker

    linkers = {n for n in NAMES if find_real_linker(n, here) is not None}
    have = {n for n in NAMES if os.path.islink(os.path.join(here, n))
            and os.readlink(os.path.join(here, n)) == program}
    right = have == linkers and os.path.isfile(os.path.join(here, SHIM_FILE))
    state, change = "right", False
    if not right:
        state, change = ("made" if plan.install else "to make"), True
        if plan.install:
            try:
                write(here)
            except ShimError as e:
                raise ConfigError(str(e)) from None
    plan.add("shims", here, state, [
        f"{', '.join(sorted(linkers))}: links to {program}, which runs the real linker",
        f"through the pool ({pool}); the rest of COMPILER_PATH, then PATH, finds it"], change)
    return SYSTEM_DIR


def environment_text(old: str | None, shims: str, path: str) -> str:
    """/etc/environment with ``COMPILER_PATH=shims`` and every other line kept; raises
    ConfigError when it sets COMPILER_PATH to something else already."""
    line = f"COMPILER_PATH={shims}\n"
    if old is None:
        return f"{MARK}: every gcc/clang link through the pool\n{line}"
    lines = old.splitlines(keepends=True)
    for text in lines:
        key, eq, value = text.strip().partition("=")
        if eq and key.removeprefix("export ").strip() == "COMPILER_PATH":
            if shims in value.strip().strip("\"'").split(":"):
                return old
            raise ConfigError(f"{path} sets COMPILER_PATH={value.strip()} already: put "
                              f"{shims} first in it yourself, then run this again")
    if old and not old.endswith("\n"):
        old += "\n"
    return f"{old}{MARK}: every gcc/clang link through the pool\n{line}"


def systemd_text(shims: str) -> str:
    return (f"{MARK} (docs/deploy.md): every service's gcc/clang links through\n"
            f"# the pool. Takes effect at the next boot, or `systemctl daemon-reexec`.\n"
            f"[Manager]\nDefaultEnvironment=COMPILER_PATH={shims}\n")


def environment_step(plan: Plan, host: Host, shims: str) -> None:
    here = host.at(ENVIRONMENT)
    old = _read(here)
    state, change = _write_step(plan, here, old, environment_text(old, shims, here))
    plan.add("switch", here, state, [f"COMPILER_PATH={shims} for every login (pam_env), "
                                     f"from the next one"], change)
    if not os.path.isdir(host.at("/etc/systemd")):
        plan.add("switch", "no systemd here", "", [
            "services started otherwise need COMPILER_PATH in their own environment",
            "(docs/deploy.md has the recipes: CI runners, Docker, Kubernetes)"])
        return
    for conf in SYSTEMD_CONF:
        here = host.at(conf)
        old = _read(here)
        text = systemd_text(shims)
        if old is not None and old != text and not old.startswith(MARK):
            raise ConfigError(f"{here} exists and was not written by `linkpool setup "
                              f"system`: remove it, or add these lines to it yourself:\n{text}")
        state, change = _write_step(plan, here, old, text)
        plan.add("switch", here, state, [f"DefaultEnvironment=COMPILER_PATH={shims} (from "
                                         f"the next boot or `systemctl daemon-reexec`)"],
                 change)


# -- files --------------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _write_step(plan: Plan, path: str, old: str | None, new: str) -> tuple[str, bool]:
    """Write ``new`` to ``path`` (with --install) unless it holds it already."""
    if old == new:
        return "right", False
    verb = "made" if old is None else "updated"
    if not plan.install:
        return ("to make" if old is None else "to update"), True
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, new.encode())
        os.fchmod(fd, 0o644)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    return verb, True


# -- the command -------------------------------------------------------------------------------


def setup(args: list[str]) -> int:
    from ..pool import PoolError

    parser = argument_parser("linkpool setup system", DESCRIPTION,
                             pool=f"the machine's pool, an absolute path (default {SYSTEM_POOL})")
    parser.set_defaults(pool=SYSTEM_POOL)
    parser.add_argument("--slots", metavar="N", type=slots_value,
                        help="its number of slots (default: an existing pool's, else the "
                             "machine's capacity, as `linkpool doctor` shows it); an "
                             "existing pool is resized to N")
    parser.add_argument("--root", metavar="DIR", type=pool_value,
                        help="read and write every path under DIR instead of / (a scratch "
                             "root, an image being built); the files still name the host's "
                             "paths")
    parser.add_argument("--no-switch", action="store_true",
                        help="leave out the linker shims and COMPILER_PATH (step 4): builds "
                             "then reach the pool only through their own recipes")
    parser.add_argument("--install", action="store_true",
                        help="do it (as root); without it, only print what it would do")
    ns = parser.parse_args(args)
    pool = os.path.normpath(ns.pool)
    if not pool.startswith("/"):
        raise UsageError(f"setup system: --pool takes an absolute path, not {ns.pool!r}")
    root = os.path.abspath(ns.root) if ns.root else "/"
    if ns.install and root == "/" and os.geteuid() != 0:
        say("setup system --install writes in /run and /etc: run it as root (or with "
            "--root DIR to write under DIR)")
        return 1
    host, plan = Host(root), Plan(ns.install)
    try:
        made = pool_step(plan, host, pool, ns.slots)
        tmpfiles_step(plan, host, pool, made)
        config_step(plan, host, pool)
        boot_step(plan, host, pool, made)
        if not ns.no_switch:
            environment_step(plan, host, shims_step(plan, host, pool))
    except (PoolError, ConfigError) as e:
        say(f"setup system: {e}")
        return 1
    except OSError as e:
        say(f"setup system: {e.filename or ''}: {e.strerror} (run it as root, or with "
            f"--root DIR)")
        return 1
    print(f"linkpool setup system: one pool, {pool}, for every user, service and container "
          f"of this host" + (f" (under {root})" if root != "/" else ""))
    for what, path, state, detail in plan.lines:
        print(f"\n{what}: {path}" + (f"  [{state}]" if state else ""))
        for line in detail:
            print(f"    {line}")
    print()
    if not plan.changes:
        print("nothing to change: this host is set up already")
    elif ns.install:
        print(f"done: {plan.changes} change(s); `linkpool doctor` as any user shows whether "
              f"their links share {pool}")
    else:
        print(f"nothing written: run `linkpool setup system --install` as root to make the "
              f"{plan.changes} change(s) above")
    return 0
