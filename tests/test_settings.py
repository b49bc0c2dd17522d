"""The settings table (linkpool.settings) on its own: one entry per setting, one attribute
per entry on the object `resolve` gives, one rule for each value, and no other module
reading a LINKPOOL_* variable. What `linkpool config` shows of it is
tests/test_configcmd.py's."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import config_of


def test_the_settings_object_has_one_attribute_per_entry(tmp_path: Path) -> None:
    """`resolve` gives one object: each entry's checked value as an attribute, where it
    came from, and the mapping the plugins get."""
    from linkpool.settings import SETTINGS, Settings, resolve

    assert list(Settings.__annotations__) == [e.name for e in SETTINGS]
    env = {"LINKPOOL_DISABLE": "cost", "LINKPOOL_DEBUG": "on",
           "LINKPOOL_CONFIG": str(tmp_path / "config.toml")}
    s = resolve({"quiet": True}, env=env, file={"disable": "threads", "strict": "yes",
                                                "memory_budget": 0.5, "mine": [1, 2]})
    for entry in SETTINGS:
        assert getattr(s, entry.name) == s[entry.name].value, entry.name
        assert s.config[entry.key or entry.name] == s[entry.name].value, entry.name
    assert (s.quiet, s.strict, s.memory_budget, s.disable) == (True, True, 0.5,
                                                              ["cost", "threads"])
    assert (s.debug, s.polling) == (True, False)
    assert s.config["mine"] == [1, 2]  # a plugin's key passes through
    assert s["quiet"].source == "--quiet" and s["disable"].origin == "file+env"
    assert resolve(env={**env, "LINKPOOL_WAKEUP": "polling"}, file={}).polling


def test_only_the_settings_read_linkpool_variables(tmp_path: Path) -> None:
    """At most two modules read settings from the environment: the table
    (linkpool.settings) and the config-file locator (linkpool.configfile, for
    $LINKPOOL_CONFIG). The engine reads $LINKPOOL_HELD, the protocol's own marker. Every
    read of a LINKPOOL_* variable is recorded, with the module that made it, while the
    commands run: a link, the admin commands, `config` and `doctor`."""
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-c", "main.c", "-o", "main.o"], cwd=tmp_path, check=True)
    pool = str(tmp_path / "pool")
    code = f"""
import os, sys
seen = set()

class Watched(dict):
    def note(self, key):
        if isinstance(key, str) and key.startswith("LINKPOOL_"):
            frame = sys._getframe(2)
            while frame.f_globals.get("__name__") == "os":  # os.getenv
                frame = frame.f_back
            seen.add((frame.f_globals.get("__name__"), key))
    def get(self, key, default=None):
        self.note(key)
        return super().get(key, default)
    def __getitem__(self, key):
        self.note(key)
        return super().__getitem__(key)
    def __contains__(self, key):
        self.note(key)
        return super().__contains__(key)

os.environ = Watched(os.environ)
os.environ.update(LINKPOOL_CHECK_OUTPUT="1", LINKPOOL_MEMORY_BUDGET="0.5")
from linkpool.cli import dispatch
for args in (["run", "--pool", {pool!r}, "--", "gcc", "main.o", "-o", "app"],
             ["gcc", "-c", "main.c", "-o", "again.o"], ["init", "--pool", {pool!r}],
             ["status", "--pool", {pool!r}], ["history", "--pool", {pool!r}],
             ["stats", "--pool", {pool!r}], ["config"], ["doctor", "--pool", {pool!r}]):
    assert dispatch(args) in (0, 1), args
print(sorted(seen), file=sys.stderr)
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    seen = ast.literal_eval(r.stderr.splitlines()[-1])
    readers = {module for module, key in seen if key != "LINKPOOL_HELD"}
    assert readers == {"linkpool.settings", "linkpool.configfile"}, seen
    assert {module for module, key in seen if key == "LINKPOOL_HELD"} == {"linkpool.engine"}
    assert ("linkpool.settings", "LINKPOOL_CHECK_OUTPUT") in seen  # the recorder works


def test_disabled_is_read_by_the_same_rule_as_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugins the hooks turn off are the resolved ``disable`` setting itself."""
    from linkpool.settings import resolve

    def disabled(file: dict) -> set[str]:
        return set(resolve(file=file).disable)

    monkeypatch.setenv("LINKPOOL_DISABLE", "a, b")
    assert disabled({"disable": "c,d"}) == {"a", "b", "c", "d"}
    assert disabled({"disable": ["c", " d "]}) == {"a", "b", "c", "d"}
    monkeypatch.delenv("LINKPOOL_DISABLE")
    assert disabled({}) == set() and disabled({"disable": ""}) == set()


def test_the_table_is_the_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every setting `linkpool config` shows is an entry of the table, with its variable,
    key, kind, default and help; the checked value comes from the same function."""
    from linkpool.settings import KINDS, SETTINGS, resolve

    for entry in SETTINGS:
        assert entry.kind in KINDS and entry.help and entry.order
        assert entry.var is None or entry.var.startswith("LINKPOOL_")
    assert [e.name for e in SETTINGS] == list(config_of())
    env = {"LINKPOOL_MEMORY_BUDGET": "0.5", "LINKPOOL_QUIET": "yes", "LINKPOOL_CONFIG": "/x"}
    s = resolve(env=env, file={"strict": True, "memory_budget": 0.9})
    assert (s["memory_budget"].value, s["quiet"].value, s["strict"].value) == (0.5, True, True)
    problems: list[tuple[str, str]] = []
    s = resolve(env={**env, "LINKPOOL_STRICT": "x"}, file={"memory_budget": -1},
                problems=problems)
    assert [name for name, _ in problems] == ["strict"]  # the env's 0.5 wins over the file
    assert s["strict"].value is False and s["strict"].origin == "default"


