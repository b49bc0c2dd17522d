"""linkpool: a machine-wide, crash-safe semaphore for C/C++ links.

The pool is a directory of N ``flock()``ed slot files; the kernel frees a slot whenever
its holder dies, so there is no daemon and nothing to clean up. The public Python API:

    from linkpool import Pool

    import linkpool

    with linkpool.hold(2, timeout=60):
        ...  # two slots of the default pool are held here

Submodules are imported lazily so that the command-line wrapper starts fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # importing typing costs the wrapper ~5-15 ms

__version__ = "0.1.0"

if TYPE_CHECKING:
    from typing import Any

    from .pool import Lease, Pool, PoolBroken, PoolError, Timeout, WeightError, hold

__all__ = [
    "Lease", "Pool", "PoolBroken", "PoolError", "Timeout", "WeightError", "__version__", "hold",
]


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from . import pool

        return getattr(pool, name)
    raise AttributeError(f"module 'linkpool' has no attribute {name!r}")
