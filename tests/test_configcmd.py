"""`linkpool config` (linkpool.configcmd): each setting's value and where it came from. The
settings table itself is tests/test_settings.py's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import config, config_of, install_plugin, lp


@pytest.fixture
def toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'pool = "{tmp_path / "from-file"}"\nmemory_budget = 0.5\n'
                    f'disable = ["threads"]\ncheck_output = true\nmy_plugin_level = 3\n')
    monkeypatch.setenv("LINKPOOL_CONFIG", str(path))
    for name in ("LINKPOOL_DISABLE", "LINKPOOL_QUIET", "LINKPOOL_CHECK_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    return path


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
    # no plugin is installed to read my_plugin_level (test_unknown_keys_are_warnings...)
    assert r.returncode == 0 and r.stderr == (
        f"linkpool: warning: {toml}: 'my_plugin_level' is not a setting linkpool reads, and "
        f"no plugin is installed to read it; remove it\n")
    lines = r.stdout.splitlines()
    assert lines[0] == f"config file: {toml} ($LINKPOOL_CONFIG)"
    assert lines[2].split() == ["SETTING", "VALUE", "SOURCE"]
    rows = {line.split()[0]: line for line in lines[3:10]}
    assert set(rows) == {"pool", "strict", "quiet", "memory_budget", "disable", "check_output",
                         "wakeup"}
    assert rows["strict"].split() == ["strict", "true", "$LINKPOOL_STRICT"]
    assert rows["memory_budget"].split() == ["memory_budget", "0.5", str(toml)]
    assert rows["quiet"].split() == ["quiet", "false", "default"]


GUESSED = """\
pol = "/srv/pool"
Strict = true
LINKPOOL_QUIET = true
wakeup = "polling"
my_plugin_level = 3

[linkpool]
slots = 4
memory_budget = 0.5
"""


def test_unknown_keys_are_warnings_with_what_was_meant(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A key no setting reads is a warning of `linkpool config` (exit 0), with the key
    meant; links say nothing of it (the per-link path does not look)."""
    path = tmp_path / "config.toml"
    path.write_text(GUESSED)
    monkeypatch.setenv("LINKPOOL_CONFIG", str(path))
    r = lp("config")
    assert r.returncode == 0, r.stderr
    warnings = r.stderr.splitlines()
    assert all(w.startswith(f"linkpool: warning: {path}: ") for w in warnings), warnings
    said = [w[len(f"linkpool: warning: {path}: "):] for w in warnings]
    assert said == [
        "'pol' is not a setting linkpool reads; did you mean 'pool'?",
        "'Strict' is not a setting linkpool reads; did you mean 'strict'?",
        "'LINKPOOL_QUIET' is not a setting linkpool reads; did you mean 'quiet' (the "
        "file's name for $LINKPOOL_QUIET)?",
        "'wakeup' is not a setting linkpool reads: it is read only from $LINKPOOL_WAKEUP",
        "'my_plugin_level' is not a setting linkpool reads, and no plugin is installed to "
        "read it; remove it",
        "[linkpool] is not a table linkpool reads: put memory_budget = 0.5 at the top level "
        "(above any [table]); 'slots' is no setting at all: the number of slots is the "
        "pool's own, `linkpool init --slots 4` sets it",
    ], warnings
    data = json.loads(lp("config", "--json").stdout)
    assert data["warnings"] == [w[len("linkpool: warning: "):] for w in warnings]
    assert data["settings"]["pool"]["origin"] == "default"  # the keys are still ignored
    # nothing on the per-link path: no line, the link runs in the pool
    run = lp("run", "--pool", str(tmp_path / "p"), "--", "true")
    assert run.returncode == 0 and run.stderr == ""
    assert (tmp_path / "p" / "pool.json").exists()
    # with a plugin installed, a key that is near no setting may be the plugin's: no word
    site = install_plugin(tmp_path / "site", "mine", "")
    monkeypatch.setenv("LINKPOOL_PLUGIN_PATH", str(site))
    r = lp("config")
    assert r.returncode == 0 and "my_plugin_level" not in r.stderr
    assert "did you mean 'pool'?" in r.stderr and "[linkpool]" in r.stderr
    assert "other keys in the config files, for the plugins (mine): my_plugin_level" in r.stdout


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


@pytest.mark.parametrize("written", ['"cost,threads"', '" cost , threads,"', '["cost", "threads"]',
                                     '["threads", "cost"]'])
def test_disable_as_a_string_and_as_a_list(written: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"disable = {written}\n")
    monkeypatch.setenv("LINKPOOL_CONFIG", str(config))
    monkeypatch.delenv("LINKPOOL_DISABLE", raising=False)
    s = config_of()
    assert s["disable"] == {"value": ["cost", "threads"], "origin": "file",
                            "source": str(config)}
    monkeypatch.setenv("LINKPOOL_DISABLE", "history")
    s = config_of()
    assert s["disable"]["value"] == ["cost", "history", "threads"]
    assert s["disable"]["origin"] == "file+env"
    # and the run agrees: the history plugin really is off
    pool = tmp_path / "p"
    r = lp("run", "--pool", str(pool), "--", "true")
    assert r.returncode == 0 and r.stderr == ""
    assert (pool / "pool.json").exists() and not (pool / "history.jsonl").exists()


@pytest.mark.parametrize("written", ["cost,threads", " cost , threads,", "threads,cost"])
def test_disable_in_the_environment_as_one_string(written: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKPOOL_DISABLE", written)
    assert config_of()["disable"] == {"value": ["cost", "threads"], "origin": "env",
                                      "source": "$LINKPOOL_DISABLE"}
    r = lp("config")
    (row,) = [line for line in r.stdout.splitlines() if line.startswith("disable ")]
    assert row.split() == ["disable", "cost,", "threads", "$LINKPOOL_DISABLE"]
    # and the run agrees: a link under the pool, with neither plugin, runs as before
    pool = tmp_path / "p"
    monkeypatch.setenv("LINKPOOL_DISABLE", written.replace("cost", "history"))
    r = lp("run", "--pool", str(pool), "--", "true")
    assert r.returncode == 0 and r.stderr == ""
    assert (pool / "pool.json").exists() and not (pool / "history.jsonl").exists()


def test_a_relative_pool_is_shown_absolute_with_the_file_as_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('pool = "pools/main"\n')
    monkeypatch.setenv("LINKPOOL_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    s = config_of()
    assert s["pool"] == {"value": str(folder / "pools" / "main"), "origin": "file",
                         "source": str(config)}
    monkeypatch.setenv("LINKPOOL_DIR", "mine")
    assert config_of()["pool"] == {"value": str(tmp_path / "mine"), "origin": "env",
                                   "source": "$LINKPOOL_DIR"}


def test_wrong_values_are_one_line_naming_the_source(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text("pool = 3\n")
    monkeypatch.setenv("LINKPOOL_CONFIG", str(config))
    for args in (["config"], ["config", "--json"]):
        r = lp(*args)
        assert (r.returncode, r.stdout) == (2, "")
        assert r.stderr == f"linkpool: {config}: 'pool' must be a directory path (a string), " \
                           f"not 3\n"
    config.write_text("")
    monkeypatch.setenv("LINKPOOL_STRICT", "maybe")
    r = lp("config")
    assert r.returncode == 2 and r.stderr == (
        "linkpool: LINKPOOL_STRICT='maybe' is not a yes/no value (use 1/0, true/false, yes/no, "
        "on/off)\n")


def test_plugin_path_takes_the_environment_then_the_file(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('plugin_path = ["plugins", "/opt/lp"]\n')
    monkeypatch.setenv("LINKPOOL_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    assert config_of()["plugin_path"] == {
        "value": [str(folder / "plugins"), "/opt/lp"], "origin": "file", "source": str(config)}
    monkeypatch.setenv("LINKPOOL_PLUGIN_PATH", "here:/opt/lp")
    s = config_of()["plugin_path"]
    assert s["value"] == [str(tmp_path / "here"), "/opt/lp", str(folder / "plugins")]
    assert (s["origin"], s["source"]) == ("file+env", f"{config} + $LINKPOOL_PLUGIN_PATH")
