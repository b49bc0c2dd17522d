"""Hooks and plugins: a real plugin distribution installed with pip, found via its entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from linkpool import hooks, hookspecs
from linkpool.job import Job
from linkpool.settings import Settings, resolve

from conftest import lp, make_pool

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = textwrap.dedent('''
    """A third-party linkpool plugin: reweighs every link and watches results."""
    import json
    import os

    import pluggy

    hookimpl = pluggy.HookimplMarker("linkpool")


    @hookimpl(tryfirst=True)
    def linkpool_weigh(job, cost):
        return 2


    @hookimpl
    def linkpool_after_link(job, result):
        with open(os.environ["LP_PLUGIN_LOG"], "a") as f:
            f.write(json.dumps({"output": job.output, "status": result.status,
                                "weight": job.weight, "run_s": result.run_s}) + "\\n")
''')


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install a plugin distribution that declares a `linkpool` entry point."""
    src = tmp_path_factory.mktemp("plugin-src")
    (src / "lp_reweigh.py").write_text(PLUGIN)
    (src / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "lp-reweigh"
        version = "1.0"

        [project.entry-points.linkpool]
        reweigh = "lp_reweigh"

        [tool.setuptools]
        py-modules = ["lp_reweigh"]
    '''))
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(src)], check=True)
    assert list(site.glob("lp_reweigh-1.0.dist-info/entry_points.txt"))
    return site


@pytest.fixture
def objs(tmp_path: Path) -> Path:
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-c", "main.c", "-o", "main.o"], cwd=tmp_path, check=True)
    return tmp_path


def records(pool: Path, env: dict[str, str] | None = None) -> list[dict]:
    """The pool's history, read (and the spool folded) in ``env``."""
    return json.loads(lp("history", "--pool", str(pool), "--json", env=env,
                         check=True).stdout)


def test_installed_plugin_reweighs_and_observes(plugin_site: Path, objs: Path) -> None:
    pool = make_pool(objs / "pool", 2)
    log = objs / "plugin.log"
    env = {**os.environ, "LINKPOOL_PLUGIN_PATH": str(plugin_site), "LP_PLUGIN_LOG": str(log),
           "XDG_CACHE_HOME": str(objs / "cache")}
    r = lp("run", "--pool", str(pool), "--", "gcc", "main.o", "-o", "app", cwd=objs, env=env)
    assert r.returncode == 0, r.stderr
    # its after_link is called off the link's path, by the next Python of this user that
    # folds the front door's spool (docs/plans.md), with the link's own plugins
    (rec,) = records(pool, env)
    assert rec["weight"] == 2  # the small link alone would weigh 1
    (seen,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert seen == {"output": str(objs / "app"), "status": 0, "weight": 2,
                    "run_s": pytest.approx(rec["run_s"], abs=1e-5)}
    # Discovery is cached: the cache file names the plugin, and the cache still finds it
    # (that the cache is really read, and when it is not, is test_the_plugin_cache_...).
    cached = json.loads((objs / "cache" / "linkpool" / "plugins.json").read_text())
    assert ["reweigh", "lp_reweigh"] in cached["plugins"]
    assert str(plugin_site) in cached["stamp"]
    assert lp("run", "--pool", str(pool), "--", "gcc", "main.o", "-o", "app", cwd=objs,
              env=env).returncode == 0
    assert records(pool, env)[-1]["weight"] == 2
    # Disabled by name, it is not loaded.
    r = lp("run", "--pool", str(pool), "--", "gcc", "main.o", "-o", "app", cwd=objs,
           env={**env, "LINKPOOL_DISABLE": "reweigh"})
    assert r.returncode == 0 and records(pool, env)[-1]["weight"] == 1
    assert len(log.read_text().splitlines()) == 2


def test_the_builtins_estimate_from_the_inputs_then_from_history(objs: Path) -> None:
    pool = make_pool(objs / "pool", 2)
    for _ in range(2):  # the second link is estimated from the first one's history
        assert lp("run", "--pool", str(pool), "--", "gcc", "-fuse-ld=lld", "main.o", "-o",
                  "app", cwd=objs).returncode == 0
        records(pool)  # (it waits for the record, written once the link has answered)
    assert [(r["linker"], r["weight"], r["threads"], r["estimate"]["source"])
            for r in records(pool)] == [("lld", 1, 1, "inputs"), ("lld", 1, 1, "history")]


def test_disabling_a_builtin(objs: Path) -> None:
    pool = make_pool(objs / "pool", 2)
    env = {**os.environ, "LINKPOOL_DISABLE": "history,threads"}
    assert lp("run", "--pool", str(pool), "--", "gcc", "-fuse-ld=lld", "main.o", "-o", "app",
              cwd=objs, env=env).returncode == 0
    assert records(pool) == []


class Order:
    def __init__(self, name: str, calls: list[str], answer: object = None, **opts: bool):
        self.name, self.calls, self.answer = name, calls, answer

        def linkpool_classify(job: Job) -> object:
            calls.append(name)
            return answer

        self.linkpool_classify = hookspecs.hookimpl(**opts)(linkpool_classify)


def settings_for(tmp_path: Path, **env: str) -> Settings:
    """The settings of a run with no config file and ``env``."""
    return resolve(env={"XDG_CONFIG_HOME": str(tmp_path / "config-home"),
                        "XDG_CONFIG_DIRS": str(tmp_path / "xdg"), **env})


def test_load_registers_every_builtin_in_the_table_order(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    modules = {p.stem for p in (ROOT / "core" / "plugins").glob("*.py")} - {"__init__"}
    assert {module.rpartition(".")[2] for _, module in hooks.BUILTIN} == modules
    manager = hooks.load(settings_for(tmp_path))
    assert [name for name, _ in manager.list_name_plugin()] == [n for n, _ in hooks.BUILTIN]
    manager = hooks.load(settings_for(tmp_path, LINKPOOL_DISABLE="cost,output-check"))
    assert [name for name, _ in manager.list_name_plugin()] == \
        ["classify", "history", "threads", "jobserver"]


def test_hooks_run_in_pluggy_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Last registered first, tryfirst before and trylast after the rest; the first answer
    of a firstresult hook decides (the built-in classify, registered first, never runs)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    manager = hooks.load(settings_for(tmp_path))
    calls: list[str] = []
    manager.register(Order("a", calls, tryfirst=True), name="a")
    manager.register(Order("b", calls), name="b")
    manager.register(Order("c", calls, answer="link"), name="c")
    manager.register(Order("d", calls, trylast=True, answer="compile"), name="d")
    manager.register(Order("e", calls), name="e")
    assert manager.hook.linkpool_classify(job=Job(["x"], "/")) == "link"
    assert calls == ["a", "e", "c"]


def test_entry_point_parsing() -> None:
    text = "[console_scripts]\nx = y:z\n\n[linkpool]\n# comment\nfoo = foo.plugin:Plugin\n" \
           "bar=bar\n[other]\nbaz = baz\n"
    assert hooks.parse_entry_points(text) == [("foo", "foo.plugin:Plugin"), ("bar", "bar")]


def test_a_failing_plugin_never_breaks_the_link(tmp_path: Path, objs: Path) -> None:
    site = tmp_path / "site"
    (site / "boom-1.0.dist-info").mkdir(parents=True)
    (site / "boom-1.0.dist-info" / "entry_points.txt").write_text("[linkpool]\nboom = boom\n")
    (site / "boom.py").write_text(
        "from linkpool.hookspecs import hookimpl\n"
        "@hookimpl(tryfirst=True)\n"
        "def linkpool_estimate(job):\n    raise RuntimeError('kaboom')\n")
    pool = make_pool(tmp_path / "pool", 2)
    env = {**os.environ, "LINKPOOL_PLUGIN_PATH": str(site),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = lp("run", "--pool", str(pool), "--", "gcc", "main.o", "-o", "app", cwd=objs, env=env)
    assert r.returncode == 0
    assert r.stderr == "linkpool: warning: estimate failed (RuntimeError: kaboom); " \
                       "carrying on without it\n"
    assert records(pool)[0]["exit"] == 0


def test_a_compile_opens_no_pool_and_reads_no_history(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['linkpool', 'run', '--pool', {str(tmp_path / 'p')!r}, '--', 'gcc', '-E',"
        " '-x', 'c', '/dev/null', '-o', '/dev/null']\n"
        "from linkpool.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "print(' '.join(m for m in sys.modules if m.startswith('linkpool')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert "linkpool.plugins.classify" in out
    assert not {"linkpool.pool", "linkpool.estimate", "linkpool.history"} & set(out)


def dist(site: Path, name: str, version: str, entry: str | None) -> Path:
    """A distribution's metadata folder in ``site``, as pip leaves it."""
    folder = site / f"{name}-{version}.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if entry is not None:
        (folder / "entry_points.txt").write_text(f"[linkpool]\n{name} = {entry}\n")
    return folder


def test_the_plugin_cache_is_used_and_sees_a_plugin_added_upgraded_or_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    site = tmp_path / "site"
    site.mkdir()
    scans: list[str] = []
    scan = hooks._scan

    def counted(directory: str) -> list[tuple[str, str]]:
        scans.append(directory)
        return scan(directory)

    monkeypatch.setattr(hooks, "_scan", counted)

    def found() -> tuple[set[tuple[str, str]], int]:
        scans.clear()
        return set(hooks.discover([str(site)])), len(scans)

    def installed_a_while_ago() -> None:  # as pip leaves a folder, minutes before the run
        then = time.time_ns() - 60 * 10**9
        os.utime(site, ns=(then, then))

    dist(site, "alpha", "1.0", "alpha")
    dist(site, "other", "1.0", None)  # a distribution without plugins
    installed_a_while_ago()
    assert found() == ({("alpha", "alpha")}, 1)
    cache = json.loads((tmp_path / "cache" / "linkpool" / "plugins.json").read_text())
    assert cache["plugins"] == [["alpha", "alpha"]]
    assert found() == ({("alpha", "alpha")}, 0)  # from the cache: no folder looked into
    assert found() == ({("alpha", "alpha")}, 0)
    # Added: the folder's time changes, and the next run scans again.
    dist(site, "beta", "1.0", "beta:Plugin")
    assert found() == ({("alpha", "alpha"), ("beta", "beta:Plugin")}, 1)
    # A folder changed less than SETTLED_NS before the scan may change again within the
    # same clock tick, unseen: that scan is not trusted, the next run looks again.
    assert found()[1] == 1
    installed_a_while_ago()
    assert found() == ({("alpha", "alpha"), ("beta", "beta:Plugin")}, 1)
    assert found()[1] == 0
    # Upgraded: pip removes the old version's folder and writes the new one.
    shutil.rmtree(site / "alpha-1.0.dist-info")
    dist(site, "alpha", "2.0", "alpha.v2")
    installed_a_while_ago()
    assert found() == ({("alpha", "alpha.v2"), ("beta", "beta:Plugin")}, 1)
    assert found()[1] == 0
    # Removed.
    shutil.rmtree(site / "beta-1.0.dist-info")
    installed_a_while_ago()
    assert found() == ({("alpha", "alpha.v2")}, 1)
    assert found() == ({("alpha", "alpha.v2")}, 0)


CONFIGURE = textwrap.dedent('''
    """Writes what linkpool_configure got, and the job's settings, to $LP_SEEN."""
    import json
    import os

    from linkpool.hookspecs import hookimpl

    SEEN = {}


    @hookimpl
    def linkpool_configure(config):
        SEEN["config"] = dict(config)


    @hookimpl
    def linkpool_after_acquire(job, waited):
        s = job.settings
        SEEN["job"] = {"same": job.config == SEEN["config"], "pool": s.pool,
                       "memory_budget": s.memory_budget, "disable": s.disable,
                       "quiet": s.quiet, "plugin_path": s.plugin_path}
        with open(os.environ["LP_SEEN"], "w") as f:
            json.dump(SEEN, f)
''')


def test_configure_gets_the_config_merged_with_the_resolved_settings(tmp_path: Path) -> None:
    """`linkpool_configure` gets every key of the config files with every setting merged
    in as the command resolved it (the environment winning over the file), and the job
    carries the same settings."""
    site = tmp_path / "site"
    site.mkdir()
    dist(site, "seeconfig", "1.0", "seeconfig")
    (site / "seeconfig.py").write_text(CONFIGURE)
    pool = make_pool(tmp_path / "pool", 2)
    config = tmp_path / "config.toml"
    config.write_text(f'pool = "{pool}"\nmemory_budget = 0.5\ndisable = "output-check"\n'
                      f'seeconfig_level = 3\n')
    seen = tmp_path / "seen.json"
    env = {**os.environ, "LINKPOOL_CONFIG": str(config), "LINKPOOL_PLUGIN_PATH": str(site),
           "LINKPOOL_MEMORY_BUDGET": "0.25", "LINKPOOL_DISABLE": "threads",
           "LINKPOOL_QUIET": "yes", "LP_SEEN": str(seen), "XDG_CACHE_HOME": str(tmp_path / "c")}
    r = lp("run", "--", "true", env=env)
    assert (r.returncode, r.stderr) == (0, "")
    got = json.loads(seen.read_text())
    config_seen = got["config"]
    assert config_seen["seeconfig_level"] == 3  # a plugin's own key, from the file
    assert config_seen["memory_budget"] == 0.25  # $LINKPOOL_MEMORY_BUDGET wins over the file
    assert config_seen["disable"] == ["output-check", "threads"]  # the file's and the env's
    assert config_seen["quiet"] is True and config_seen["strict"] is False  # env, default
    assert config_seen["pool"] == str(pool)
    assert config_seen["plugin_path"] == [str(site)]
    assert config_seen["wakeup"] == "auto"  # a setting only the environment sets
    assert got["job"] == {"same": True, "pool": str(pool), "memory_budget": 0.25,
                          "disable": ["output-check", "threads"], "quiet": True,
                          "plugin_path": [str(site)]}
