"""jsonlite agrees with the json module on everything linkpool stores."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkpool import jsonlite

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(values)
def test_round_trip_and_json_agree(value: object) -> None:
    text = jsonlite.dumps(value)
    assert json.loads(text) == value
    assert jsonlite.loads(text) == value
    assert jsonlite.loads(json.dumps(value)) == value
    assert jsonlite.loads(json.dumps(value, indent=2)) == value


@pytest.mark.parametrize("bad", ["", "{", "[1,]", '{"a" 1}', "01", "1.", "-", '"\\x"', "tru",
                                 '"a', "[1] 2", '{"a":1,}', "\"\x01\"", "1e", '"\\ud800\\u12"'])
def test_rejects_what_json_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        json.loads(bad)
    with pytest.raises(ValueError):
        jsonlite.loads(bad)


def test_surrogate_pairs_and_escapes() -> None:
    assert jsonlite.loads('"\\ud83d\\ude00 \\u00e9\\n"') == "\U0001f600 \u00e9\n"
    assert jsonlite.dumps("\U0001f600\u00e9\x00") == '"\\ud83d\\ude00\\u00e9\\u0000"'


def test_the_fast_path_imports_neither_json_nor_typing_nor_re(tmp_path) -> None:
    (tmp_path / "a.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-c", "a.c", "-o", "a.o"], cwd=tmp_path, check=True)
    code = (
        "import sys\n"
        f"sys.argv = ['linkpool', 'run', '--pool', {str(tmp_path / 'pool')!r}, '--',"
        f" 'gcc', 'a.o', '-o', 'a']\n"
        "from linkpool.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.split()
    assert not {"json", "typing", "re", "pluggy", "elftools", "dataclasses", "inspect"} & set(out)
