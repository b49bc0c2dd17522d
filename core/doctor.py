"""``linkpool doctor``: check that the pool can work here, and say why, one line each.

    linkpool doctor [--pool DIR] [--json]

Each line is OK, WARN or FAIL, then what was checked and what was seen; a FAIL line ends
with the fix. The exit status is 0 when the pool is usable (OK and WARN only), else 1.
docs/troubleshooting.md explains every line. Nothing here creates or changes anything:
the pool directory is only listed, its files only probed with a non-blocking lock on a
read-only descriptor (as ``status`` does).
"""

from __future__ import annotations

import os
import stat

from .names import LINKER_NAMES, find_program

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

OK, WARN, FAIL = "OK", "WARN", "FAIL"
LINKERS = tuple(names[0] for names in LINKER_NAMES.values())  # ld.bfd ... ld.mold
OWN = ("pool.json", "queue.lock", "history.jsonl", "history.jsonl.1", "outputs", "policy")
KERNEL_FILESYSTEMS = frozenset({"proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs",
                                "securityfs", "devpts", "bpf", "configfs", "pstore"})
FOLDERS = ("outputs", "policy")  # the history's last record per output; the policy's summary


class Checks:
    """The lines found so far."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str]] = []

    def add(self, level: str, check: str, message: str) -> None:
        self.lines.append((level, check, message))

    @property
    def usable(self) -> bool:
        return all(level != FAIL for level, _, _ in self.lines)


def probe_inotify(polling: bool = False) -> tuple[bool, str]:
    """Whether this process can have an inotify instance, and why not (the waiting room's
    own probe). ``polling`` (the ``wakeup`` setting: ``LINKPOOL_WAKEUP=polling``, which
    also makes every waiter poll) makes it report none: that is how to see, and test, a
    machine without inotify."""
    from .waiting import probe_inotify as probe

    return probe(polling)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _user(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return f"uid {uid}"


def check_pool(c: Checks, path: str, source: str) -> dict[str, Any] | None:
    """The directory, its pool.json and its files, judged by the pool's own rules
    (:mod:`linkpool.pooldir`, :func:`linkpool.pool.read_config`); the pool's config if it
    has one."""
    from .pooldir import PoolBroken, PoolError, open_dir

    where = f"{path} ({source})"
    try:
        dirfd = open_dir(path, create=False, shared=False)
    except PoolBroken as e:  # a symlink, not a directory
        c.add(FAIL, "pool", f"{where}: {e}{_symlink_advice(path)}")
        return None
    except PoolError:  # missing
        _report_missing(c, path, where)
        return None
    except OSError as e:
        c.add(FAIL, "pool", f"{where} cannot be opened ({e.strerror}): check its permissions")
        return None
    try:
        seen = Checks()  # pool.json is read first (it says private or shared), shown second
        conf = _check_config(seen, dirfd, path)
        shared = bool(conf and conf["shared"])
        _check_dir(c, path, where, os.fstat(dirfd), shared)
        c.lines += seen.lines
        _check_files(c, dirfd, path, shared)
    finally:
        os.close(dirfd)
    if conf is not None and c.usable:
        _check_status(c, path)
    return conf


def _symlink_advice(path: str) -> str:
    if not os.path.islink(path):
        return ""
    real = os.path.realpath(path)
    return (f"; it points to {real}: use `--pool {real}`, or `rm {path}` and `linkpool init "
            f"--pool {path}` (whoever can change a link can redirect your locks)")


def _report_missing(c: Checks, path: str, where: str) -> None:
    parent = os.path.dirname(path)
    while parent and not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    why = None
    if parent and not os.access(parent, os.W_OK):
        why = "not writable"
    elif parent:
        from .waiting import fs_type

        kind = fs_type(os.path.realpath(parent))
        if kind in KERNEL_FILESYSTEMS:
            why = f"a {kind} filesystem, made by the kernel"
        elif os.statvfs(parent).f_flag & os.ST_RDONLY:
            why = "a read-only filesystem"
    if why:
        c.add(FAIL, "pool", f"{where} does not exist and cannot be made in {parent} "
                            f"({why}): choose another --pool or $LINKPOOL_DIR")
    else:
        c.add(OK, "pool", f"{where} does not exist yet: the first link makes it "
                          f"(or `linkpool init --pool {path}`)")


def _check_dir(c: Checks, path: str, where: str, st: os.stat_result, shared: bool) -> None:
    """The pool's verdict on the directory and its folder, with what doctor saw."""
    from .pooldir import PoolBroken, check_dir, check_parent

    mode, owner = stat.S_IMODE(st.st_mode), _user(st.st_uid)
    what = f"{where}: {'shared' if shared else 'private'}, owner {owner}, mode {mode:04o}"
    try:
        check_parent(path)
        check_dir(path, st, shared)
    except PoolBroken as e:
        c.add(FAIL, "pool", f"{what}: refused: {e}")
        return
    if shared and not mode & 0o002:
        c.add(WARN, "pool", f"{what}: other users cannot add their tickets: `chmod 1777 {path}`")
    else:
        c.add(OK, "pool", what)


def _check_config(c: Checks, dirfd: int, path: str) -> dict[str, Any] | None:
    """pool.json, read and judged by the pool's own reader."""
    from .pool import CONFIG, MissingConfig, PoolBroken, read_config

    try:
        conf = read_config(dirfd, path)
    except MissingConfig:
        c.add(WARN, CONFIG, "missing: the first link writes one with the default "
                            f"capacity (or `linkpool init --pool {path} --slots N`)")
        return None
    except PoolBroken as e:  # corrupt, a symlink, a newer protocol
        c.add(FAIL, CONFIG, str(e))
        return None
    except OSError as e:
        c.add(FAIL, CONFIG, f"cannot be read ({e.strerror}): check {path}/{CONFIG}")
        return None
    c.add(OK, CONFIG, f"{conf['slots']} slots, protocol {conf['protocol']}")
    return conf


def _check_files(c: Checks, dirfd: int, path: str, shared: bool) -> None:
    """Every name in the pool directory: linkpool's own, foreign, stale or refused."""
    try:
        names = sorted(os.listdir(dirfd))
    except OSError as e:
        c.add(FAIL, "files", f"cannot list {path} ({e.strerror}): check its permissions")
        return
    found: dict[str, list[str]] = {"slot": [], "bad": [], "foreign": [], "stale": [],
                                   "theirs": []}
    owner = os.fstat(dirfd).st_uid
    for name in names:
        kind, text = _look_at(dirfd, name, shared)
        if kind in found:
            found[kind].append(text)
        if shared and (kind == "slot" or name in ("pool.json", "queue.lock")):
            uid = _owner(dirfd, name)
            if uid is not None and uid not in (owner, 0):
                found["theirs"].append(f"{name} ({_user(uid)})")
    bad, foreign, stale = found["bad"], found["foreign"], found["stale"]
    if bad and shared:
        # In a shared pool another user may have put them there: links count such a slot
        # as never free and pass over such a ticket, so the pool still works, smaller.
        c.add(WARN, "files", f"hostile entries: {'; '.join(bad)}: links count such a slot as "
                             f"never free and pass over such a ticket; remove them (as root "
                             f"or their owner: `rm` in {path})")
    elif bad:
        c.add(FAIL, "files", f"{'; '.join(bad)}: linkpool refuses such files; remove them "
                             f"(`rm` in {path})")
    if found["theirs"]:
        c.add(WARN, "files", f"made by another user than the pool's owner: "
                             f"{', '.join(found['theirs'])}; that user can make them unusable "
                             f"to others; as root, remove them and run `linkpool init --shared "
                             f"{path}` to make them again")
    if foreign:
        c.add(WARN, "files", f"foreign files in the pool: {', '.join(foreign)}; linkpool "
                             f"ignores them, but its directory should hold only its own "
                             f"files: move them elsewhere")
    if stale:
        c.add(WARN, "files", f"stale: {', '.join(stale)}, left by a process that died; the next "
                             f"waiter clears tickets itself, or remove them with `rm`")
    if not (bad or foreign or stale or found["theirs"]):
        c.add(OK, "files", f"only linkpool's own ({len(found['slot'])} slot files)")


def _kind(name: str) -> str:
    """What a name in the pool is for: slot, ticket, temp, folder, own or foreign."""
    from .pool import CONFIG, SLOT, TICKET
    from .pooldir import number_of

    for prefix, kind in ((SLOT, "slot"), (TICKET, "ticket")):
        if number_of(name, prefix) >= 0:
            return kind
    if name.startswith(f"{CONFIG}.") and name.endswith(".tmp"):
        return "temp"
    if name in FOLDERS:
        return "folder"
    if name.startswith("user.") and name[5:].isascii() and name[5:].isdigit():
        return "folder"  # a shared pool: one user's history, outputs and policy
    return "own" if name in OWN else "foreign"


def _look_at(dirfd: int, name: str, shared: bool) -> tuple[str, str]:
    """(kind, what to say): kind is "slot", "bad", "foreign", "stale", or another kind
    that needs no word (one of linkpool's own files, or one gone meanwhile)."""
    from .pooldir import CONFIG, file_problem

    kind = _kind(name)
    if kind == "foreign":
        return kind, name
    if kind == "temp":  # pool.json.<pid>.tmp: a pool.json being written, or left by a death
        pid = name[len(CONFIG) + 1:-len(".tmp")]
        return ("stale" if pid.isdigit() and not _alive(int(pid)) else "own"), name
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except OSError:
        return "gone", name  # it went away meanwhile (a ticket that was served)
    if kind == "folder":
        return ("own", name) if stat.S_ISDIR(st.st_mode) else ("bad", f"{name} is not a directory")
    problem = file_problem(st, shared)  # the rule the pool opens its files by
    if problem:
        return "bad", f"{name} {problem} ({_user(st.st_uid)}'s)"
    if kind == "ticket" and _stale_ticket(dirfd, name):
        return "stale", name
    return kind, name


def _owner(dirfd: int, name: str) -> int | None:
    try:
        return os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_uid
    except OSError:
        return None


def _stale_ticket(dirfd: int, name: str) -> bool:
    """A ticket nobody holds, still there: its waiter died in line."""
    from .pool import peek

    if peek(dirfd, name)[0]:
        return False
    try:
        os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except OSError:
        return False  # served and removed meanwhile
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: someone else's live process
    return True


def _check_status(c: Checks, path: str) -> None:
    from .pool import Pool, PoolError

    try:
        with Pool.open(path, create=False) as pool:
            st = pool.status()
    except PoolError as e:
        c.add(FAIL, "pool", str(e))
        return
    c.add(OK, "in use", f"{st['in_use']} of {st['slots']} slots held, {st['waiting']} waiting")
    # Who holds, as the kernel says (/proc/locks), not as the notes say: a slot held by
    # another user for ever, by any lock, cannot be prevented in a shared pool, only shown.
    me = os.geteuid()
    others = []
    for h in st["holders"]:
        for b in h.get("lockers", []):
            if b["uid"] != me:
                others.append((f"slot {h['slot_indices'][0]}", b, f"as {h.get('pid', '?')}"))
    for u in st.get("unknown", []):
        for b in u["lockers"]:
            if b["uid"] == me:
                continue
            others.append((f"slot {u['slot']}", b, "with no note"))
    for u in st.get("unknown_tickets", []):
        for b in u["lockers"]:
            if b["uid"] == me:
                continue
            others.append((f"wait.{u['ticket']}", b, "with no note"))
    if others:
        said = "; ".join(f"{i}: {_user(b['uid']) if b['uid'] is not None else '?'} "
                         f"pid {b['pid']} ({b['lock']} lock, {how})" for i, b, how in others)
        level = WARN if any(how == "with no note" or b["lock"] != "write"
                            for _, b, how in others) else OK
        c.add(level, "holders", f"held by other users: {said}; a slot held for ever can only "
                                f"be freed by its holder (or root: kill the pid)")


def check_wakeup(c: Checks, path: str, polling: bool) -> None:
    """The filesystem under the pool, inotify, and how a waiter wakes (``polling``: forced)."""
    from .waiting import Waiter, fs_type, network_fs

    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    fs = fs_type(os.path.realpath(probe or "/"))
    if network_fs(fs):
        c.add(WARN, "filesystem", f"{fs}: closes by other machines are not reported, so waiters "
                                  f"poll (up to 50 ms late); put the pool on a local "
                                  f"filesystem such as /tmp unless hosts share it on purpose")
    elif fs == "tmpfs":
        c.add(OK, "filesystem", "tmpfs: local and fast; note that the pool and its history "
                                "are gone after a reboot (the next link makes a new one)")
    elif fs:
        c.add(OK, "filesystem", f"{fs}: local, inotify sees every release")
    else:
        c.add(WARN, "filesystem", "type unknown (/proc/self/mountinfo unreadable)")
    limits = (f"max_user_instances {_read('/proc/sys/fs/inotify/max_user_instances')}, "
              f"max_user_watches {_read('/proc/sys/fs/inotify/max_user_watches')}")
    works, why = probe_inotify(polling)
    if works:
        c.add(OK, "inotify", f"{why} ({limits}; only the head of a pool's line uses one)")
    else:
        c.add(WARN, "inotify", f"unavailable: {why} ({limits}); waiters fall back to polling")
    mode = Waiter.mode_for(path, polling)
    if mode == "inotify" and works:
        c.add(OK, "wake-up", "inotify: a released slot wakes the head of the line at once")
    elif mode == "polling (forced)":
        c.add(WARN, "wake-up", "polling (forced by LINKPOOL_WAKEUP=polling): waits end up to "
                               "50 ms late; unset LINKPOOL_WAKEUP to wake by inotify")
    else:
        fix = "raise fs.inotify.max_user_instances" if mode == "inotify" else \
            "a pool on a local filesystem wakes by inotify"
        c.add(WARN, "wake-up", f"polling ({fs if mode != 'inotify' else 'no inotify'}): waits "
                               f"end up to 50 ms late; {fix}")


def check_machine(c: Checks, path: str, conf: dict[str, Any] | None) -> None:
    from .capacity import SLOT_MIN_MEMORY, default_slots, read_machine

    m = read_machine()
    c.add(OK, "cores", f"{m.cores:g} usable ({m.sources[0]}; {m.sources[1]})")
    gib = SLOT_MIN_MEMORY
    if m.memory is None:
        c.add(WARN, "memory", f"unknown ({m.sources[2]}; {m.sources[3]}): N counts cores only")
        why = f"floor({m.cores:g} cores)"
    else:
        c.add(OK, "memory", f"{m.memory / gib:.1f} GiB usable ({m.sources[2]}; {m.sources[3]})")
        why = f"min(floor({m.cores:g} cores), {m.memory / gib:.1f} GiB / 1 GiB)"
    d = default_slots(m)
    n = conf.get("slots") if conf else None
    if n is None:
        c.add(OK, "capacity", f"a new pool gets {d} slots = {why}")
    elif n == d:
        c.add(OK, "capacity", f"the pool's {n} slots are this machine's default, {why}")
    elif n > d:
        c.add(WARN, "capacity", f"the pool has {n} slots, more than this machine's default "
                                f"{d} = {why}: links may oversubscribe it; "
                                f"`linkpool init --pool {path} --slots {d}`")
    else:
        c.add(OK, "capacity", f"the pool has {n} slots, fewer than this machine's default "
                              f"{d} = {why} (chosen with `linkpool init --slots`); links may wait "
                              f"while cores are idle")


def check_linkers(c: Checks) -> None:
    import subprocess

    from .linkers import VERSION_TIMEOUT

    missing = []
    for name in LINKERS:
        path = find_program(name)
        if path is None:
            missing.append(name)
            continue
        try:
            done = subprocess.run([path, "--version"], capture_output=True, text=True,
                                  timeout=VERSION_TIMEOUT, stdin=subprocess.DEVNULL,
                                  env={**os.environ, "LC_ALL": "C"}, check=False)
            first = next((ln for ln in (done.stdout or done.stderr).splitlines() if ln.strip()),
                         "no version")
            c.add(OK, "linker", f"{name}: {path}: {first.strip()}")
        except (OSError, subprocess.SubprocessError) as e:
            c.add(WARN, "linker", f"{name}: {path} does not run ({e}); fix or remove it")
    if len(missing) == len(LINKERS) and find_program("ld") is None:
        c.add(WARN, "linker", "no linker on PATH: links will fail with or without linkpool")
    elif missing:
        c.add(OK, "linker", f"not on PATH: {', '.join(missing)} (optional)")
    jobs = os.environ.get("MOLD_JOBS")
    if jobs is not None:
        c.add(WARN, "MOLD_JOBS", f"MOLD_JOBS={jobs} is set: mold then also takes its own "
                                 f"machine-wide lock, which serialises mold links on top of "
                                 f"the pool; unset MOLD_JOBS and let the pool limit links")
    else:
        c.add(OK, "MOLD_JOBS", "not set: mold links wait only for the pool")


#: The variables whose flags reach a gcc/clang link (a -B or --ld-path there bypasses).
FLAG_VARIABLES = ("LDFLAGS", "CFLAGS", "CXXFLAGS", "CPPFLAGS")


def check_route(c: Checks, env: Mapping[str, str]) -> None:
    """Whether links in this environment reach the pool, and by which route: the
    COMPILER_PATH shims (asked of the real drivers), a launcher in CC/CXX or -B shims in
    LDFLAGS; and what in effect bypasses the shims (docs/shims.md)."""
    from .shims import compiler_path_shims, read_shim_file

    shims, before = compiler_path_shims(env)
    for entry in before:
        c.add(WARN, "route", f"{entry} comes before the shims in COMPILER_PATH and has a "
                             f"linker of its own: gcc and clang run it, not linkpool; put "
                             f"the shims first")
    if shims:
        target = os.path.join(shims, "ld")
        if os.path.islink(target) and not os.path.exists(target):
            c.add(WARN, "route", f"the shims in {shims} link to {os.readlink(target)}, which "
                                 f"is gone: links bypass the pool; run `linkpool setup shims "
                                 f"--dir {shims}` again")
        else:
            pool = read_shim_file(shims).get("pool")
            drivers = _drivers_through(shims, env)
            if drivers:
                c.add(OK, "route", f"the COMPILER_PATH shims in {shims}: every link "
                                   f"{' and '.join(drivers)} drive{'s' * (len(drivers) == 1)} "
                                   f"waits in " + (f"pool {pool}" if pool else
                                                   "the pool above"))
            else:
                c.add(WARN, "route", f"COMPILER_PATH names the shims in {shims}, but no gcc "
                                     f"or clang on PATH runs them (-print-prog-name=ld)")
        _check_bypasses(c, env)
    launchers = [f"{name}={env[name]}" for name in ("CC", "CXX")
                 if "linkpool" in os.path.basename(env.get(name, "").split(" ")[0])]
    if launchers:
        c.add(OK, "route", f"a launcher: {', '.join(launchers)}")
    if not shims and not launchers:
        c.add(OK, "route", "not switched on in this environment: a link reaches the pool "
                           "only through its build's own recipe (a native file, a launcher, "
                           "`linkpool ninja`); `export COMPILER_PATH=$(linkpool setup shims)` "
                           "routes every gcc/clang link")


def _drivers_through(shims: str, env: Mapping[str, str]) -> list[str]:
    """The drivers on PATH (gcc, clang) whose linker, asked of them, is one of the shims."""
    import subprocess

    through = []
    real_shims = os.path.realpath(shims)
    for driver in ("gcc", "clang"):
        path = find_program(driver, env.get("PATH"))
        if path is None:
            continue
        try:
            done = subprocess.run([path, "-print-prog-name=ld"], capture_output=True,
                                  text=True, timeout=30, env=dict(env), check=False,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            continue
        ld = done.stdout.strip()
        if ld and os.path.realpath(os.path.dirname(ld)) == real_shims:
            through.append(driver)
    return through


def _check_bypasses(c: Checks, env: Mapping[str, str]) -> None:
    """What a gcc/clang link of this environment would run instead of the shims: a -B
    directory with a linker of its own, clang's --ld-path, -fuse-ld=/path, rustc's own
    rust-lld."""
    import shlex

    from .shims import NAMES, is_shim

    for var in FLAG_VARIABLES:
        try:
            words = shlex.split(env.get(var, ""))
        except ValueError:
            continue
        for i, word in enumerate(words):
            folder = word[2:] if word.startswith("-B") else None
            if word == "-B" and i + 1 < len(words):
                folder = words[i + 1]
            if folder:
                own = [n for n in NAMES if os.path.isfile(os.path.join(folder, n))
                       and not is_shim(os.path.join(folder, n))]
                if own:
                    c.add(WARN, "route", f"{var} has -B{folder}, whose {own[0]} gcc and clang "
                                         f"run before COMPILER_PATH: those links bypass the "
                                         f"pool")
            if word.startswith("--ld-path=") or (word.startswith("-fuse-ld=/")):
                c.add(WARN, "route", f"{var} has {word}: clang runs that linker by its path, "
                                     f"not through the shims; use -fuse-ld=NAME (lld, mold) "
                                     f"instead")
    _check_rust(c, env)


def _check_rust(c: Checks, env: Mapping[str, str]) -> None:
    """rustc 1.90 and later links x86-64 Linux with its own rust-lld, through a -B
    directory of its own that gcc searches before COMPILER_PATH."""
    import subprocess

    rustc = env.get("RUSTC") or find_program("rustc", env.get("PATH"))
    if not rustc:
        return
    try:
        done = subprocess.run([rustc, "-vV"], capture_output=True, text=True, timeout=30,
                              env=dict(env), check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return
    release = rust_lld_release(done.stdout, env.get("RUSTFLAGS", ""))
    if release:
        c.add(WARN, "route", f"{rustc} ({release}) links with its own rust-lld, not through "
                             f"the shims: set RUSTFLAGS=-Clinker-features=-lld (or use "
                             f"`linkpool setup cargo`) for Cargo's links to wait in the pool")


def rust_lld_release(version_text: str, rustflags: str) -> str | None:
    """The release of a rustc whose ``-vV`` is ``version_text`` when it links with its
    own rust-lld (1.90 or later, host x86_64-unknown-linux-gnu, not opted out with
    ``-Clinker-features=-lld`` in ``rustflags``); else None."""
    if "linker-features=-lld" in rustflags.replace(" ", ""):
        return None
    info = dict(line.partition(": ")[::2] for line in version_text.splitlines())
    release = info.get("release", "")
    try:
        major, minor = (int(n) for n in release.split("-")[0].split(".")[:2])
    except ValueError:
        return None
    if (major, minor) >= (1, 90) and info.get("host") == "x86_64-unknown-linux-gnu":
        return release
    return None


def check_settings(c: Checks, pool: str | None) -> tuple[Any, bool]:
    """The config files and every setting, checked by the settings table: the settings
    (a wrong one at its default), and whether the ``pool`` setting a link would use is
    right."""
    from .configfile import ConfigError, config_file, named_missing, read, system_files
    from .settings import resolve

    where = config_file()
    layers = []
    for path, origin in [(where, "file")] + [(p, "system") for p in system_files()]:
        what = "" if origin == "file" else "system file "
        try:
            table = read(path, origin == "system", named_missing() if origin == "file" else None)
        except ConfigError as e:
            c.add(FAIL, "config", f"{e}; until then linkpool's subcommands stop with exit 2 "
                                  f"and links run without the pool")
            table = {}
        else:
            c.add(OK, "config", f"{what}{path}{'' if os.path.exists(path) else ' (not present)'}")
        layers.append((path, origin, table))
    problems: list[tuple[str, str]] = []
    settings = resolve({"pool": pool}, layers=layers, problems=problems)
    from .configcmd import unknown_keys
    from .hooks import installed

    for _, line in unknown_keys(layers, installed(settings)):
        c.add(WARN, "config", line)
    for _, line in problems:
        c.add(FAIL, "setting", f"{line}: fix or remove it; until then linkpool's subcommands "
                               f"stop with exit 2 and links run without the pool")
    check_plugin_folders(c, settings.plugin_path)
    setting = settings["pool"]
    if any(name == "pool" for name, _ in problems):
        return settings, False
    given = setting.given
    if setting.origin in ("file", "system") and isinstance(given, str) and \
            not os.path.isabs(os.path.expanduser(given)):
        c.add(WARN, "setting", f"{setting.source}: 'pool' is the relative path {given!r}, taken "
                               f"from the config file's folder: {setting.value}; write that "
                               f"absolute path in the file to say so plainly")
    return settings, True


def check_plugin_folders(c: Checks, folders: Any) -> None:
    """Every folder of the plugin path, and the plugin cache's: links import nothing from
    one that someone other than root and this user could write (nor read the cache)."""
    from .cache import cache_dir
    from .configfile import untrusted

    cache = cache_dir()
    for folder in [*folders, *([cache] if cache is not None else [])]:
        if not os.path.isdir(folder):
            continue
        wrong = untrusted(folder)
        if wrong is None:
            c.add(OK, "plugins", f"{folder}: only root and you can write it")
        else:
            what, who, fix = wrong
            c.add(FAIL, "plugins", f"{folder} {what}, so {who} could run code as you: links "
                                   f"do not load its plugins (or cache) until `{fix}`")


def _same(a: str, b: str) -> bool:
    """Whether two pool paths are one directory (a bind mount of it counts)."""
    if os.path.normpath(a) == os.path.normpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_sharing(c: Checks, path: str, conf: dict[str, Any] | None, setting: Any,
                  layers: list[Any]) -> None:
    """Whether this user's links share the machine's pool (the one a system config file
    names, else /run/linkpool if it exists) or a pool of their own, and why."""
    from .configfile import SYSTEM_POOL
    from .settings import resolve

    system = resolve(env={}, layers=[x for x in layers if x[1] == "system"], problems=[])
    named = system["pool"] if system["pool"].origin == "system" else None
    machine = named.value if named else SYSTEM_POOL if os.path.isdir(SYSTEM_POOL) else None
    kind = "shared" if conf and conf.get("shared") else "private"
    if machine is None:
        if kind == "shared":
            c.add(OK, "sharing", f"your links use the shared pool {path} ({setting.source})")
        else:
            c.add(OK, "sharing", f"your links use a private pool, {path}: they wait only for "
                                 f"your own links (no system config file names a pool and "
                                 f"{SYSTEM_POOL} does not exist; on a shared host, see "
                                 f"`linkpool setup system`)")
        return
    whose = f"named by the system config {named.source}" if named else \
        "which exists, but no config file names it"
    if _same(path, machine):
        if not named:
            whose = f"{setting.source} names it; no system config file does"
        if not os.path.isdir(path):
            c.add(WARN, "sharing", f"your links would share the machine's pool {path} ({whose}), "
                                   f"but it does not exist (gone after a reboot?): as root, "
                                   f"`linkpool setup system --install --pool {path}` or "
                                   f"`linkpool init --shared {path}`")
        else:
            c.add(OK, "sharing", f"your links share the machine's pool {path} ({whose})")
        return
    user = next((x[0] for x in layers if x[1] == "file"), "your config file")
    if setting.origin == "cli":
        why = f"--pool {setting.given} overrides it; leave --pool out to share it"
    elif setting.origin == "env":
        why = ("$LINKPOOL_DIR overrides the system config's pool" if named else
               "$LINKPOOL_DIR names another pool") + "; unset LINKPOOL_DIR to share it"
    elif setting.origin == "file":
        why = (f"your config file {setting.source} sets pool" +
               (", which overrides the system config's" if named else "") +
               "; remove that line to share it")
    else:  # the per-user default: no file names the machine's pool
        why = (f"ask the administrator to run `linkpool setup system --install`, or write "
               f"pool = \"{machine}\" in {user}")
    c.add(WARN, "sharing", f"your links use {'a' if kind == 'private' else 'the'} {kind} pool "
                           f"{path}, not the machine's pool {machine} ({whose}): {why}")


def run(pool: str | None) -> tuple[str, Checks]:
    c = Checks()
    settings, pool_right = check_settings(c, pool)
    if not pool_right:
        from .pooldir import default_path

        path = default_path()  # for the checks of the machine
        c.add(FAIL, "pool", "not checked: the `pool` setting is wrong (see above), so links "
                            "run without a pool")
        conf = None
    else:
        setting = settings["pool"]
        path = os.path.abspath(setting.value)
        before = len(c.lines)
        conf = check_pool(c, path, setting.source)
        pool_right = all(level != FAIL for level, _, _ in c.lines[before:])
        if pool_right:  # else links run without it: nothing is claimed of it
            check_sharing(c, path, conf, setting, settings.layers)
    before = len(c.lines)
    check_wakeup(c, path, settings.polling)
    if not pool_right:  # inotify is the machine's; the filesystem and wake-up, the pool's
        c.lines[before:] = [line for line in c.lines[before:] if line[1] == "inotify"]
    check_machine(c, path, conf)
    check_linkers(c)
    check_route(c, os.environ)
    return path, c


DESCRIPTION = """\
Check that the pool can work here, and say why, one line each: the config file and every
setting, the pool directory (owner, mode, pool.json, its files, who holds slots), the
filesystem and how waiters wake, the machine's cores and memory against the pool's
capacity, and the linkers on PATH. Each line is OK, WARN or FAIL; a FAIL line ends with
the fix (docs/troubleshooting.md explains each). Changes nothing; never creates a pool.

Exit status: 0 when the pool is usable (OK and WARN only), 1 otherwise, 2 for a usage
error.
"""


def main(args: Sequence[str]) -> int:
    from .configfile import argument_parser

    parser = argument_parser("linkpool doctor", DESCRIPTION,
                             pool="check this pool (default: the one `linkpool run` would use: "
                                  "$LINKPOOL_DIR, else `pool` in the config file, else the "
                                  "per-user default)")
    parser.add_argument("--json", action="store_true",
                        help='print {"pool", "usable", "checks": [{"level", "check", '
                             '"message"}]} as JSON')
    ns = parser.parse_args(list(args))
    path, c = run(ns.pool)
    if ns.json:
        import json

        print(json.dumps({"pool": path, "usable": c.usable, "checks": [
            {"level": level, "check": check, "message": message}
            for level, check, message in c.lines]}, indent=2))
    else:
        for level, check, message in c.lines:
            print(f"{level:<4}  {check}: {message}")
        warnings = sum(1 for level, _, _ in c.lines if level == WARN)
        verdict = "usable" if c.usable else "NOT usable: fix the FAIL lines"
        print(f"\npool {path}: {verdict} ({warnings} warning{'s' * (warnings != 1)})")
    return 0 if c.usable else 1
