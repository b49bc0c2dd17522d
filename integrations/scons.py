"""SCons tool: every link of an environment goes through linkpool.

    from linkpool.integrations import scons as linkpool_scons

    env = Environment()
    env.Tool("linkpool", toolpath=[linkpool_scons.toolpath()])
    # or: env = Environment(tools=["default", linkpool_scons.generate])

The tool puts ``$LINKPOOL`` in front of ``$LINKCOM``, ``$SHLINKCOM`` and ``$LDMODULECOM``
(programs, shared libraries, loadable modules), inside ``$( $)`` so that the launcher is
not part of any target's build signature: turning the tool on in a tree that is already
built relinks nothing. ``$LINK`` is left alone (``$SHLINK`` and ``$LDMODULE`` expand to it,
so prefixing it would name the launcher twice), and so is ``$ARCOM``: making a static
archive is not a link. ``$LINKPOOL`` defaults to the absolute path of the ``linkpool``
command found next to this Python or on ``PATH``; set it (a path, or a command such as
``"linkpool run --pool /srv/pool --"``) before or after loading the tool to override it.

SCons runs commands in ``env["ENV"]``, not in the caller's environment, so the tool copies
the variables that choose the pool and its settings (``LINKPOOL_*``, ``XDG_*``, ``HOME``)
into ``env["ENV"]`` unless they are set there already.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import find_linkpool

#: The link command lines the tool wraps: programs, shared libraries, loadable modules.
LINK_COMMANDS = ("LINKCOM", "SHLINKCOM", "LDMODULECOM")
#: What goes in front of each: the launcher, excluded from build signatures.
PREFIX = "$( $LINKPOOL $) "
#: Variables linkpool reads that SCons would otherwise not pass to the commands it runs.
PASSED_ON = ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
#: The ``linkpool`` package, for the tool shim to restore (see site_scons/site_tools).
PACKAGE = sys.modules[__name__.split(".")[0]]




def toolpath() -> str:
    """The folder holding the ``linkpool`` SCons tool, for ``env.Tool(..., toolpath=[...])``."""
    here = os.path.dirname(os.path.abspath(__file__))
    # An installed wheel ships the folder beside this module; an editable install may link
    # only the declared modules into its build tree, so look beside the real file too.
    for base in (here, os.path.dirname(os.path.realpath(__file__))):
        folder = os.path.join(base, "site_scons", "site_tools")
        if os.path.isfile(os.path.join(folder, "linkpool.py")):
            return folder
    raise FileNotFoundError(f"linkpool: the SCons tool folder is missing beside {here}; "
                            f"reinstall linkpool")


def exists(env: Any) -> bool:
    """Whether the tool can work: a launcher is set or the ``linkpool`` command is found."""
    return bool(env.get("LINKPOOL")) or find_linkpool() is not None


def generate(env: Any) -> None:
    """Route the environment's links through linkpool (safe to call more than once)."""
    if not env.get("LINKPOOL"):
        path = find_linkpool()
        if path is None:
            import SCons.Errors

            raise SCons.Errors.UserError(
                "linkpool: cannot find the `linkpool` command; install it in this Python "
                "or on PATH, or set the construction variable LINKPOOL to its path")
        # A string would be split at blanks (as $CC is); keep such a path one argument.
        env["LINKPOOL"] = [env.Literal(path)] if any(c.isspace() for c in path) else path
    for name in LINK_COMMANDS:
        command = env.get(name)
        # Only command strings can be prefixed. Toolchains that build the link as a
        # callable or an Action object (MSVC's mslink, mingw, mwld) are left alone:
        # wrapping their actions would change what they run, not just who waits.
        if isinstance(command, str) and not command.startswith(PREFIX):
            env[name] = PREFIX + command
    passed = env["ENV"]
    for key, value in os.environ.items():
        if (key.startswith("LINKPOOL_") or key in PASSED_ON) and key not in passed:
            passed[key] = value
