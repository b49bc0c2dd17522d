"""The ``linkpool`` SCons tool: ``env.Tool("linkpool", toolpath=[scons.toolpath()])``.

A shim for SCons's tool loader; the tool itself is ``linkpool.integrations.scons``.
SCons imports this file as the module ``linkpool``, with this folder first on
``sys.path``, and stores it in ``sys.modules`` under that name, over the real ``linkpool``
package: every later ``import linkpool...`` in the SCons process would find this shim.
So the shim puts the package back first (the tool module keeps a reference to it).
"""

import os
import sys
from typing import Any

_tool: Any = sys.modules.get("linkpool.integrations.scons")
if _tool is None:  # the package is not loaded yet: import it, from anywhere but here
    if getattr(sys.modules.get("linkpool"), "__file__", None) == __file__:
        del sys.modules["linkpool"]
    _here = os.path.dirname(os.path.abspath(__file__))
    _saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    try:
        import linkpool.integrations.scons as _tool  # type: ignore[no-redef]
    finally:
        sys.path[:] = _saved
sys.modules["linkpool"] = _tool.PACKAGE

exists = _tool.exists
generate = _tool.generate

__all__ = ["exists", "generate"]
