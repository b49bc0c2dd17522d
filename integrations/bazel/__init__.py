"""``linkpool setup bazel``: the flags that make this install's Bazel toolchain the one
every C/C++ link of a Bazel build uses (docs/bazel.md).

    bazel build $(linkpool setup bazel --pool /tmp/linkpool-$(id -u)) //...

This folder is a Bazel repository of its own (``@linkpool``: a gcc toolchain whose link
actions run ``linkpool_link.sh``); it is installed with the package, so a pip install of
linkpool carries everything the flags name.
"""

from __future__ import annotations

import os
import shlex

from .. import find_linkpool

HERE = os.path.dirname(os.path.abspath(__file__))


def flags(pool: str | None = None) -> list[str]:
    """The bazel flags: the toolchain repository, its selection, the pool, the command."""
    out = [f"--override_repository=linkpool={HERE}", "--crosstool_top=@linkpool//:toolchain"]
    program = find_linkpool()
    if program:
        out.append(f"--action_env=LINKPOOL={program}")
    if pool:
        pool = os.path.abspath(pool)
        out += [f"--action_env=LINKPOOL_DIR={pool}", f"--sandbox_writable_path={pool}"]
    return out


def setup(args: list[str]) -> int:
    """Print the flags on one line, quoted for a POSIX shell."""
    from ...configfile import argument_parser

    parser = argument_parser(
        "linkpool setup bazel",
        "Print the bazel flags that route every C/C++ link through linkpool: this install's\n"
        "toolchain repository (@linkpool, whose link actions run through linkpool), its\n"
        "selection, and the pool. docs/bazel.md has the rest.")
    parser.add_argument("--pool", metavar="DIR",
                        help="the pool the links share (it must exist before the build: "
                             "`linkpool init --pool DIR`); default: the actions' own default")
    parser.add_argument("--stubs", action="store_true",
                        help="also override rules_cc and rules_java with the offline stubs "
                             "this repository carries (Bazel 4 without network)")
    ns = parser.parse_args(args)
    words = flags(ns.pool)
    if ns.stubs:
        words += [f"--override_repository={name}={HERE}/stubs/{name}"
                  for name in ("rules_cc", "rules_java")]
    print(" ".join(shlex.quote(w) for w in words))
    return 0
