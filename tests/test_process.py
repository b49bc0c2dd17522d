"""`linkpool run` with real processes: pass-through, signals, waiting, killing, timeouts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import LINKPOOL, lp, make_pool, status, wait_for, witness_cmd, witness_log


def start(pool: Path, *cmd: str, weight: int = 1, **kw) -> subprocess.Popen:
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [LINKPOOL, "run", "--pool", str(pool), "--weight", str(weight), "--", *cmd], **kw
    )


def holders(pool: Path) -> int:
    return sum(h["held"] for h in status(pool)["holders"])


# -- the command behaves as without linkpool ---------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 3, 77, 255])
def test_exit_status_passes_through(pool3: Path, code: int) -> None:
    assert lp("run", "--pool", str(pool3), "--", "sh", "-c", f"exit {code}").returncode == code


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV])
def test_death_by_signal_is_death_by_that_signal(pool3: Path, sig: int) -> None:
    r = lp("run", "--pool", str(pool3), "--", "sh", "-c", f"kill -{int(sig)} $$")
    assert r.returncode == -sig  # the wrapper dies of it too, as the bare command did


def test_stdio_passes_through_byte_for_byte(pool3: Path) -> None:
    data = bytes(range(256)) * 64
    script = "import sys; d = sys.stdin.buffer.read(); sys.stdout.buffer.write(d[::-1]); " \
             "sys.stderr.buffer.write(d[:300])"
    r = subprocess.run([LINKPOOL, "run", "--pool", str(pool3), "--", sys.executable, "-c", script],
                       input=data, capture_output=True, timeout=60)
    bare = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True)
    assert (r.returncode, r.stdout, r.stderr) == (bare.returncode, bare.stdout, bare.stderr)


def test_launcher_form_is_run(pool3: Path) -> None:
    env = {**os.environ, "LINKPOOL_DIR": str(pool3)}
    r = lp("sh", "-c", "echo out; echo err >&2; exit 4", env=env)
    assert (r.returncode, r.stdout, r.stderr) == (4, "out\n", "err\n")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_reach_the_command(pool3: Path, tmp_path: Path, sig: int) -> None:
    got = tmp_path / "got"
    script = (
        "import signal, sys, time\n"
        f"signal.signal({int(sig)}, lambda s, f: (open({str(got)!r}, 'w').write(str(s)), "
        "sys.exit(5)))\n"
        f"open({str(tmp_path / 'ready')!r}, 'w').close()\n"
        "time.sleep(30)\n"
    )
    p = start(pool3, sys.executable, "-c", script)
    wait_for(lambda: (tmp_path / "ready").exists(), what="command start")
    p.send_signal(sig)
    assert p.wait(timeout=20) == 5
    assert got.read_text() == str(int(sig))


def test_missing_command_is_127_with_one_line(pool3: Path) -> None:
    r = lp("run", "--pool", str(pool3), "--", "no-such-program-xyz")
    assert r.returncode == 127
    assert r.stderr.startswith("linkpool: ") and r.stderr.count("\n") == 1


def test_nested_run_in_the_same_pool_does_not_wait(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    r = lp("run", "--pool", str(pool), "--timeout", "5", "--",
           LINKPOOL, "run", "--pool", str(pool), "--timeout", "1", "--", "true")
    assert r.returncode == 0, r.stderr


# -- usage errors are one line ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--weight", "0", "--", "true"],
        ["run", "--weight", "x", "--", "true"],
        ["run", "--timeout", "-1", "--", "true"],
        ["run", "--bogus", "--", "true"],
        ["run", "--pool"],
        ["run", "--"],
        ["init", "--slots", "many"],
        ["status", "--frobnicate"],
        ["--frobnicate"],
    ],
)
def test_usage_errors_are_one_line(pool3: Path, args: list[str]) -> None:
    r = lp(*args)
    assert r.returncode == 2
    assert r.stderr.startswith("linkpool: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_weight_above_capacity_holds_every_slot_not_a_hang(pool3: Path) -> None:
    r = lp("run", "--pool", str(pool3), "--weight", "4", "--", "true", timeout=10)
    assert r.returncode == 0
    assert r.stderr.startswith("linkpool: warning: weight 4 is more than the 3 slots")


# -- waiting ------------------------------------------------------------------------------------


def test_timeout_exits_75_and_holds_nothing(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    holder = start(pool, "sleep", "30")
    wait_for(lambda: holders(pool) == 1, what="holder")
    t = time.monotonic()
    r = lp("run", "--pool", str(pool), "--timeout", "0.5", "--", "touch", str(tmp_path / "ran"))
    assert r.returncode == 75
    assert 0.4 < time.monotonic() - t < 5
    assert r.stderr.startswith("linkpool: gave up") and r.stderr.count("\n") == 1
    assert not (tmp_path / "ran").exists()
    assert status(pool)["waiting"] == 0
    holder.kill()
    holder.wait()


def test_ctrl_c_while_waiting_dies_of_it_promptly_and_frees_the_line(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    holder = start(pool, "sleep", "30", start_new_session=True)
    wait_for(lambda: holders(pool) == 1, what="holder")
    waiter = start(pool, "true")
    behind = start(pool, "true")
    wait_for(lambda: status(pool)["waiting"] == 2, what="two waiters")
    t = time.monotonic()
    waiter.send_signal(signal.SIGINT)
    assert waiter.wait(timeout=5) == -signal.SIGINT
    assert time.monotonic() - t < 2
    assert waiter.stderr.read() == b""
    wait_for(lambda: status(pool)["waiting"] == 1, what="one waiter left")
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    assert behind.wait(timeout=10) == 0  # the interrupted waiter's ticket does not block it


def test_waiters_are_served_in_arrival_order_with_weights(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 2)
    order = tmp_path / "order"
    holder = start(pool, "sleep", "30", start_new_session=True)
    wait_for(lambda: holders(pool) == 1, what="holder")
    jobs = []
    # Heavy and light jobs alternate: with one slot free, every light job could overtake the
    # heavy one ahead of it if the line were not FIFO; in order, no two of them overlap.
    for i, weight in enumerate([2, 1, 2, 1, 2]):
        cmd = ["sh", "-c", f"echo {i} >> {order}; sleep 0.05"]
        jobs.append(start(pool, *cmd, weight=weight))
        wait_for(lambda n=i + 1: status(pool)["waiting"] == n, what=f"{i + 1} waiters")
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    assert [j.wait(timeout=30) for j in jobs] == [0] * 5
    assert order.read_text().split() == ["0", "1", "2", "3", "4"]


def test_sigkill_of_the_whole_job_frees_its_slots_at_once(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    holder = start(pool, "sleep", "30", start_new_session=True)
    wait_for(lambda: holders(pool) == 1, what="holder")
    waiter = start(pool, "true")
    wait_for(lambda: status(pool)["waiting"] == 1, what="waiter")
    t = time.monotonic()
    os.killpg(holder.pid, signal.SIGKILL)
    assert waiter.wait(timeout=10) == 0
    assert time.monotonic() - t < 1.0
    holder.wait()


def test_sigkill_of_the_wrapper_alone_keeps_the_slots_until_the_command_ends(
    tmp_path: Path,
) -> None:
    pool = make_pool(tmp_path / "p", 1)
    flag = tmp_path / "go"
    cmd = ["sh", "-c", f"while [ ! -e {flag} ]; do sleep 0.02; done"]
    holder = start(pool, *cmd, start_new_session=True)
    wait_for(lambda: holders(pool) == 1, what="holder")
    holder.kill()  # the wrapper only; its command lives on with the inherited slot
    holder.wait()
    r = lp("run", "--pool", str(pool), "--timeout", "0.5", "--", "true")
    assert r.returncode == 75
    assert holders(pool) == 1
    flag.touch()
    r = lp("run", "--pool", str(pool), "--timeout", "10", "--", "true")
    assert r.returncode == 0


def test_resize_while_busy(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 3)
    gates = [tmp_path / f"gate{i}" for i in range(3)]
    busy = [start(pool, "sh", "-c", f"while [ ! -e {g} ]; do sleep 0.02; done") for g in gates]
    wait_for(lambda: holders(pool) == 3, what="three holders")
    lp("init", "--pool", str(pool), "--slots", "1", check=True)
    newcomer = start(pool, "true")
    wait_for(lambda: status(pool)["waiting"] == 1, what="newcomer waits")
    for g in gates[:2]:  # one old holder left: with N=1 the pool is still full
        g.touch()
    wait_for(lambda: holders(pool) == 1, what="one holder left")
    time.sleep(0.3)
    assert newcomer.poll() is None
    gates[2].touch()
    assert newcomer.wait(timeout=10) == 0
    # Growing lets a waiter in at once.
    blocker = start(pool, "sh", "-c", f"while [ ! -e {tmp_path / 'end'} ]; do sleep 0.02; done")
    wait_for(lambda: holders(pool) == 1, what="blocker")
    grower = start(pool, "true")
    wait_for(lambda: status(pool)["waiting"] == 1, what="grower waits")
    lp("init", "--pool", str(pool), "--slots", "2", check=True)
    assert grower.wait(timeout=5) == 0
    (tmp_path / "end").touch()
    assert [p.wait(timeout=10) for p in [*busy, blocker]] == [0] * 4


def test_polling_fallback_waits_and_wakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKPOOL_WAKEUP", "polling")
    pool = make_pool(tmp_path / "p", 1)
    assert status(pool)["wakeup"].startswith("polling")
    holder = start(pool, "sleep", "0.5")
    wait_for(lambda: holders(pool) == 1, what="holder")
    assert lp("run", "--pool", str(pool), "--timeout", "10", "--", "true").returncode == 0
    assert holder.wait(timeout=10) == 0


# -- the acceptance scenario ----------------------------------------------------------------


def test_witness_catches_overadmission_without_the_pool(tmp_path: Path) -> None:
    """The witness is not vacuous: ungated jobs are seen overlapping."""
    procs = [subprocess.Popen(witness_cmd(tmp_path, str(i), 2, 0.5)) for i in range(4)]
    assert [p.wait(timeout=30) for p in procs] == [0] * 4
    assert witness_log(tmp_path)[0] > 3


def test_48_jobs_with_random_sigkills_never_exceed_the_pool(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 3)
    seen = tmp_path / "seen"
    seen.mkdir()
    rng = random.Random(20261125)
    jobs = []
    for i in range(48):
        weight = rng.choice([1, 2])
        cmd = witness_cmd(seen, str(i), weight, rng.uniform(0.05, 0.3))
        p = start(pool, *cmd, weight=weight, start_new_session=True)
        jobs.append((p, weight))
    victims = dict(zip(rng.sample(range(48), 6), ["wrapper", "job"] * 3))
    for i, how in victims.items():
        time.sleep(rng.uniform(0.0, 0.3))
        p = jobs[i][0]
        if how == "wrapper":
            p.kill()
        else:
            os.killpg(p.pid, signal.SIGKILL)
    codes = {i: p.wait(timeout=120) for i, (p, _) in enumerate(jobs)}
    most, entered, done = witness_log(seen)
    assert most <= 3, f"the witness saw weight {most} inside a 3-slot pool"
    for i, code in codes.items():
        if i not in victims:
            assert code == 0, f"job {i} exited {code}: {jobs[i][0].stderr.read()!r}"
            assert str(i) in done
    assert len(entered) >= 48 - len(victims)
    # Commands whose wrapper alone was killed finish on their own; then the pool is empty.
    wait_for(lambda: not status(pool)["holders"], timeout=30, what="no holders")
    st = status(pool)
    assert (st["waiting"], st["unknown_holders"]) == (0, 0)
    t = time.monotonic()
    r = lp("run", "--pool", str(pool), "--weight", "3", "--timeout", "5", "--", "true")
    assert r.returncode == 0
    assert time.monotonic() - t < 2


def test_a_long_wait_says_one_line_then_one_when_it_starts(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    holder = start(pool, "sleep", "2.5", start_new_session=True)
    wait_for(lambda: holders(pool) == 1, what="holder")
    r = lp("run", "--pool", str(pool), "--", "true")
    lines = r.stderr.splitlines()
    assert r.returncode == 0 and len(lines) == 2, r.stderr
    assert lines[0].startswith("linkpool: waiting for 1 of 1 slots (0 job(s) ahead; held by sleep")
    assert lines[1].startswith("linkpool: got 1 slot(s) after ")
    holder.wait()
    # quiet: nothing at all
    for quiet in (["--quiet"], []):
        holder = start(pool, "sleep", "2", start_new_session=True)
        wait_for(lambda: holders(pool) == 1, what="holder")
        env = {**os.environ, "LINKPOOL_QUIET": "0" if quiet else "1"}
        assert lp("run", *quiet, "--pool", str(pool), "--", "true", env=env).stderr == ""
        holder.wait()


def test_a_waiter_behind_others_counts_them(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "p", 1)
    holder = start(pool, "sleep", "3", start_new_session=True)
    wait_for(lambda: holders(pool) == 1, what="holder")
    first = start(pool, "true")
    wait_for(lambda: status(pool)["waiting"] == 1, what="first waiter")
    r = lp("run", "--pool", str(pool), "--", "true")
    assert r.stderr.splitlines()[0].startswith("linkpool: waiting for 1 of 1 slots (1 job(s) ahead")
    assert first.wait(timeout=10) == 0
    holder.wait()


# -- settings and options (the CLI's side of run) -----------------------------------------------


@pytest.mark.parametrize("form", [["run", "--"], []])
def test_a_wrong_setting_names_its_source_and_the_command_still_runs(
        form: list[str], tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("pool = 3\n")
    for env, line in (
            ({"LINKPOOL_CONFIG": str(config)},
             f"{config}: 'pool' must be a directory path (a string), not 3"),
            ({"LINKPOOL_MEMORY_BUDGET": "abc"},
             "LINKPOOL_MEMORY_BUDGET='abc' is not a number in (0, 1] (the share of usable "
             "memory links may use)")):
        r = lp(*form, "sh", "-c", "echo out; exit 3", cwd=tmp_path, env={**os.environ, **env})
        assert (r.returncode, r.stdout) == (3, "out\n")
        assert r.stderr == f"linkpool: warning: {line}; running the command without linkpool\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_run_pool_without_a_value_is_a_usage_error_and_makes_no_pool(tmp_path: Path) -> None:
    for args in (["--pool", "--", "true"], ["--pool", "--weight", "1", "--", "true"],
                 ["--pool=", "--", "true"], ["--timeout", "--", "true"]):
        r = lp("run", *args, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith("linkpool: run: --") and "needs a value" in r.stderr
        assert list(tmp_path.iterdir()) == [], args
