"""lpskbuild: a package whose C extension was linked through linkpool."""

from ._native import triangle

__all__ = ["triangle"]
