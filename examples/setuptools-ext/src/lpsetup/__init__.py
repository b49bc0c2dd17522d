"""lpsetup: a package whose C and C++ extensions were linked through linkpool."""

from ._cnative import triangle
from ._cxxnative import shout

__all__ = ["shout", "triangle"]
