"""`linkpool config`: each setting's value and where it came from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import lp


@pytest.fixture
def toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'pool = "{tmp_path / "from-file"}"\nmemory_budget = 0.5\n'
                    f'disable = ["threads"]\ncheck_output = true\nmy_plugin_level = 3\n')
    monkeypatch.setenv("LINKPOOL_CONFIG", str(path))
    for name in ("LINKPOOL_DISABLE", "LINKPOOL_QUIET", "LINKPOOL_CHECK_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    return path


def config(*args: str) -> dict:
    r = lp("config", "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_sources_of_each_setting(toml: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKPOOL_STRICT", "1")
    monkeypatch.setenv("LINKPOOL_DISABLE", "output-check")
    data = config()
    assert data["config_file"] == {"path": str(toml), "exists": True,
                                   "source": "$LINKPOOL_CONFIG"}
    s = data["settings"]
    assert s["pool"] == {"value": str(tmp_path / "from-file"), "origin": "file",
                         "source": str(toml)}
    assert s["strict"] == {"value": True, "origin": "env", "source": "$LINKPOOL_STRICT"}
    assert s["quiet"] == {"value": False, "origin": "default", "source": "default"}
    assert s["memory_budget"] == {"value": 0.5, "origin": "file", "source": str(toml)}
    assert s["disable"]["value"] == ["output-check", "threads"]
    assert s["disable"]["origin"] == "file+env"
    assert s["check_output"] == {"value": True, "origin": "file", "source": str(toml)}
    assert s["wakeup"] == {"value": "inotify", "origin": "default", "source": "default"}
    assert data["other_keys"] == ["my_plugin_level"]


def test_environment_and_command_line_win(toml: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKPOOL_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("LINKPOOL_WAKEUP", "polling")
    s = config()["settings"]
    assert (s["pool"]["value"], s["pool"]["source"]) == (str(tmp_path / "from-env"),
                                                         "$LINKPOOL_DIR")
    assert s["wakeup"] == {"value": "polling (forced)", "origin": "env",
                           "source": "$LINKPOOL_WAKEUP"}
    s = config("--pool", str(tmp_path / "from-cli"), "--quiet", "--strict")["settings"]
    assert (s["pool"]["value"], s["pool"]["origin"]) == (str(tmp_path / "from-cli"), "cli")
    assert (s["quiet"]["value"], s["quiet"]["source"]) == (True, "--quiet")
    assert (s["strict"]["value"], s["strict"]["source"]) == (True, "--strict")


def test_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LINKPOOL_DISABLE", "LINKPOOL_QUIET", "LINKPOOL_CHECK_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    data = config()
    assert data["config_file"]["exists"] is False
    s = data["settings"]
    assert all(v["origin"] == "default" for v in s.values()), s
    assert s["pool"]["value"].endswith("linkpool") or "/linkpool-" in s["pool"]["value"]
    assert s["memory_budget"]["value"] == 0.75 and s["disable"]["value"] == []


def test_table(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKPOOL_STRICT", "yes")
    r = lp("config")
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0] == f"config file: {toml} ($LINKPOOL_CONFIG)"
    assert lines[2].split() == ["SETTING", "VALUE", "SOURCE"]
    rows = {line.split()[0]: line for line in lines[3:10]}
    assert set(rows) == {"pool", "strict", "quiet", "memory_budget", "disable", "check_output",
                         "wakeup"}
    assert rows["strict"].split() == ["strict", "true", "$LINKPOOL_STRICT"]
    assert rows["memory_budget"].split() == ["memory_budget", "0.5", str(toml)]
    assert rows["quiet"].split() == ["quiet", "false", "default"]
    assert "my_plugin_level" in lines[-1]


def test_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = lp("config", "--frobnicate")
    assert r.returncode == 2 and r.stderr.startswith("linkpool: config:")
    assert r.stderr.count("\n") == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("pool = [\n")
    monkeypatch.setenv("LINKPOOL_CONFIG", str(bad))
    for command in (["config"], ["stats"], ["trace"]):
        r = lp(*command)
        assert r.returncode == 2, command
        assert r.stderr.startswith(f"linkpool: config {bad} is not valid TOML")
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = lp("doctor", "--pool", str(tmp_path / "p"), env={**os.environ})
    assert r.returncode == 1 and f"FAIL  config: config {bad} is not valid TOML" in r.stdout
