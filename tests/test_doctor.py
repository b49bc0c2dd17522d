"""`linkpool doctor` on a good pool, and on problems planted one at a time."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from linkpool.doctor import probe_inotify

from conftest import LINKPOOL, lp, make_pool


@pytest.fixture(autouse=True)
def no_mold_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOLD_JOBS", raising=False)


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    """A pool of 2 slots with one real link in its history."""
    path = make_pool(tmp_path / "pool", 2)
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    r = subprocess.run([LINKPOOL, "run", "--pool", str(path), "--", "gcc", "m.c", "-o", "app"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return path


def doctor(path: Path, **env: str) -> tuple[int, list[tuple[str, str, str]], str]:
    """(exit status, the (level, check, message) lines, the text output)."""
    r = lp("doctor", "--pool", str(path), env={**os.environ, **env})
    assert r.stderr == ""
    data = json.loads(lp("doctor", "--pool", str(path), "--json",
                         env={**os.environ, **env}).stdout)
    lines = [(c["level"], c["check"], c["message"]) for c in data["checks"]]
    assert data["usable"] == (r.returncode == 0)
    return r.returncode, lines, r.stdout


def levels(lines: list[tuple[str, str, str]], check: str) -> list[tuple[str, str]]:
    return [(level, message) for level, name, message in lines if name == check]


def test_good_pool(pool: Path) -> None:
    code, lines, text = doctor(pool)
    assert code == 0
    assert all(level in ("OK", "WARN") for level, _, _ in lines), lines
    checks = {name for _, name, _ in lines}
    assert {"config", "pool", "pool.json", "files", "in use", "filesystem", "inotify", "wake-up",
            "cores", "memory", "capacity", "linker", "MOLD_JOBS"} <= checks
    ((level, message),) = levels(lines, "pool")
    assert level == "OK" and message.startswith(f"{pool} (--pool): private, owner ")
    assert message.endswith("mode 0700")
    assert levels(lines, "pool.json") == [("OK", "2 slots, protocol 1")]
    assert levels(lines, "files")[0][0] == "OK"
    assert levels(lines, "inotify")[0][0] == "OK"
    assert levels(lines, "wake-up")[0][0] == "OK" and "inotify" in levels(lines, "wake-up")[0][1]
    assert "sched_getaffinity" in levels(lines, "cores")[0][1]
    assert any("GNU ld" in m for _, m in levels(lines, "linker"))
    body = text.split("\n\n")[0].splitlines()
    assert len(body) == len(lines)
    assert all(line.split()[0] in ("OK", "WARN", "FAIL") for line in body)
    assert text.rstrip().endswith("warnings)") or text.rstrip().endswith("warning)")
    assert f"pool {pool}: usable" in text


def test_symlinked_pool_fails_with_the_fix(pool: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(pool)
    code, lines, text = doctor(link)
    assert code == 1
    ((level, message),) = levels(lines, "pool")
    assert level == "FAIL" and "is a symlink" in message and f"--pool {pool}" in message
    assert f"FAIL  pool: {link}" in text and "NOT usable" in text


@pytest.mark.parametrize("broken", ["a file", "corrupt pool.json"])
def test_after_a_pool_fail_nothing_is_claimed_of_that_pool(broken: str, tmp_path: Path) -> None:
    """A pool links cannot use: doctor says why, then nothing about how links share it or
    wake in it (they run without it); what it says of the machine still holds."""
    if broken == "a file":
        path = tmp_path / "pool"
        path.write_text("")
    else:
        path = make_pool(tmp_path / "pool", 2)
        (path / "pool.json").write_text("{corrupt")
    code, lines, text = doctor(path)
    assert code == 1 and "NOT usable" in text
    assert any(level == "FAIL" for level, name, _ in lines if name in ("pool", "pool.json"))
    checks = {name for _, name, _ in lines}
    assert not checks & {"sharing", "in use", "filesystem", "wake-up"}, lines
    assert {"inotify", "cores", "memory", "capacity", "linker"} <= checks


def test_foreign_and_stale_files_warn(pool: Path) -> None:
    (pool / "notes.txt").write_text("mine\n")
    (pool / "wait.7").write_text("{}")  # a ticket nobody holds: its waiter was killed
    code, lines, _ = doctor(pool)
    assert code == 0
    files = dict((m.split(":")[0], (lvl, m)) for lvl, m in levels(lines, "files"))
    assert files["foreign files in the pool"][0] == "WARN"
    assert "notes.txt" in files["foreign files in the pool"][1]
    assert files["stale"][0] == "WARN" and "wait.7" in files["stale"][1]


def test_bad_slot_file_fails(pool: Path, tmp_path: Path) -> None:
    (pool / "slot.5").symlink_to(tmp_path / "elsewhere")
    code, lines, _ = doctor(pool)
    assert code == 1
    assert any(lvl == "FAIL" and "slot.5 is a symlink" in m for lvl, m in levels(lines, "files"))


def test_group_writable_private_pool_fails(pool: Path) -> None:
    pool.chmod(0o770)
    code, lines, _ = doctor(pool)
    assert code == 1
    ((level, message),) = levels(lines, "pool")
    assert level == "FAIL" and f"chmod 700 {pool}" in message


def test_mold_jobs_warns(pool: Path) -> None:
    code, lines, _ = doctor(pool, MOLD_JOBS="1")
    assert code == 0
    ((level, message),) = levels(lines, "MOLD_JOBS")
    assert level == "WARN" and message.startswith("MOLD_JOBS=1 is set") and "serialises" in message


def test_missing_inotify_warns_polling(pool: Path) -> None:
    code, lines, _ = doctor(pool, LINKPOOL_WAKEUP="polling")
    assert code == 0
    ((level, message),) = levels(lines, "inotify")
    assert level == "WARN" and "polling" in message
    ((level, message),) = levels(lines, "wake-up")
    assert level == "WARN" and message.startswith("polling")


def test_probe_inotify(monkeypatch: pytest.MonkeyPatch) -> None:
    assert probe_inotify() == (True, "works")
    monkeypatch.setenv("LINKPOOL_WAKEUP", "polling")
    from linkpool.settings import resolve

    works, why = probe_inotify(resolve().polling)  # the setting, as `doctor` reads it
    assert not works and "LINKPOOL_WAKEUP=polling" in why


def test_capacity_above_the_machine_warns(tmp_path: Path) -> None:
    from linkpool.capacity import default_slots, read_machine

    n = default_slots(read_machine()) + 3
    path = make_pool(tmp_path / "big", n)
    code, lines, _ = doctor(path)
    assert code == 0
    ((level, message),) = levels(lines, "capacity")
    assert level == "WARN" and f"--slots {n - 3}" in message


def test_missing_pool_is_not_created(tmp_path: Path) -> None:
    code, lines, _ = doctor(tmp_path / "later")
    assert code == 0
    ((level, message),) = levels(lines, "pool")
    assert level == "OK" and "does not exist yet" in message
    assert not (tmp_path / "later").exists()


def test_a_pool_that_cannot_be_made_there_fails(tmp_path: Path) -> None:
    """/proc takes no directory of ours, whoever asks: doctor does not promise that the
    first link makes the pool there (the link would run without it)."""
    env = dict(os.environ, LINKPOOL_DIR="/proc/lp")
    done = subprocess.run([LINKPOOL, "doctor"], capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert "FAIL  pool: /proc/lp ($LINKPOOL_DIR) does not exist and cannot be made in /proc " \
           "(a proc filesystem, made by the kernel)" in done.stdout, done.stdout
    assert "first link makes it" not in done.stdout


def test_usage_error_is_one_line() -> None:
    r = lp("doctor", "--frobnicate")
    assert r.returncode == 2 and r.stderr.startswith("linkpool: doctor:")
    assert r.stderr.count("\n") == 1


def test_a_wrong_pool_setting_fails_with_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("pool = 3\n")
    env = {**os.environ, "LINKPOOL_CONFIG": str(config)}
    r = lp("doctor", env=env)
    assert r.returncode == 1 and r.stderr == ""
    assert f"FAIL  setting: {config}: 'pool' must be a directory path (a string), not 3: " \
           f"fix or remove it" in r.stdout
    assert "FAIL  pool: not checked" in r.stdout and "OK    pool" not in r.stdout
    assert "NOT usable" in r.stdout


def test_a_missing_linkpool_config_fails(pool: Path, tmp_path: Path) -> None:
    missing = tmp_path / "lp.toml"
    code, lines, _ = doctor(pool, LINKPOOL_CONFIG=str(missing))
    assert code == 1
    ((level, message), *_) = levels(lines, "config")
    assert level == "FAIL" and message.startswith(
        f"$LINKPOOL_CONFIG names {missing}, which does not exist; create it, or unset "
        f"LINKPOOL_CONFIG to read ")
    assert message.endswith("links run without the pool")


def test_unknown_keys_warn_and_count(pool: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('pol = "/srv/pool"\n[linkpool]\nslots = 4\n')
    code, lines, text = doctor(pool, LINKPOOL_CONFIG=str(config))
    assert code == 0  # a warning: the pool is still usable
    warned = [m for level, m in levels(lines, "config") if level == "WARN"]
    assert warned == [
        f"{config}: 'pol' is not a setting linkpool reads; did you mean 'pool'?",
        f"{config}: [linkpool] is not a table linkpool reads; 'slots' is no setting at all: "
        f"the number of slots is the pool's own, `linkpool init --slots 4` sets it"]
    count = sum(1 for level, _, _ in lines if level == "WARN")
    assert count >= 2 and text.rstrip().endswith(f"({count} warnings)")


def test_a_relative_pool_setting_warns_with_where_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('pool = "relpool"\n')
    env = {**os.environ, "LINKPOOL_CONFIG": str(config)}
    r = lp("doctor", "--json", env=env, cwd=tmp_path)
    lines = [(c["level"], c["check"], c["message"]) for c in json.loads(r.stdout)["checks"]]
    ((level, message),) = levels(lines, "setting")
    assert level == "WARN" and "'relpool'" in message and str(folder / "relpool") in message
    assert "write that absolute path" in message
    ((level, message),) = levels(lines, "pool")
    assert message.startswith(f"{folder / 'relpool'} ({config})")
    assert not (folder / "relpool").exists() and not (tmp_path / "relpool").exists()


@pytest.mark.parametrize("env, text", [
    ({"LINKPOOL_STRICT": "maybe"}, "LINKPOOL_STRICT='maybe' is not a yes/no value"),
    ({"LINKPOOL_MEMORY_BUDGET": "abc"}, "LINKPOOL_MEMORY_BUDGET='abc' is not a number in (0, 1]"),
    ({"LINKPOOL_WAKEUP": "x"}, "LINKPOOL_WAKEUP='x' is not a wake-up mode"),
])
def test_wrong_values_fail_each_on_its_own_line(pool: Path, env: dict[str, str],
                                                text: str) -> None:
    r = lp("doctor", "--pool", str(pool), env={**os.environ, **env})
    assert r.returncode == 1 and r.stderr == ""
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("FAIL")]
    assert line.startswith(f"FAIL  setting: {text}") and "fix or remove it" in line
    assert f"OK    pool: {pool} (--pool)" in r.stdout  # the rest is still checked


# -- the config's `pool` setting, as doctor and a link see it --------------------------------


def test_a_wrong_typed_pool_in_the_config_is_a_fail_and_links_run_without_a_pool(
        tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("pool = 3\n")
    env = {**os.environ, "LINKPOOL_CONFIG": str(config)}
    r = lp("doctor", env=env)
    assert r.returncode == 1
    assert "FAIL  setting: " in r.stdout and "FAIL  pool: not checked" in r.stdout
    assert "OK    pool" not in r.stdout
    out = tmp_path / "ran"
    run = lp("run", "--", "sh", "-c", 'echo ran > "$0"', str(out), env=env)
    assert run.returncode == 0 and out.read_text() == "ran\n"
    assert run.stderr.startswith("linkpool: warning: ") and run.stderr.count("\n") == 1


def test_a_relative_pool_in_the_config_warns_and_names_the_pool_links_use(
        tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('pool = "rel/dir"\n')
    env = {**os.environ, "LINKPOOL_CONFIG": str(config)}
    r = lp("doctor", "--json", env=env, cwd=tmp_path)
    checks = json.loads(r.stdout)["checks"]
    (setting,) = [c for c in checks if c["check"] == "setting"]
    assert setting["level"] == "WARN" and str(folder / "rel" / "dir") in setting["message"]
    (pool,) = [c for c in checks if c["check"] == "pool"]
    assert pool["message"].startswith(f"{folder / 'rel' / 'dir'} ({config})")
    # the pool doctor names is the one a link makes and uses, wherever the link runs
    assert lp("run", "--", "true", env=env, cwd=tmp_path).returncode == 0
    assert (folder / "rel" / "dir" / "pool.json").exists()
    assert not (tmp_path / "rel").exists()
