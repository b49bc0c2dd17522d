"""``python -m linkpool``: the same as the ``linkpool`` command."""

from .cli import main

main()
