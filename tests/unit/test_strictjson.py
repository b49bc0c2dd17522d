"""strictjson reads what json reads, except what another user could use to confuse or
crash a reader (tests/test_trust_files.py shows the commands surviving these)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkpool import strictjson

values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(values)
def test_round_trip_and_json_agree(value: object) -> None:
    text = strictjson.dumps(value)
    assert text.isascii() and "\n" not in text and ", " not in text[:2]
    assert json.loads(text) == value
    assert strictjson.loads(text) == value
    assert strictjson.loads(json.dumps(value, indent=2)) == value
    assert strictjson.loads(text.encode()) == value


@pytest.mark.parametrize("bad", [
    "", "{", "[1,]", '{"a" 1}', "01", "1.", "-", '"\\x"', "tru", '"a', "[1] 2", '{"a":1,}',
    "\"\x01\"", "1e", '"\\ud800\\u12"',
    # what json itself would take
    '{"a":1,"a":2}', '{"a":{"b":1,"b":1}}', "NaN", "[Infinity]", '{"x":-Infinity}', "1e999",
    "-1e400", "9" * 41, "0." + "1" * 40, "[" * 100000 + "]" * 100000, b'\xff"x"',
    b'"\xed\xa0\x80"', '"x"\x00', "\ufeff{}",
])
def test_refuses(bad: str | bytes) -> None:
    with pytest.raises(ValueError):
        strictjson.loads(bad)


def test_a_long_enough_number_is_read() -> None:
    assert strictjson.loads("9" * 40) == int("9" * 40)
    assert strictjson.loads("[1e308,-0.5,5e-324]") == [1e308, -0.5, 5e-324]


def test_dumps_writes_what_loads_reads() -> None:
    assert strictjson.dumps({"a": [1.5, float("inf")], "b": float("nan")}) == \
        '{"a":[1.5,null],"b":null}'
    assert strictjson.dumps({"p": ("x", 1), "s": object}) == \
        '{"p":["x",1],"s":"<class \'object\'>"}'
    assert strictjson.dumps("\U0001f600\u00e9\x00") == '"\\ud83d\\ude00\\u00e9\\u0000"'
