"""``linkpool setup cargo``: a linker for rustc and Cargo that links through linkpool.

    eval "$(linkpool setup cargo)"            # then: cargo build
    linkpool setup cargo --format toml >> .cargo/config.toml
    rustc -C linker="$(linkpool setup cargo --format path)" main.rs

rustc does not link by itself: on Linux it runs a C compiler driver, ``cc`` unless told
otherwise, with its objects and rlibs. ``-C linker=PROGRAM`` (``[target.TRIPLE] linker``
in ``.cargo/config.toml``, or ``CARGO_TARGET_<TRIPLE>_LINKER``) names another program,
but only one program, without arguments. So this command writes a small shim, a POSIX
sh script in the shim directory::

    exec /path/to/linkpool run [--pool DIR] -- /usr/bin/cc "$@"

with the real driver (``--linker``, default ``cc``) resolved on ``PATH`` now, never a
shim, and prints the setting that names it for the target triple (``--target``, default
the host of ``rustc -vV``). Cargo uses a target's linker for build scripts too when no
``--target`` is given, since host and target are then the same. If linkpool is no longer
where the shim says (uninstalled, moved), the shim runs the driver itself, after a
``linkpool: warning:`` line, so a link never fails because of it.

The shim is named ``cc``, so rustc still takes the linker for a gcc-style driver.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from typing import NoReturn

from ..shims import SCRIPT_MARK, find_real_linker, is_shim
from . import linkpool_command

FORMATS = ("env", "toml", "path")
SHIM_NAME = "cc"


def _fail(message: str) -> NoReturn:
    from ..configfile import UsageError

    raise UsageError(message)


def default_shim_dir() -> str:
    """``$XDG_DATA_HOME/linkpool/cargo``, else ``~/.local/share/linkpool/cargo``."""
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "linkpool", "cargo")


DESCRIPTION = """\
Write a linker shim that runs rustc's links through linkpool, and print the setting that
makes Cargo use it. Use: eval "$(linkpool setup cargo)"; cargo build
"""


def setup(args: list[str]) -> int:
    """Write the shim and print the setting that names it; 0 (a usage error: exit 2)."""
    from ..configfile import argument_parser

    parser = argument_parser("linkpool setup cargo", DESCRIPTION)
    parser.add_argument("--format", choices=FORMATS, default="env",
                        help="what to print: an export line for CARGO_TARGET_<TRIPLE>_LINKER "
                             "(env, the default), a [target.TRIPLE] table for "
                             ".cargo/config.toml (toml), or only the shim's path, for "
                             "rustc -C linker=PATH (path)")
    parser.add_argument("--target", metavar="TRIPLE",
                        help="the target triple the setting is for (default: the host "
                             "triple of `rustc -vV`, rustc being $RUSTC or rustc on PATH)")
    parser.add_argument("--linker", metavar="PROGRAM", default="cc",
                        help="the driver rustc would link with and the shim runs "
                             "(default: cc)")
    parser.add_argument("--pool", metavar="DIR",
                        help="the pool the links wait in, written into the shim (default: "
                             "$LINKPOOL_DIR, the config or the per-user default, read at "
                             "link time)")
    parser.add_argument("--shim-dir", metavar="DIR",
                        help="where the shim goes (default: $XDG_DATA_HOME/linkpool/cargo, "
                             "else ~/.local/share/linkpool/cargo)")
    ns = parser.parse_args(args)
    shim_dir = os.path.abspath(ns.shim_dir or default_shim_dir())
    pool = os.path.abspath(ns.pool) if ns.pool else None
    real = resolve_linker(ns.linker, shim_dir)
    triple = None if ns.format == "path" else (ns.target or host_triple())
    shim = os.path.join(shim_dir, SHIM_NAME)
    write_shim(shim, real, linkpool_command(), pool)
    if ns.format == "path":
        print(shim)
    elif ns.format == "toml":
        print(f"[target.{_toml_string(triple or '')}]")
        print(f"linker = {_toml_string(shim)}")
    else:
        print(f"export {env_name(triple or '')}={shlex.quote(shim)}")
    return 0


def resolve_linker(name: str, shim_dir: str) -> str:
    """The absolute path of the driver ``name`` (on ``PATH`` unless it has a slash)."""
    if os.sep in name:
        path = os.path.abspath(name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            _fail(f"--linker {name} is not an executable file")
        if is_shim(path):
            _fail(f"--linker {name} is a linkpool shim; name the real driver")
        return path
    found = find_real_linker(name, shim_dir)
    if found is None:
        _fail(f"no {name} on PATH (rustc links with it); install gcc, or name the "
              "driver with --linker")
    return found


def host_triple() -> str:
    """The host triple rustc reports (``host: x86_64-unknown-linux-gnu`` in ``-vV``)."""
    rustc = os.environ.get("RUSTC") or shutil.which("rustc")
    if not rustc:
        _fail("no rustc on PATH to ask for the host triple; give --target TRIPLE")
    try:
        done = subprocess.run([rustc, "-vV"], capture_output=True, text=True, timeout=60,
                              check=False)
    except (OSError, subprocess.SubprocessError) as e:
        _fail(f"cannot run {rustc} -vV ({e}); give --target TRIPLE")
    for line in done.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "host" and value.strip():
            return value.strip()
    _fail(f"{rustc} -vV named no host triple; give --target TRIPLE")


def env_name(triple: str) -> str:
    """Cargo's variable for a target's linker: ``CARGO_TARGET_<TRIPLE>_LINKER``, the
    triple in capitals with every other character an underscore."""
    name = "".join(c if c.isalnum() else "_" for c in triple.upper())
    return f"CARGO_TARGET_{name}_LINKER"


def shim_script(real: str, launcher: list[str], pool: str | None) -> str:
    """A POSIX sh script: ``real`` with its arguments through linkpool, or without it if
    linkpool is gone."""
    run = [*launcher, "run", *(["--pool", pool] if pool else []), "--", real]
    program = shlex.quote(launcher[0])
    gone = (f"linkpool: warning: {launcher[0]} is missing; linking without linkpool "
            "(run `linkpool setup cargo` again)")
    return (
        "#!/bin/sh\n"
        f"{SCRIPT_MARK.decode()} cargo -> {real} (written by `linkpool setup cargo`; do not edit)\n"
        f"if [ -x {program} ]; then\n"
        f'    exec {" ".join(shlex.quote(word) for word in run)} "$@"\n'
        "fi\n"
        f"echo {shlex.quote(gone)} >&2\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )


def write_shim(path: str, real: str, launcher: list[str], pool: str | None) -> None:
    """Write the shim at ``path`` atomically, executable."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            file.write(shim_script(real, launcher, pool))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _toml_string(text: str) -> str:
    """A TOML basic string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped) + '"'
