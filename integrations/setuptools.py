"""``linkpool setup setuptools``: the environment that puts setuptools' links behind linkpool.

    eval "$(linkpool setup setuptools)"      # then: pip wheel . / pip install . / python -m build

setuptools (and the distutils it carries) builds an extension module with the commands
Python was built with, from ``sysconfig``, each of which the environment can replace:
``LDSHARED`` links a C extension; ``CXX`` compiles C++ and drives a C++ extension's link,
whose flags setuptools 72.2 and later take from ``LDCXXSHARED`` (what follows its first
words, the compiler) and older ones from ``LDSHARED`` (what follows ``CC``). So linkpool
goes in front of all four, ``CC``, ``CXX``, ``LDSHARED`` and ``LDCXXSHARED``: with
``LDSHARED`` alone a C++ extension is linked without linkpool, and with ``LDCXXSHARED``
alone setuptools keeps ``g++`` as an argument of the link, which then fails. Compiles pass
through linkpool without a slot.

The values are this machine's own: the ``sysconfig`` of ``--python`` (default: ``python3``
on ``PATH``, the Python ``pip`` usually builds with), with ``CC``, ``CXX``, ``LDSHARED`` and
``LDCXXSHARED`` from the environment applied the way setuptools applies them (``CC``
replaces the start of ``LDSHARED``). pip's build isolation passes the environment on to
the build backend, so the variables reach it. A value that already starts with linkpool
is kept as it is, so running the command twice changes nothing.

Python's own distutils (Python 3.11 and older, with ``SETUPTOOLS_USE_DISTUTILS=stdlib`` or
setuptools before 60) links a C++ extension with ``LDSHARED`` whose first word it replaces
by ``CXX``'s: with linkpool in front of both, that leaves ``gcc`` linking C++, and the
module fails to import. ``--shims DIR`` serves every version instead: it writes linker
shims (those of ``linkpool setup meson``) into ``DIR`` and prints ``LDFLAGS`` with
``-BDIR``, which distutils adds to every link, so the driver runs the linker through
linkpool and no command changes.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from typing import NoReturn

from . import find_linkpool

#: The sysconfig variables setuptools' Unix compiler starts from.
CONFIG_VARS = ("CC", "CXX", "LDSHARED", "LDCXXSHARED")
#: The variables printed.
EXPORTS = ("CC", "CXX", "LDSHARED", "LDCXXSHARED")
_QUERY = ("import json, sysconfig; "
          f"print(json.dumps([sysconfig.get_config_var(n) for n in {list(CONFIG_VARS)!r}]))")


def _fail(message: str) -> NoReturn:
    from ..configfile import UsageError

    raise UsageError(message)


DESCRIPTION = """\
Print the CC, CXX, LDSHARED and LDCXXSHARED settings (as export lines for a POSIX shell)
that make setuptools link every C and C++ extension through linkpool. Use:
eval "$(linkpool setup setuptools)"; pip wheel .
"""


def setup(args: list[str]) -> int:
    """Print ``export NAME='VALUE'`` lines for a POSIX shell; 0 (a usage error: exit 2)."""
    from ..configfile import argument_parser

    parser = argument_parser("linkpool setup setuptools", DESCRIPTION)
    parser.add_argument("--pool", metavar="DIR",
                        help="the pool the links wait in, written into the values (default: "
                             "$LINKPOOL_DIR, the config or the per-user default, read at "
                             "link time)")
    parser.add_argument("--python", metavar="PYTHON",
                        help="the Python whose sysconfig gives the commands: the one that "
                             "will build the extensions (default: python3 on PATH)")
    parser.add_argument("--shims", metavar="DIR",
                        help="instead, write linker shims into DIR and print LDFLAGS with "
                             "-BDIR: for Python's own distutils (SETUPTOOLS_USE_DISTUTILS="
                             "stdlib, setuptools < 60), and any other build that links "
                             "through gcc or clang")
    ns = parser.parse_args(args)
    if ns.shims:
        print(f"export LDFLAGS={shlex.quote(shim_ldflags(ns.shims, ns.pool))}")
        return 0
    config = config_vars(ns.python)
    values = variables(config, os.environ, launcher(ns.pool))
    for name in EXPORTS:
        print(f"export {name}={shlex.quote(values[name])}")
    return 0


def shim_ldflags(directory: str, pool: str | None) -> str:
    """Write the linker shims into ``directory``; ``$LDFLAGS`` with ``-B<directory>``."""
    from ..shims import ShimError, write

    shim_dir = os.path.abspath(directory)
    try:
        write(shim_dir, os.path.abspath(pool) if pool else None)
    except ShimError as e:
        _fail(f"setup setuptools: {e}")
    flag = "-B" + shim_dir
    ldflags = os.environ.get("LDFLAGS", "").strip()
    if flag in ldflags.split():
        return ldflags
    return f"{ldflags} {flag}".strip()


def launcher(pool: str | None = None) -> list[str]:
    """``linkpool``, or ``linkpool run --pool DIR --``, with linkpool's absolute path."""
    program = find_linkpool() or "linkpool"
    return [program, "run", "--pool", os.path.abspath(pool), "--"] if pool else [program]


def config_vars(python: str | None) -> dict[str, str]:
    """``CC``, ``CXX``, ``LDSHARED``, ``LDCXXSHARED`` of ``python``'s sysconfig."""
    exe = python or shutil.which("python3") or sys.executable
    if python and os.sep not in python:
        exe = shutil.which(python) or python
    try:
        # -I: the build's PYTHONPATH or PYTHONHOME must not change what this Python says
        done = subprocess.run([exe, "-I", "-c", _QUERY], capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        _fail(f"cannot run {exe} to read its sysconfig ({e}); name a Python with --python")
    try:
        values = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != len(CONFIG_VARS):
        _fail(f"{exe} did not report its sysconfig (exit {done.returncode}); "
              "name a CPython with --python")
    found = {name: value for name, value in zip(CONFIG_VARS, values) if isinstance(value, str)}
    for name in ("CC", "CXX", "LDSHARED"):
        if not found.get(name):
            _fail(f"{exe} has no {name} in its sysconfig: it was not built with a Unix "
                  "C compiler, and setuptools would not use one either")
    found.setdefault("LDCXXSHARED", found["CXX"] + " -shared")
    return found


def variables(config: dict[str, str], env: Mapping[str, str],
              prefix: list[str]) -> dict[str, str]:
    """``CC``, ``CXX``, ``LDSHARED`` and ``LDCXXSHARED`` as setuptools would read them from
    ``config`` and ``env``, each with ``prefix`` (the launcher) in front.

    setuptools puts ``$CC`` in place of sysconfig's compiler at the start of
    ``LDSHARED`` when only ``CC`` is set; the same is done here for ``$CXX`` and
    ``LDCXXSHARED``, because setuptools keeps of ``LDCXXSHARED`` only what follows the
    words of ``$CXX``: both must start with the same words, launcher included.
    """
    ldshared = config["LDSHARED"]
    if "LDSHARED" in env:
        ldshared = env["LDSHARED"]
    elif "CC" in env and ldshared.startswith(config["CC"]):
        ldshared = env["CC"] + ldshared[len(config["CC"]):]
    cc = env.get("CC", config["CC"])
    cxx = env.get("CXX", config["CXX"])
    ldcxxshared = config["LDCXXSHARED"]
    if "LDCXXSHARED" in env:
        ldcxxshared = env["LDCXXSHARED"]
    elif "CXX" in env and ldcxxshared.startswith(config["CXX"]):
        ldcxxshared = env["CXX"] + ldcxxshared[len(config["CXX"]):]
    return {"CC": _prefixed(cc, prefix), "CXX": _prefixed(cxx, prefix),
            "LDSHARED": _prefixed(ldshared, prefix),
            "LDCXXSHARED": _prefixed(ldcxxshared, prefix)}


def _prefixed(command: str, prefix: list[str]) -> str:
    """``command`` with the launcher in front, unless it already starts with linkpool."""
    try:
        first = shlex.split(command)[:1]
    except ValueError:
        first = command.split()[:1]
    if first and os.path.basename(first[0]) == "linkpool":
        return command
    return " ".join([*(shlex.quote(word) for word in prefix), command.strip()])
