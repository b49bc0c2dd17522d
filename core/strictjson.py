"""The JSON of linkpool's files (pool.json, slot and ticket notes, history lines and
summaries, the plugin cache): the :mod:`json` module, strict about what it reads.

What another user may have written is garbage to :func:`loads`, never a crash and never
a second meaning: an object with a key twice (two readers could each take a different
one), NaN and Infinity, a number that is not finite (``1e999``) or longer than
``MAX_NUMBER`` characters, nesting too deep for the recursion (``[[[[...]]]]``) and bytes
that are not UTF-8 all raise ValueError, as any other malformed text does.
:func:`dumps` writes compact ASCII that any JSON reader reads back.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_NUMBER = 40  # characters of one number: a float's repr is at most 24


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER:
        raise ValueError("number too long")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER:
        raise ValueError("number too long")
    value = float(text)
    if value - value != 0:  # 1e999 is infinite: not a number JSON can carry
        raise ValueError("number out of range")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_int=_int, parse_float=_float,
                            parse_constant=_constant)


def loads(text: str | bytes) -> Any:
    """The value of ``text`` (bytes: UTF-8); ValueError for anything but strict JSON."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")  # not json's guess at UTF-16 or UTF-32
    try:
        return _DECODER.decode(text)
    except RecursionError:  # nested deeper than the interpreter's stack allows
        raise ValueError("nested too deep") from None


def dumps(value: Any) -> str:
    """Compact ASCII JSON; a value json does not know is written as its ``str()``, and a
    float that is not finite as null (what :func:`loads` would refuse to read back)."""
    try:
        return json.dumps(value, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), separators=(",", ":"), default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if value - value == 0 else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
