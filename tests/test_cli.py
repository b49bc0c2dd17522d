"""The `linkpool` command as a person learns it: help, usage errors, "did you mean",
missing pools, options that need a value, and wrong settings. Every test runs the
installed `linkpool` as a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import lp, make_pool

ROOT = Path(__file__).resolve().parent.parent
SUBCOMMANDS = ["init", "run", "status", "history", "stats", "trace", "report", "doctor",
               "config", "setup", "ninja"]
SYSTEMS = ["meson", "cmake", "make"]


def one_line_error(r: subprocess.CompletedProcess, code: int = 2) -> str:
    """The single `linkpool:` line of a failed command (and nothing on stdout)."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("linkpool: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    return r.stderr.rstrip("\n")


def options_described(text: str) -> dict[str, str]:
    """Each option of an argparse help (``  --pool DIR   text``) and its description."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("  -"):
            continue
        head, _, rest = line.strip().partition("  ")
        if not rest.strip() and i + 1 < len(lines) and lines[i + 1].startswith(" " * 6):
            rest = lines[i + 1]  # a long option: its text starts on the next line
        for name in head.split(", "):
            out[name.split()[0]] = rest.strip()
    return out


# -- help -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[c] for c in SUBCOMMANDS] + [["setup", s] for s in SYSTEMS])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_subcommand_has_a_full_help(command: list[str], flag: str) -> None:
    r = lp(*command, flag)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.startswith(f"usage: linkpool {' '.join(command)} "), r.stdout[:200]
    paragraphs = r.stdout.split("\n\n")
    assert len(paragraphs[1].split()) >= 15, "a description of what it does"
    if command[0] in ("setup", "ninja") and len(command) == 1:
        return  # their options are the build system's: listed below, described there
    options = options_described(r.stdout)
    usage = paragraphs[0].replace("[", " ").replace("]", " ").replace("|", " ").split()
    named = {w for w in usage if w.startswith("--") and w != "--"}
    assert named and named <= set(options), (named, options)
    for name, text in options.items():
        assert len(text.split()) >= 3, f"{' '.join(command)} {name} is not described: {text!r}"


def test_help_lists_subcommands_and_the_launcher_form() -> None:
    r = lp("--help")
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert any("linkpool COMMAND [ARG...]" in line and "launcher" in line for line in lines)
    listed = [line.split()[0] for line in lines if line.startswith("  ") and
              not line.startswith("   ")]
    assert sorted(listed) == sorted([*SUBCOMMANDS, "help"]), listed  # one line each
    for command in SUBCOMMANDS:
        assert lp("help", command).stdout == lp(command, "--help").stdout
    assert "did you mean" in r.stdout  # the rule for a mistyped subcommand is written down
    assert lp("help").stdout == r.stdout and lp("-h").stdout == r.stdout


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_answers_its_own_help_flag(flag: str) -> None:
    """`linkpool help -h` is a person asking for help: it gets it, as `git help -h` does."""
    r = lp("help", flag)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == lp("--help").stdout


def test_setup_help_lists_the_build_systems() -> None:
    r = lp("setup", "--help")
    assert r.returncode == 0
    for system in SYSTEMS:
        assert any(line.split()[:1] == [system] for line in r.stdout.splitlines()), system


def test_ninja_help_is_ours_then_ninjas() -> None:
    r = lp("ninja", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: linkpool ninja")
    assert "usage: ninja" in r.stdout  # ninja's own options, from the real ninja


def test_init_shared_dir_agrees_everywhere() -> None:
    top = lp("--help").stdout
    init = lp("init", "--help").stdout
    readme = (ROOT / "README.md").read_text()
    use = readme[readme.index("## Use"):readme.index("\n## ", readme.index("## Use") + 1)]
    assert "--shared [DIR]" in top and "--shared [DIR]" in init.split("\n\n")[0]
    assert "init --shared [DIR]" in use


def test_run_options_are_read_from_the_front_doors_table(tmp_path: Path) -> None:
    """RUN_OPTIONS is core/frontdoor/run_options.def, the file the C front door compiles
    in: a copy of the package whose table has one option more (and another text) parses
    that option and shows both in `run --help`; a table without --quiet refuses it."""
    import shutil

    from linkpool import cli

    table = (ROOT / "core" / "frontdoor" / "run_options.def").read_text()
    assert [o for o, _, _ in cli.RUN_OPTIONS] == \
        [line.split('"')[1] for line in table.splitlines() if line.startswith("LP_RUN_OPTION(")]
    assert dict((o, m) for o, m, _ in cli.RUN_OPTIONS)["--strict"] is None
    package = tmp_path / "site" / "linkpool"
    shutil.copytree(ROOT / "core", package, ignore=shutil.ignore_patterns("__pycache__"))
    changed = table.replace(
        'LP_RUN_OPTION("--quiet", NULL, "no lines about waiting',
        'LP_RUN_OPTION("--nice", "LEVEL", "run it " "niced by \\"LEVEL\\"")\n'
        'LP_RUN_OPTION("--quiet", NULL, "say nothing at all; no lines about waiting')
    assert changed != table
    (package / "frontdoor" / "run_options.def").write_text(changed)
    code = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom linkpool import cli\n"
            "print(cli.parse_run(['--nice', '5', '--quiet', 'ld', '-o', 'x'])[0])\n"
            "print(cli.run_help())\n")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path / "site")],
                         capture_output=True, text=True, check=True).stdout
    parsed, _, helptext = out.partition("\n")
    assert parsed == str({"pool": None, "weight": None, "timeout": None, "strict": False,
                          "nice": "5", "quiet": True})
    described = options_described(helptext)
    assert described["--nice"] == 'run it niced by "LEVEL"'
    assert described["--quiet"].startswith("say nothing at all")
    assert "[--nice LEVEL] [--quiet]" in helptext.split("\n\n")[0]
    (package / "frontdoor" / "run_options.def").write_text(
        "\n".join(line for line in table.splitlines() if "--quiet" not in line))
    code = code.replace("'--nice', '5', ", "")
    done = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path / "site")],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "UsageError: run: unknown option --quiet" in done.stderr


def test_run_help_comes_from_the_option_table_and_argparse_stays_off_the_hot_path(
        tmp_path: Path) -> None:
    r = lp("run", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: linkpool run ")
    from linkpool.cli import RUN_OPTIONS

    described = options_described(r.stdout)
    for option, _, text in RUN_OPTIONS:
        assert described[option] == " ".join(text.split())[:len(described[option])]
    # A run without -h imports neither argparse nor shutil (json, typing and re it may:
    # the libraries are used, issue 20 item 5).
    pool = make_pool(tmp_path / "p", 1)
    code = ("import sys\nfrom linkpool.cli import dispatch\n"
            f"status = dispatch(['run', '--pool', {str(pool)!r}, '--', 'true'])\n"
            "print(status, sorted(m for m in ('argparse', 'shutil') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split("\n")[0] == "0 []", done.stdout
    code = ("import sys\nimport linkpool.settings\n"
            "print(sorted(m for m in ('argparse', 'typing', 're', 'json') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout == "[]\n"


def test_the_registry_is_the_one_table_of_subcommands() -> None:
    """cli.SUBCOMMANDS is the table the help, the dispatch and "did you mean" read: each
    entry is a function of the words after the name, and --help lists the names in its
    order, each with its text."""
    from linkpool import cli

    assert sorted(cli.SUBCOMMANDS) == sorted([*SUBCOMMANDS, "help"])
    text = lp("--help").stdout
    assert [line.split()[0] for line in text.splitlines() if line.startswith("  ") and
            not line.startswith("   ")] == list(cli.SUBCOMMANDS)
    for name, command in cli.SUBCOMMANDS.items():
        assert command.name == name and callable(command.function()), name
        assert command.help_lines() in text, name
    assert cli.near("stauts") == ["status"] and cli.near("hepl") == []  # help: never guessed


def test_the_subcommands_raise_and_dispatch_alone_says_it(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """Every subcommand raises its usage errors and wrong settings; cli.dispatch alone
    turns them into their line and exit 2 (the lines the other tests here check)."""
    from linkpool import cli
    from linkpool.configfile import ConfigError, UsageError

    monkeypatch.setenv("LINKPOOL_DIR", str(tmp_path / "p"))
    for name, command in cli.SUBCOMMANDS.items():
        if name not in ("help", "ninja"):  # help says "did you mean"; ninja's words are ninja's
            with pytest.raises(UsageError):
                command.function()(["--frobnicate"])
    monkeypatch.setenv("LINKPOOL_MEMORY_BUDGET", "abc")
    for args in ADMIN:
        with pytest.raises(ConfigError, match=r"^LINKPOOL_MEMORY_BUDGET='abc' is not a number"):
            cli.SUBCOMMANDS[args[0]].function()(args[1:])
        capsys.readouterr()
        assert cli.dispatch(list(args)) == 2
        assert capsys.readouterr().err.startswith("linkpool: LINKPOOL_MEMORY_BUDGET='abc' ")
    assert cli.dispatch(["config", "--frobnicate"]) == 2
    assert capsys.readouterr().err == ("linkpool: config: unknown option --frobnicate "
                                       "(see `linkpool config --help`)\n")
    assert not (tmp_path / "p").exists()


def test_every_parser_comes_from_the_one_factory(tmp_path: Path) -> None:
    """configfile.argument_parser makes every subcommand's and adapter's parser: an unknown
    option is the same line from each, and no other module builds an argparse parser."""
    from linkpool import cli

    for command in [[c] for c in cli.SUBCOMMANDS if c not in ("run", "setup", "ninja", "help")] \
            + [["setup", s] for s in cli.SYSTEMS]:
        name = " ".join(command)
        needed = ["--output", "x"] if name in ("report", "setup meson") else []
        r = lp(*command, *needed, "--frobnicate", cwd=tmp_path)
        assert one_line_error(r) == (f"linkpool: {name}: unknown option --frobnicate "
                                     f"(see `linkpool {name} --help`)"), command
    assert list(tmp_path.iterdir()) == []
    builders = [str(p.relative_to(ROOT)) for top in ("core", "integrations")
                for p in sorted((ROOT / top).rglob("*.py"))
                if "ArgumentParser" in p.read_text(encoding="utf-8")]
    assert builders == ["core/configfile.py"]


# -- usage errors -------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    [],
    ["--frobnicate"],
    ["run", "--pool"],
    ["run", "--pool", "--", "true"],
    ["run", "--pool=", "--", "true"],
    ["run", "--pool", "--quiet", "--", "true"],
    ["run", "--weight", "--", "true"],
    ["run", "--timeout"],
    ["run", "--strict=yes", "--", "true"],
    ["run", "--bogus", "--", "true"],
    ["init", "--slots", "0"],
    ["init", "--slots", "5000"],
    ["init", "--slots", "many"],
    ["init", "--slots"],
    ["init", "--pool"],
    ["init", "--shared="],
    ["status", "--pool"],
    ["status", "--pool", "--json"],
    ["status", "--pool="],
    ["status", "extra"],
    ["history", "--bogus"],
    ["stats", "--pool"],
    ["stats", "--since", "yesterday"],
    ["trace", "--since"],
    ["report"],
    ["report", "--output", "x.pdf"],
    ["doctor", "--pool"],
    ["config", "--pool"],
    ["config", "--frobnicate"],
    ["setup"],
    ["setup", "--pool", "p"],
    ["setup", "gradle"],
    ["setup", "meson"],
    ["setup", "meson", "--output"],
    ["setup", "cmake", "--pool"],
    ["setup", "cmake", "--frobnicate"],
    ["setup", "make", "--pool"],
    ["setup", "make", "--bogus"],
    ["help", "nothing-like-it"],
])
def test_usage_errors_exit_2_with_one_line(args: list[str], tmp_path: Path) -> None:
    r = lp(*args, cwd=tmp_path)
    line = one_line_error(r)
    assert "--help`" in line  # and which help explains it
    assert list(tmp_path.iterdir()) == [], "a usage error creates nothing"


def test_pool_needs_a_value_and_takes_no_option_for_one(tmp_path: Path) -> None:
    r = lp("run", "--pool", "--", "true", cwd=tmp_path)
    assert one_line_error(r) == ("linkpool: run: --pool needs a value (--pool DIR) "
                                 "(see `linkpool run --help`)")
    assert not (tmp_path / "--").exists()
    # a pool named like an option is still possible, spelled with `=`
    r = lp("run", "--pool=--odd", "--", "true", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "--odd" / "pool.json").exists()


def test_slots_errors_all_exit_2(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 2)
    for bad in ("0", "-1", "4097", "2.5", "x"):
        for args in (["init", "--slots", bad], ["init", "--pool", str(pool), "--slots", bad]):
            r = lp(*args, cwd=tmp_path)
            assert "--slots" in one_line_error(r), args
    assert json.loads((pool / "pool.json").read_text())["slots"] == 2


def test_every_command_reads_a_number_of_slots_by_one_rule(tmp_path: Path) -> None:
    """`init --slots`, `setup system --slots` and `run --weight` refuse the same words,
    the same way: ASCII digits from 1 to 4096, nothing more that int() would take."""
    pool = make_pool(tmp_path / "p", 2)
    root = tmp_path / "root"
    root.mkdir()
    for bad in ("+3", " 3", "1_0", "\u0663", "0", "4097", "9" * 5000, "00004097"):
        said = f"takes a whole number from 1 to 4096, not {bad!r}"
        r = lp("init", "--pool", str(pool), "--slots", bad, cwd=tmp_path)
        assert one_line_error(r) == \
            f"linkpool: init: argument --slots: {said} (see `linkpool init --help`)"
        r = lp("setup", "system", "--root", str(root), "--slots", bad, cwd=tmp_path)
        assert one_line_error(r) == (f"linkpool: setup system: argument --slots: {said} "
                                     f"(see `linkpool setup system --help`)")
        r = lp("run", "--pool", str(pool), "--weight", bad, "--", "true", cwd=tmp_path)
        assert one_line_error(r) == f"linkpool: run: --weight {said} (see `linkpool run --help`)"
    assert json.loads((pool / "pool.json").read_text())["slots"] == 2
    assert list(root.iterdir()) == []
    r = lp("setup", "system", "--root", str(root), "--slots", "0004", cwd=tmp_path)
    assert r.returncode == 0 and "4 slots" in r.stdout, (r.stdout, r.stderr)


# -- global options -----------------------------------------------------------------------


def test_pool_before_the_subcommand_is_the_same_as_after_it(tmp_path: Path) -> None:
    """`linkpool --pool X status` is `linkpool status --pool X`, as git and cargo take
    their global options before the subcommand; the launcher form and `run` too."""
    pool = make_pool(tmp_path / "p", 2)
    for command in (["status", "--json"], ["history", "--json"], ["config", "--json"],
                    ["stats", "--json"], ["trace"]):
        after = lp(command[0], "--pool", str(pool), *command[1:], cwd=tmp_path)
        assert after.returncode == 0, after.stderr
        for before in (["--pool", str(pool)], [f"--pool={pool}"]):
            r = lp(*before, *command, cwd=tmp_path)
            assert (r.returncode, r.stderr) == (0, ""), (command, r.stderr)
            assert r.stdout == after.stdout, command
    data = json.loads(lp("--pool", str(pool), "config", "--json").stdout)
    assert data["settings"]["pool"]["source"] == "--pool"
    r = lp("--pool", str(pool), "doctor")
    assert r.returncode == 0 and f"pool: {pool} (--pool)" in r.stdout
    r = lp("--pool", str(tmp_path / "new"), "init", "--slots", "3", cwd=tmp_path)
    assert r.returncode == 0 and json.loads((tmp_path / "new" / "pool.json").read_text())[
        "slots"] == 3
    # a link: `run`, the launcher form, and the launcher form after `--`
    for args, folder in ((["run", "--", "sh", "-c", "exit 3"], "r"),
                         (["sh", "-c", "exit 3"], "l"), (["--", "sh", "-c", "exit 3"], "d")):
        r = lp("--pool", str(tmp_path / folder), *args, cwd=tmp_path)
        assert (r.returncode, r.stderr) == (3, ""), args
        assert (tmp_path / folder / "pool.json").exists(), args  # the link used that pool
    # the subcommand's own --pool is the later word: it wins, as a repeated option does
    r = lp("--pool", str(tmp_path / "nowhere"), "status", "--pool", str(pool), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["pool"] == str(pool)
    r = lp("--pool", str(tmp_path / "p2"), "stauts")  # a typo is still caught
    assert "did you mean 'status'?" in one_line_error(r)


@pytest.mark.parametrize("args", [
    ["--pool"], ["--pool", "p"], ["--pool="], ["--pool", "--json", "status"],
    ["--pool", "p", "--frobnicate"], ["--pool", "p", "ninja"],
])
def test_a_wrong_global_option_is_one_line(args: list[str], tmp_path: Path) -> None:
    r = lp(*args, cwd=tmp_path)
    assert one_line_error(r).endswith("(see `linkpool --help`)")
    assert list(tmp_path.iterdir()) == []


# -- did you mean -------------------------------------------------------------------------


@pytest.mark.parametrize("word, meant", [
    ("stauts", "status"), ("histroy", "history"), ("inti", "init"), ("cofnig", "config"),
    ("doctr", "doctor"), ("reprot", "report"), ("setpu", "setup"), ("nija", "ninja"),
])
def test_a_mistyped_subcommand_gets_did_you_mean(word: str, meant: str, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    r = lp(word, "--pool", str(pool))
    assert one_line_error(r) == (f"linkpool: {word!r} is not a linkpool command or a program "
                                 f"on PATH; did you mean {meant!r}?")
    assert lp("help", word).stderr == r.stderr


def test_the_launcher_form_still_runs_programs(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    env = {**os.environ, "LINKPOOL_DIR": str(pool)}
    # `true` is two edits from `trace`, but it is a program on PATH: it runs
    assert lp("true", env=env).returncode == 0
    assert lp("false", env=env).returncode == 1
    # a program of our own named like a typo: on PATH, or given with a '/'
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "stauts"
    script.write_text("#!/bin/sh\necho ran \"$@\"\n")
    script.chmod(0o755)
    r = lp("stauts", "x", env={**env, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert (r.returncode, r.stdout) == (0, "ran x\n")
    r = lp("./stauts", "y", env=env, cwd=bin_dir)
    assert (r.returncode, r.stdout) == (0, "ran y\n")
    # a word far from every subcommand is a command to run, which may not exist
    r = lp("no-such-program-anywhere", env=env)
    assert r.returncode == 127 and "did you mean" not in r.stderr


# -- missing pools ------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["history"],
                                     ["history", "--json"], ["stats"], ["trace"],
                                     ["report", "--output", "r.svg"]])
def test_reading_a_missing_pool_says_so_and_creates_nothing(command: list[str],
                                                           tmp_path: Path) -> None:
    missing = tmp_path / "not" / "there"
    r = lp(*command, "--pool", str(missing), cwd=tmp_path)
    assert one_line_error(r, 1) == (f"linkpool: no pool at {missing} (from --pool); create it "
                                    f"with `linkpool init --pool {missing}` or run a link")
    assert list(tmp_path.iterdir()) == []
    # the same pool named by $LINKPOOL_DIR, or by the config file: the line says which
    r = lp(*command, cwd=tmp_path, env={**os.environ, "LINKPOOL_DIR": str(missing)})
    assert one_line_error(r, 1).startswith(f"linkpool: no pool at {missing} (from "
                                           f"$LINKPOOL_DIR); create it")
    assert list(tmp_path.iterdir()) == []
    config = tmp_path / "config.toml"
    config.write_text(f'pool = "{missing}"\n')
    r = lp(*command, cwd=tmp_path, env={**os.environ, "LINKPOOL_CONFIG": str(config)})
    assert one_line_error(r, 1).startswith(f"linkpool: no pool at {missing} (from {config}); ")
    assert list(tmp_path.iterdir()) == [config]


# -- where a relative pool is -------------------------------------------------------------


def test_a_relative_pool_in_the_config_is_taken_from_the_files_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('pool = "relpool"\n')
    build1, build2 = tmp_path / "b1", tmp_path / "b2"
    build1.mkdir()
    build2.mkdir()
    env = {**os.environ, "LINKPOOL_CONFIG": str(config)}
    for build in (build1, build2):
        assert lp("run", "--", "true", cwd=build, env=env).returncode == 0
        assert list(build.iterdir()) == []
    assert (folder / "relpool" / "pool.json").exists()  # one pool for both builds
    r = lp("status", "--json", cwd=build1, env=env)
    assert r.returncode == 0 and f'"pool": "{folder / "relpool"}"' in r.stdout
    r = lp("config", cwd=build2, env=env)
    row = next(line for line in r.stdout.splitlines() if line.startswith("pool "))
    assert row.split() == ["pool", str(folder / "relpool"), str(config)]
    assert "relative" in r.stdout
    # a relative $LINKPOOL_CONFIG is the file from the working directory
    r = lp("config", "--json", cwd=tmp_path, env={**env, "LINKPOOL_CONFIG": "etc/config.toml"})
    assert f'"value": "{folder / "relpool"}"' in r.stdout


def test_a_relative_linkpool_dir_is_taken_from_the_working_directory(tmp_path: Path) -> None:
    env = {**os.environ, "LINKPOOL_DIR": "here"}
    assert lp("true", cwd=tmp_path, env=env).returncode == 0
    assert (tmp_path / "here" / "pool.json").exists()
    r = lp("run", "--pool", "there", "--", "true", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "there" / "pool.json").exists()


# -- wrong settings -----------------------------------------------------------------------


BAD_FILE = [
    ("pool = 3", "'pool' must be a directory path (a string), not 3"),
    ("pool = ''", "'pool' must be a directory path (a string), not ''"),
    ("pool = ['a']", "'pool' must be a directory path (a string), not ['a']"),
    ("strict = 'maybe'",
     "'strict' must be a yes/no value (use 1/0, true/false, yes/no, on/off), not 'maybe'"),
    ("quiet = 2", "'quiet' must be a yes/no value (use 1/0, true/false, yes/no, on/off), not 2"),
    ("memory_budget = 2", "'memory_budget' must be a number in (0, 1] (the share of usable "
                          "memory links may use), not 2"),
    ("memory_budget = true", "'memory_budget' must be a number in (0, 1] (the share of usable "
                             "memory links may use), not true"),
    ("check_output = 'x'", "'check_output' must be a yes/no value (use 1/0, true/false, "
                           "yes/no, on/off), not 'x'"),
    ("disable = 3", "'disable' must be a list of plugin names, or one comma-separated string "
                    "of them, not 3"),
    ("disable = ['a', 1]", "'disable' must be a list of plugin names, or one comma-separated "
                           "string of them, not ['a', 1]"),
    ("plugin_path = 3", "'plugin_path' must be a list of directories, or one ':'-separated "
                        "string of them, not 3"),
]
BAD_ENV = [
    ("LINKPOOL_STRICT", "maybe",
     "LINKPOOL_STRICT='maybe' is not a yes/no value (use 1/0, true/false, yes/no, on/off)"),
    ("LINKPOOL_QUIET", "2",
     "LINKPOOL_QUIET='2' is not a yes/no value (use 1/0, true/false, yes/no, on/off)"),
    ("LINKPOOL_MEMORY_BUDGET", "abc", "LINKPOOL_MEMORY_BUDGET='abc' is not a number in (0, 1] "
                                      "(the share of usable memory links may use)"),
    ("LINKPOOL_MEMORY_BUDGET", "0", "LINKPOOL_MEMORY_BUDGET='0' is not a number in (0, 1] "
                                    "(the share of usable memory links may use)"),
    ("LINKPOOL_MEMORY_BUDGET", "nan", "LINKPOOL_MEMORY_BUDGET='nan' is not a number in (0, 1] "
                                      "(the share of usable memory links may use)"),
    ("LINKPOOL_CHECK_OUTPUT", "sure", "LINKPOOL_CHECK_OUTPUT='sure' is not a yes/no value "
                                      "(use 1/0, true/false, yes/no, on/off)"),
    ("LINKPOOL_WAKEUP", "sometimes", "LINKPOOL_WAKEUP='sometimes' is not a wake-up mode "
                                     "(use 'polling' to force polling, or 'auto')"),
]
ADMIN = [["status"], ["history"], ["stats"], ["trace"], ["report", "--output", "r.svg"],
         ["config"], ["config", "--json"], ["init"]]


@pytest.mark.parametrize("text, message", BAD_FILE)
def test_a_wrong_value_in_the_file_is_one_line_naming_file_and_key(
        text: str, message: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text + "\n")
    pool = make_pool(tmp_path / "p", 1)
    env = {**os.environ, "LINKPOOL_CONFIG": str(config)}
    for command in ADMIN:
        args = command if command == ["config"] or "pool" in text else \
            [*command, "--pool", str(pool)]
        r = lp(*args, cwd=tmp_path, env=env)
        assert one_line_error(r) == f"linkpool: {config}: {message}", command
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "p"]


@pytest.mark.parametrize("var, value, message", BAD_ENV)
def test_a_wrong_value_in_the_environment_is_one_line_naming_the_variable(
        var: str, value: str, message: str, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    env = {**os.environ, var: value}
    for command in ADMIN:
        r = lp(*command, "--pool", str(pool), cwd=tmp_path, env=env)
        assert one_line_error(r) == f"linkpool: {message}", command


def test_run_raises_the_settings_error_for_its_caller(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`cmd_run` does not catch a wrong setting: the caller (main) decides what the
    command then does. The same check, the same line, as for the admin commands."""
    from linkpool.cli import cmd_run
    from linkpool.configfile import ConfigError

    monkeypatch.setenv("LINKPOOL_MEMORY_BUDGET", "abc")
    with pytest.raises(ConfigError, match=r"^LINKPOOL_MEMORY_BUDGET='abc' is not a number"):
        cmd_run(["--pool", str(tmp_path / "p"), "--", "true"])
    assert not (tmp_path / "p").exists()


def test_a_missing_linkpool_config_is_one_error_line(tmp_path: Path) -> None:
    """$LINKPOOL_CONFIG names a file on purpose: when it is not there (a typo, a file not
    yet copied), the subcommands say so instead of quietly reading no file."""
    missing = tmp_path / "etc" / "lp.toml"
    pool = make_pool(tmp_path / "p", 1)
    env = {**os.environ, "LINKPOOL_CONFIG": str(missing), "LINKPOOL_DIR": str(pool)}
    default = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for command in ADMIN:
        r = lp(*command, cwd=tmp_path, env=env)
        assert one_line_error(r) == (
            f"linkpool: $LINKPOOL_CONFIG names {missing}, which does not exist; create it, "
            f"or unset LINKPOOL_CONFIG to read {default / 'linkpool' / 'config.toml'}"), command
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_good_values_of_every_kind_are_accepted(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('strict = "yes"\nquiet = 0\nmemory_budget = 1\ncheck_output = "on"\n'
                      'disable = "history, threads"\n')
    env = {**os.environ, "LINKPOOL_CONFIG": str(config), "LINKPOOL_MEMORY_BUDGET": "0.25",
           "LINKPOOL_WAKEUP": "auto", "LINKPOOL_QUIET": "Off"}
    pool = tmp_path / "p"
    r = lp("run", "--pool", str(pool), "--", "true", env=env)
    assert r.returncode == 0 and r.stderr == ""
    assert not (pool / "history.jsonl").exists()  # the history plugin is disabled
    r = lp("config", "--json", env=env)
    assert r.returncode == 0, r.stderr
