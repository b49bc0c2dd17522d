"""The ``outputcheck`` plugin (``check_output``): a link that exits 0 but leaves no ELF
file is recorded so (``output_check`` in the history) and said in one line on the
caller's stderr, with the linker's own status; a good link is recorded "ok"; without the
setting nothing is checked."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import LINKPOOL, lp, make_pool


def broken_ld(where: Path) -> Path:
    """A linker (named ld, so the link is a link) that writes text and says it worked."""
    where.mkdir()
    ld = where / "ld"
    ld.write_text('#!/bin/sh\nwhile [ "$1" != -o ]; do shift; done\necho text > "$2"\n')
    ld.chmod(0o755)
    return ld


def test_a_link_that_leaves_no_elf_file_is_said_and_recorded(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    ld = broken_ld(tmp_path / "bin")
    env = dict(os.environ, LINKPOOL_DIR=str(pool), LINKPOOL_CHECK_OUTPUT="1")
    out = tmp_path / "app"
    done = subprocess.run([LINKPOOL, "run", "--", str(ld), "-o", str(out), "main.o"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # the linker's own status
    assert done.stderr == (f"linkpool: warning: the link succeeded but {out}: it is not an "
                           f"ELF file\n")
    (record,) = json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)
    assert record["output"] == str(out) and record["output_check"] == "it is not an ELF file"


def test_a_good_link_is_ok_and_without_the_setting_nothing_is_checked(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-c", "m.c"], cwd=tmp_path, check=True)
    env = dict(os.environ, LINKPOOL_DIR=str(pool))
    for check in ("1", None):
        run_env = dict(env, LINKPOOL_CHECK_OUTPUT=check) if check else env
        done = subprocess.run([LINKPOOL, "gcc", "m.o", "-o", "app"], cwd=tmp_path,
                              env=run_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stderr == "", done.stderr
    ld = broken_ld(tmp_path / "bin")
    done = subprocess.run([LINKPOOL, str(ld), "-o", "text", "m.o"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""  # not asked: not checked
    records = json.loads(lp("history", "--pool", str(pool), "--json", check=True).stdout)
    assert [r.get("output_check") for r in records] == ["ok", None, None]
