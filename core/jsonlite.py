"""JSON for the wrapper's start-up path, without importing :mod:`json`.

Importing ``json`` pulls in ``re``, ``enum`` and ``collections``: 5-15 ms measured here,
as much as the rest of the wrapper. Everything linkpool writes on the hot path (pool.json,
holder identities, history lines, the plugin cache) is small, so this module encodes and
decodes standard JSON by hand: objects, arrays, strings (with escapes and surrogate
pairs), integers, floats, true/false/null. Anything it cannot parse raises ValueError,
as ``json.loads`` does. Output is compact and ASCII-only, readable by any JSON parser.

What another user may have written is garbage to it, never a crash: nesting too deep for
the recursion (``[[[[...]]]]``), a number that is not finite (``1e999``, NaN, Infinity)
or longer than ``MAX_NUMBER`` characters, and an object with a key twice (two readers
could each take a different one) all raise ValueError.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
            "\f": "\\f"}
_UNESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
              "t": "\t"}
_WS = " \t\n\r"
MAX_NUMBER = 40  # characters of one number: a float's repr is at most 24


def _string(s: str) -> str:
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'  # most strings: nothing to escape, no loop over characters
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif " " <= ch < "\x7f":
            out.append(ch)
        elif ord(ch) > 0xFFFF:
            v = ord(ch) - 0x10000
            out.append(f"\\u{0xD800 + (v >> 10):04x}\\u{0xDC00 + (v & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


def dumps(value: Any) -> str:
    """Compact JSON; values it does not know are written as their ``str()``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "null"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return _string(str(value))


def loads(text: str | bytes) -> Any:
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    try:
        value, end = _value(text, _skip(text, 0))
    except RecursionError:  # nested deeper than the interpreter's stack allows
        raise ValueError("nested too deep") from None
    if _skip(text, end) != len(text):
        raise ValueError(f"extra data at {end}")
    return value


def _skip(s: str, i: int) -> int:
    if i < len(s) and s[i] not in _WS:
        return i  # compact JSON, as linkpool writes it: no white space at all
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


def _value(s: str, i: int) -> tuple[Any, int]:
    if i >= len(s):
        raise ValueError("unexpected end")
    ch = s[i]
    if ch == "{":
        return _object(s, i + 1)
    if ch == "[":
        return _array(s, i + 1)
    if ch == '"':
        return _str(s, i + 1)
    if ch in "-0123456789":
        return _number(s, i)
    for word, val in (("true", True), ("false", False), ("null", None)):
        if s.startswith(word, i):
            return val, i + len(word)
    return _number(s, i)


def _object(s: str, i: int) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    i = _skip(s, i)
    if i < len(s) and s[i] == "}":
        return out, i + 1
    while True:
        if i >= len(s) or s[i] != '"':
            raise ValueError(f"expected a key at {i}")
        key, i = _str(s, i + 1)
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        i = _skip(s, i)
        if i >= len(s) or s[i] != ":":
            raise ValueError(f"expected ':' at {i}")
        out[key], i = _value(s, _skip(s, i + 1))
        i = _skip(s, i)
        if i < len(s) and s[i] == ",":
            i = _skip(s, i + 1)
        elif i < len(s) and s[i] == "}":
            return out, i + 1
        else:
            raise ValueError(f"expected ',' or '}}' at {i}")


def _array(s: str, i: int) -> tuple[list[Any], int]:
    out: list[Any] = []
    i = _skip(s, i)
    if i < len(s) and s[i] == "]":
        return out, i + 1
    while True:
        item, i = _value(s, i)
        out.append(item)
        i = _skip(s, i)
        if i < len(s) and s[i] == ",":
            i = _skip(s, i + 1)
        elif i < len(s) and s[i] == "]":
            return out, i + 1
        else:
            raise ValueError(f"expected ',' or ']' at {i}")


def _str(s: str, i: int) -> tuple[str, int]:
    # str.find and a C-speed check of each run between escapes: a loop over characters
    # cost ~0.8 us a character (a history record of 400 bytes: 0.3 ms; now 0.03)
    out = []
    while True:
        end = s.find('"', i)
        if end < 0:
            raise ValueError("unterminated string")
        j = s.find("\\", i, end)
        if j < 0:
            j = end
        run = s[i:j]
        if not (run.isascii() and run.isprintable()):  # rare: look for control characters
            for k, ch in enumerate(run):
                if ch < " ":
                    raise ValueError(f"control character in string at {i + k}")
        out.append(run)
        if j == end:
            return "".join(out), end + 1
        esc = s[j + 1:j + 2]
        if esc in _UNESCAPES:
            out.append(_UNESCAPES[esc])
            i = j + 2
        elif esc == "u":
            code, i = _hex4(s, j + 2), j + 6
            if 0xD800 <= code < 0xDC00 and s.startswith("\\u", i):
                low = _hex4(s, i + 2)
                if 0xDC00 <= low < 0xE000:
                    code, i = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00), i + 6
            out.append(chr(code))
        else:
            raise ValueError(f"bad escape at {j}")


def _hex4(s: str, i: int) -> int:
    digits = s[i:i + 4]
    if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"bad \\u escape at {i}")
    return int(digits, 16)


def _number(s: str, i: int) -> tuple[int | float, int]:
    j = i
    if j < len(s) and s[j] == "-":
        j += 1
    start = j
    while j < len(s) and s[j].isdigit() and s[j].isascii():
        j += 1
    if j == start or (s[start] == "0" and j - start > 1):
        raise ValueError(f"bad number at {i}")
    is_float = False
    if j < len(s) and s[j] == ".":
        is_float, j = True, j + 1
        k = j
        while j < len(s) and s[j].isdigit() and s[j].isascii():
            j += 1
        if j == k:
            raise ValueError(f"bad number at {i}")
    if j < len(s) and s[j] in "eE":
        is_float, j = True, j + 1
        if j < len(s) and s[j] in "+-":
            j += 1
        k = j
        while j < len(s) and s[j].isdigit() and s[j].isascii():
            j += 1
        if j == k:
            raise ValueError(f"bad number at {i}")
    text = s[i:j]
    if j - i > MAX_NUMBER:
        raise ValueError(f"number too long at {i}")
    if not is_float:
        return int(text), j
    value = float(text)
    if value - value != 0:  # 1e999 is infinite: not a number JSON can carry
        raise ValueError(f"number out of range at {i}")
    return value, j
