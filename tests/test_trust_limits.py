"""Limits, odd environments, weights and timeouts (issue 19, classes 2 and 3): in each case
the command runs and ends as it would bare (pooled when linkpool can, else after one
`linkpool: warning:` line), and weights and timeouts take every value a user may write.

Black-box tests of the installed `linkpool` command, with real processes, real users and
real limits (ulimit), compared with the same command run bare.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import LINKPOOL, copy_linkpool, lp, make_pool, status, wait_for

SYS_PY = "/usr/bin/python3"
CMD = ["sh", "-c", 'echo "out $0"; echo err >&2; exit 3', "x"]  # exit 3, one line on each


def one_warning(stderr: str) -> None:
    assert stderr.startswith("linkpool: warning: ") and stderr.count("\n") == 1, stderr


def usage_error(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith("linkpool: ") and r.stderr.count("\n") == 1, r.stderr
    assert r.stdout == ""


def holder(pool: Path, tmp: Path, weight: int = 1) -> tuple[subprocess.Popen, Path]:
    """A link that holds ``weight`` slots of ``pool`` until the file it returns exists."""
    go = tmp / f"go-{os.urandom(3).hex()}"
    p = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--weight", str(weight), "--",
                          "sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.02; done', str(go)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: sum(h.get("held", 0) for h in status(pool)["holders"]) >= weight,
             what="the holder's slots")
    return p, go


# -- class 3: weights and timeouts --------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True])
def test_weight_above_slots_runs_with_all_slots(tmp_path: Path, strict: bool) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    inside = [LINKPOOL, "status", "--pool", str(pool), "--json"]
    r = lp("run", "--pool", str(pool), "--weight", "4", *(["--strict"] if strict else []),
           "--", *inside)
    assert r.returncode == 0, r.stderr
    one_warning(r.stderr)
    assert "weight 4" in r.stderr and "2 slots" in r.stderr
    st = json.loads(r.stdout)
    assert st["in_use"] == 2 and [h["held"] for h in st["holders"]] == [2]
    r = lp("run", "--pool", str(pool), "--weight=3", "--", *CMD)
    assert (r.returncode, r.stdout) == (3, "out x\n")
    assert r.stderr.startswith("linkpool: warning: ") and r.stderr.endswith("err\n")
    assert r.stderr.count("\n") == 2, r.stderr


WEIGHTS = ["0", "-1", "10" + "0" * 29, "abc", "1.5", "\u0663", "+2", " 2", "1_0", "0x2", "4097"]
TIMEOUTS = ["-1", "-0.5", "nan", "NaN", "-inf", "abc", "1s", ""]


def test_bad_weights_and_timeouts_are_usage_errors(tmp_path: Path) -> None:
    """Weight: ASCII digits from 1 to 4096 (the most slots a pool has); timeout: a number
    >= 0. Anything else: exit 2, one line, the command not run."""
    pool = make_pool(tmp_path / "pool", 2)
    mark = tmp_path / "ran"
    for option, values in (("--weight", WEIGHTS), ("--timeout", TIMEOUTS)):
        for value in values:
            usage_error(lp("run", "--pool", str(pool), option, value, "--", "touch", str(mark)))
            usage_error(lp("run", "--pool", str(pool), f"{option}={value}", "--", "touch",
                           str(mark)))
    assert not mark.exists()
    for value in ("inf", "1e300", "nan", "-1", "0", "abc"):  # status --watch SECONDS
        r = lp("status", "--pool", str(pool), "--watch", value, timeout=30)
        usage_error(r)
    for value in WEIGHTS:  # init --slots N: the same whole numbers as --weight
        usage_error(lp("init", "--pool", str(pool), "--slots", value))
        usage_error(lp("init", "--pool", str(pool), f"--slots={value}"))
    assert status(pool)["slots"] == 2


def test_timeouts_take_any_non_negative_number(tmp_path: Path) -> None:
    """A huge or infinite timeout behind another waiter waits its turn and runs the
    command; a small one gives up (75) while the slot is busy, and runs it when free."""
    pool = make_pool(tmp_path / "pool", 1)
    for value in ("1e10", "inf", "Infinity", "1e300"):
        first, go = holder(pool, tmp_path)
        waiter = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--", "true"],
                                  stderr=subprocess.PIPE, text=True)
        wait_for(lambda: status(pool)["waiting"] >= 1, what="the first waiter")
        late = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--timeout", value,
                                 "--quiet", "--", *CMD], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        wait_for(lambda: status(pool)["waiting"] >= 2, what="the second waiter")
        go.touch()
        out, err = late.communicate(timeout=60)
        assert (value, late.returncode, out, err) == (value, 3, "out x\n", "err\n")
        assert waiter.wait(timeout=60) == 0 and first.wait(timeout=60) == 0
    for value in ("0", "0.5", "0.0", "1e-3"):
        first, go = holder(pool, tmp_path)
        try:
            r = lp("run", "--pool", str(pool), "--timeout", value, "--", *CMD)
            assert r.returncode == 75 and r.stdout == "", r.stderr
            assert r.stderr.startswith("linkpool: ") and r.stderr.count("\n") == 1
        finally:
            go.touch()
            first.wait(timeout=60)
        r = lp("run", "--pool", str(pool), "--timeout", value, "--", *CMD)  # free: it runs
        assert (r.returncode, r.stdout, r.stderr) == (3, "out x\n", "err\n")


def test_resize_below_a_waiting_weight_lowers_it(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    first, go = holder(pool, tmp_path)
    inside = [LINKPOOL, "status", "--pool", str(pool), "--json"]
    big = subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--weight", "2", "--quiet",
                            "--", *inside], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    wait_for(lambda: status(pool)["waiting"] == 1, what="the weight-2 waiter")
    r = lp("init", "--pool", str(pool), "--slots", "1")
    assert r.returncode == 0, r.stderr
    go.touch()
    out, err = big.communicate(timeout=60)
    assert big.returncode == 0 and err == "", err
    st = json.loads(out)
    assert st["slots"] == 1 and [h["held"] for h in st["holders"]] == [1]
    assert first.wait(timeout=60) == 0


# -- class 2: limits and odd environments -------------------------------------------------------


def bare(argv: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(argv, timeout=60, **kw)


@pytest.mark.parametrize("form", [["run", "--"], [], ["run", "--pool", "/dev/null/x", "--"]])
def test_empty_command_name_is_127(form: list[str]) -> None:
    r = lp(*form, "")
    assert r.returncode == 127 == bare(["sh", "-c", '""']).returncode, r.stderr
    assert r.stdout == ""
    assert "Traceback" not in r.stderr and r.stderr.startswith("linkpool: ")
    assert r.stderr.count("\n") == (2 if "/dev/null/x" in form else 1), r.stderr


# -- any umask ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory):
    """An unprivileged user (root ignores modes) and a `linkpool` it can run: the venv
    lives where other users cannot enter, so the same `core/` runs on the system Python."""
    base = Path(tempfile.mkdtemp(prefix="lp-limits-", dir="/tmp"))
    base.chmod(0o755)
    copy_linkpool(base / "lib")
    shim = base / "linkpool"
    shim.write_text(f"#!{SYS_PY}\nimport sys\nsys.path.insert(0, {str(base / 'lib')!r})\n"
                    "from linkpool.cli import entry\nentry()\n")
    shim.chmod(0o755)
    name = f"lplim{os.getpid() % 100000}"
    subprocess.run(["useradd", "-M", "-r", "-s", "/bin/sh", name], check=True,
                   capture_output=True)
    try:
        yield name, base, shim
    finally:
        subprocess.run(["userdel", "-f", name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_any_umask_when_the_default_pool_is_made(user) -> None:
    """The first link makes the default pool under the user's umask (277: read-only files,
    777: nothing at all); that link and every later one, under any umask, run pooled and
    recorded, with no line of linkpool's; the command keeps the build's umask."""
    name, base, shim = user
    pw = pwd.getpwnam(name)
    for mask in ("277", "777", "077", "377", "222", "027"):
        runtime = Path(tempfile.mkdtemp(prefix="run-", dir=base))
        os.chown(runtime, pw.pw_uid, pw.pw_gid)
        env = {"PATH": os.environ["PATH"], "XDG_RUNTIME_DIR": str(runtime),
               "HOME": str(runtime), "XDG_CONFIG_HOME": str(base / "config-home"),
               "XDG_CONFIG_DIRS": "/nonexistent"}

        def as_user(script: str, env: dict[str, str] = env) -> subprocess.CompletedProcess:
            return subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                                   "--clear-groups", "sh", "-c", script, str(shim)],
                                  capture_output=True, text=True, timeout=60, env=env, cwd="/")

        link = '"$0" run -- sh -c "echo out; exit 3"'
        for again in (mask, mask, "022"):  # the first makes the pool, its files, the history
            r = as_user(f"umask {again}; {link}")
            assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", ""), (mask, again)
        r = as_user(f'umask {mask}; "$0" run -- sh -c umask')
        plain = as_user(f"umask {mask}; umask")
        assert (r.stdout, r.stderr) == (plain.stdout, ""), mask  # the build's umask
        r = as_user('"$0" history --json')
        assert r.returncode == 0, r.stderr
        assert [rec["exit"] for rec in json.loads(r.stdout)] == [3, 3, 3, 0], mask
        pool = runtime / "linkpool"
        assert pool.stat().st_mode & 0o7777 == 0o700 and pool.stat().st_uid == pw.pw_uid
        deep = f'LINKPOOL_DIR="$HOME/a/b/pool" {link}'  # folders above the pool made too
        for again in (mask, "022"):
            r = as_user(f"umask {again}; {deep}")
            assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", ""), (mask, again)


# -- a deleted working directory ----------------------------------------------------------------

SH_GETCWD = "sh: 0: getcwd() failed: No such file or directory\n"  # the launcher's /bin/sh


@pytest.mark.parametrize("pwd", ["keep", "unset", "empty"])
def test_deleted_working_directory(tmp_path: Path, pwd: str) -> None:
    """`mkdir d; cd d; rmdir ../d; linkpool run -- CMD`: the command sees the PWD and the
    working directory it would see bare, and runs pooled, with no line of linkpool's.
    (The launcher's /bin/sh prints its own getcwd line at start-up, before any line of
    the script runs: the one line allowed, until the launcher is a program of its own.)"""
    pool = make_pool(tmp_path / "pool", 2)
    gone = tmp_path / "gone"
    gone.mkdir()
    env = dict(os.environ, LINKPOOL_DIR=str(pool))
    how = {"keep": [], "unset": ["-u", "PWD"], "empty": ["PWD="]}[pwd]
    cmd = [sys.executable, "-c", "import os, sys; print(repr(os.environ.get('PWD')), "
           "os.readlink('/proc/self/cwd')); print('err', file=sys.stderr); sys.exit(3)"]

    def in_gone(argv: list[str]) -> subprocess.CompletedProcess:
        script = 'cd "$0" && rmdir "$0" && exec env "$@"'  # exec: no shell between
        return subprocess.run(["sh", "-c", script, str(gone), *how, *argv], capture_output=True,
                              text=True, env=env, timeout=60, cwd=tmp_path)

    expect = in_gone(cmd)
    gone.mkdir()
    for argv in ([LINKPOOL, "run", "--", *cmd], [LINKPOOL, *cmd]):
        r = in_gone(argv)
        gone.mkdir(exist_ok=True)
        assert (r.returncode, r.stdout) == (expect.returncode, expect.stdout) == (3, r.stdout)
        assert r.stderr.replace(SH_GETCWD, "", 1) == expect.stderr == "err\n", r.stderr
    r = lp("history", "--pool", str(pool), "--json")
    assert len(json.loads(r.stdout)) == 2  # both pooled


# -- a low descriptor limit ---------------------------------------------------------------------

COUNT_FDS = [sys.executable, "-c", """if 1:
    import os, sys
    n = 0
    try:
        while True:
            os.open("/dev/null", os.O_RDONLY)
            n += 1
    except OSError:
        pass
    print("free", n)
    print("err", file=sys.stderr)
    sys.exit(3)"""]


def limited(limit: str, argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", f'ulimit {limit} && exec "$@"', "sh", *argv],
                          capture_output=True, text=True, timeout=60, **kw)


@pytest.mark.parametrize("limit", ["-n 12", "-n 13", "-n 20", "-n 63", "-Sn 12", "-Sn 40"])
def test_low_descriptor_limit_runs_the_command_unpooled(tmp_path: Path, limit: str) -> None:
    """Below 64 descriptors there is no room for the pool: the command runs unpooled after
    one warning, with its stdio intact and every descriptor it would have bare."""
    pool = make_pool(tmp_path / "pool", 2)
    env = dict(os.environ, LINKPOOL_DIR=str(pool))
    expect = limited(limit, COUNT_FDS, env=env)
    assert expect.returncode == 3 and expect.stdout.startswith("free ")
    for form in (["run", "--weight", "2", "--"], []):
        r = limited(limit, [LINKPOOL, *form, *COUNT_FDS], env=env)
        assert (r.returncode, r.stdout) == (3, expect.stdout), (limit, r.stderr)
        warning, rest = r.stderr.split("\n", 1)
        one_warning(warning + "\n")
        assert "ulimit -n" in warning and rest == expect.stderr
    r = limited(limit, [LINKPOOL, "status", "--pool", str(pool)])  # admin commands still work
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("limit", ["-Sn 64", "-Sn 100", "-Sn 1024"])
def test_pooled_command_has_every_descriptor_it_would_have_bare(tmp_path: Path,
                                                                 limit: str) -> None:
    """The slots the command inherits sit above its descriptor limit: it can open as many
    files as it could bare (a weight-3 link under `ulimit -Sn 64` held 3 of its 61)."""
    pool = make_pool(tmp_path / "pool", 4)
    env = dict(os.environ, LINKPOOL_DIR=str(pool))
    expect = limited(limit, COUNT_FDS, env=env)
    r = limited(limit, [LINKPOOL, "run", "--weight", "3", "--", *COUNT_FDS], env=env)
    assert (r.returncode, r.stdout, r.stderr) == (3, expect.stdout, expect.stderr)
    history = json.loads(lp("history", "--pool", str(pool), "--json").stdout)
    assert [rec["weight"] for rec in history] == [3]  # pooled, with its 3 slots


# -- a command line as long as the kernel takes ---------------------------------------------------

COUNT_ARGS = ["/bin/sh", "-c", 'echo "$#"', "x"]


def filler(total: int) -> list[str]:
    """Arguments of ``total`` bytes in all (NULs included), none above MAX_ARG_STRLEN."""
    chunk = 100_000
    out = ["a" * (chunk - 1)] * (total // chunk)
    if total % chunk > 1:
        out.append("b" * (total % chunk - 1))
    return out


def starts(argv: list[str]) -> bool:
    """Whether the kernel takes ``argv`` (with this environment): E2BIG or not."""
    try:
        subprocess.run(argv, capture_output=True, timeout=60)
    except OSError as e:
        if e.errno == 7:
            return False
        raise
    return True


@pytest.mark.parametrize("form", [["run", "--"], []])
def test_command_line_just_under_arg_max(tmp_path: Path, form: list[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A command line that the kernel takes for `linkpool ...` runs, as bare, within a few
    bytes of the limit (getconf ARG_MAX: a quarter of the stack limit): today 126."""
    pool = make_pool(tmp_path / ("pool" * 50), 2)  # a long LINKPOOL_HELD for the command
    monkeypatch.setenv("LINKPOOL_DIR", str(pool))  # `starts` runs with this environment too
    base = [LINKPOOL, *form, *COUNT_ARGS]
    low, high = 0, int(subprocess.check_output(["getconf", "ARG_MAX"])) + 1
    while high - low > 1:  # the longest filler the kernel takes for `linkpool ...`
        mid = (low + high) // 2
        low, high = (mid, high) if starts([*base, *filler(mid)]) else (low, mid)
    assert low > 100_000
    for less in (0, 1, 8, 9, 16, 40, 100, 300):
        args = filler(low - less)
        r = subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout) == (0, f"{len(args)}\n"), (less, r.stderr[:300])
        assert r.stderr == "" or (r.stderr.startswith("linkpool: warning: ")
                                  and r.stderr.count("\n") == 1), r.stderr[:300]


# -- odd environments ---------------------------------------------------------------------------

ODD = {  # a shell prefix that makes the environment odd, then runs CMD
    "stdin closed": "exec <&-; exec",
    "stdout closed": "exec >&-; exec",
    "stderr closed": "exec 2>&-; exec",
    "all closed": "exec <&- >&- 2>&-; exec",
    "no HOME": "unset HOME; exec",
    "read-only HOME": "export HOME=/proc; exec",
    "no PATH": "unset PATH; exec",
    "empty environment": 'exec env -i LINKPOOL_DIR="$LINKPOOL_DIR"',  # not root's own pool
    "huge environment": 'for i in 0 1 2 3 4 5 6 7 8 9; do '  # 1 MB, 100 kB a variable
                        'export BIG$i="$(head -c 100000 /dev/zero | tr "\\0" a)"; done; exec',
    "deleted working directory": 'cd "$D" && rmdir "$D"; exec',
}


def test_odd_environments_as_bare(tmp_path: Path) -> None:
    """In each odd environment the command's status, stdout and stderr are those it has
    bare, and it sees the same environment (but LINKPOOL_HELD) and working directory."""
    pool = make_pool(tmp_path / "pool", 2)
    seen = tmp_path / "seen"
    probe = ("import json, os, sys; e = dict(os.environ); e.pop('LINKPOOL_HELD', 0); "
             "pwd = e.pop('PWD', None); open(sys.argv[1], 'a').write(json.dumps([e, pwd, "
             "os.readlink('/proc/self/cwd')]) + '\\n'); print('out'); "
             "print('err', file=sys.stderr); sys.exit(3)")
    cmd = f"{sys.executable} -c \"{probe}\" {seen}"
    for what, odd in ODD.items():
        results = []
        for argv in (cmd, f"{LINKPOOL} run -- {cmd}", f"{LINKPOOL} {cmd}"):
            gone = tmp_path / "gone"
            gone.mkdir(exist_ok=True)
            env = dict(os.environ, LINKPOOL_DIR=str(pool), D=str(gone))
            r = subprocess.run(["sh", "-c", f"{odd} {argv}"], capture_output=True, text=True,
                               env=env, timeout=60, cwd=tmp_path)
            results.append((r.returncode, r.stdout, r.stderr.replace(SH_GETCWD, "")))
        assert results[0] == results[1] == results[2], (what, results)
        (env0, pwd0, cwd0), *pooled = [json.loads(x) for x in seen.read_text().splitlines()[-3:]]
        for env1, pwd1, cwd1 in pooled:
            assert (env1, cwd1) == (env0, cwd0), what
            # a build that gives no PWD: the launcher's sh exports the right one (launcher.md)
            assert pwd1 == pwd0 or (pwd0 is None and pwd1 == cwd0), what
    assert len(seen.read_text().splitlines()) == 3 * len(ODD)
    assert len(json.loads(lp("history", "--pool", str(pool), "--json").stdout)) == 2 * len(ODD)
