"""``linkpool setup make``: the GNU make variables that put links behind linkpool.

    eval "make -j8 $(linkpool setup make)"     # or paste what it prints after `make`

GNU make's built-in rules link with ``$(LINK.o)`` (objects to a program), ``$(LINK.c)``
and ``$(LINK.cc)`` (a C or C++ source straight to a program); ``make -p`` shows them.
Setting them on the command line, each its built-in value with the launcher in front,
routes those links and every recipe that uses them through linkpool; compiles and
``$(AR)`` are untouched. ``--automake`` prints ``CCLD``/``CXXLD`` instead, which
Automake-generated Makefiles link with.
"""

from __future__ import annotations

import os
import shlex

from . import find_linkpool

#: GNU make's built-in link variables (``make -p -f /dev/null``), launcher excluded.
BUILTIN = {
    "LINK.o": "$(CC) $(LDFLAGS) $(TARGET_ARCH)",
    "LINK.c": "$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) $(TARGET_ARCH)",
    "LINK.cc": "$(CXX) $(CXXFLAGS) $(CPPFLAGS) $(LDFLAGS) $(TARGET_ARCH)",
}
#: Automake's link drivers (``LINK = $(CCLD) ... -o $@``).
AUTOMAKE = {"CCLD": "$(CC)", "CXXLD": "$(CXX)"}


def launcher(pool: str | None = None) -> str:
    """The launcher as shell words: ``linkpool`` or ``linkpool run --pool DIR --``."""
    words = [find_linkpool() or "linkpool"]
    if pool:
        words += ["run", "--pool", os.path.abspath(pool), "--"]
    return " ".join(shlex.quote(w) for w in words)


def variables(pool: str | None = None, automake: bool = False) -> dict[str, str]:
    """Make variable name -> value, the launcher in front of the built-in value."""
    prefix = launcher(pool)
    table = AUTOMAKE if automake else BUILTIN
    return {name: f"{prefix} {value}" for name, value in table.items()}


DESCRIPTION = """\
Print the GNU make variables that put every link of make's built-in rules (and of the
recipes that use $(LINK.o), $(LINK.c), $(LINK.cc)) behind linkpool, as NAME='VALUE'
words on one line to give make:

    eval "make -j8 $(linkpool setup make)"

Compiles and $(AR) are untouched. docs/make.md has the rest.
"""


def setup(args: list[str]) -> int:
    """Print ``NAME='VALUE' ...`` on one line, to paste after ``make``."""
    from ..configfile import argument_parser

    parser = argument_parser("linkpool setup make", DESCRIPTION,
                             pool="fix the pool in the variables (`linkpool run --pool DIR "
                                  "--`); default: the pool each link finds ($LINKPOOL_DIR, the "
                                  "config file, the per-user default)")
    parser.add_argument("--automake", action="store_true",
                        help="print CCLD and CXXLD instead, which Automake-generated "
                             "Makefiles link with")
    ns = parser.parse_args(args)
    pairs = variables(ns.pool, ns.automake)
    print(" ".join(f"{name}={shlex.quote(value)}" for name, value in pairs.items()))
    return 0
