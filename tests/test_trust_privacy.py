"""Each user's records in a shared pool are that user's alone (issue 19, class 6 "Privacy").

Real unprivileged users (test_hostile_pools.py's `env`: two users made with useradd and
a copy of linkpool they run with the system Python), real symlinks and FIFOs, in a pool
made by `linkpool init --shared`. The attacker is one user, the victim the other (or
root): the attacker plants symlinks or FIFOs named like linkpool's files before the
victim's first link, writes a huge peak where the victim's measurements are, or tries to
erase the victim's history. The victim's links run pooled, learn only from what the
victim measured, never create or chmod anything outside the pool, and never hang.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import test_hostile_pools as hostile
from test_hostile_pools import Env

from linkpool.history import History  # only to name the victim's output file, as an attacker would

env = hostile.env  # its fixture of two real users and a copy of linkpool they can run
area = hostile.area
pytestmark = hostile.pytestmark

HUGE_KB = 1 << 40  # a peak of 1 PiB


def obj(area: Path) -> Path:
    """An object every user can read and link."""
    (area / "m.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-c", "m.c", "-o", "m.o"], cwd=area, check=True)
    (area / "m.o").chmod(0o644)
    return area / "m.o"


def workdir(env: Env, area: Path, who: str) -> Path:
    d = area / f"work-{who}"
    d.mkdir(mode=0o755)
    env.chown(d, who)
    return d


def link(env: Env, who: str, pool: Path, o: Path, out: Path, timeout: float = 30):
    """The victim's link, as a build runs it: strict, so an unusable pool would say 69."""
    return subprocess.run(
        [*env.prefix(who), env.shim if who != "root" else hostile.LINKPOOL, "run", "--strict",
         "--pool", str(pool), "--", "gcc", "-fuse-ld=lld", str(o), "-o", str(out)],
        capture_output=True, text=True, cwd="/", timeout=timeout, env=env.environ())


def history(env: Env, who: str, pool: Path, timeout: float = 30) -> list[dict]:
    r = subprocess.run([*env.prefix(who), env.shim if who != "root" else hostile.LINKPOOL,
                        "history", "--pool", str(pool), "--json"], capture_output=True,
                       text=True, cwd="/", timeout=timeout, env=env.environ())
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return json.loads(r.stdout)


def trap(env: Env, area: Path, attacker: str) -> Path:
    """A folder of the attacker's, open to all, where a victim must never write."""
    d = area / "trap"
    d.mkdir()
    d.chmod(0o777)
    env.chown(d, attacker)
    return d


def snapshot(d: Path) -> list[tuple[str, int, int]]:
    return sorted((p.name, p.stat().st_mode, p.stat().st_uid) for p in [d, *d.iterdir()])


@pytest.mark.parametrize("plant", ["policy and outputs", "every name"])
@pytest.mark.parametrize("who", ["user", "root"])
def test_symlinked_folders_planted_before_the_first_link(env: Env, area: Path, who: str,
                                                         plant: str) -> None:
    victim, attacker = hostile.who_is(env, who)
    pool, _ = hostile.shared_pool(env, area, 2)
    o, work = obj(area), workdir(env, area, victim)
    bait = trap(env, area, attacker)
    names = ["policy", "outputs"]
    if plant == "every name":
        names += [f"user.{env.uid(victim)}", "history.jsonl", "history.jsonl.1"]
    for name in names:
        r = env.sh(attacker, f"ln -s {bait} {pool}/{name}")
        assert r.returncode == 0, r.stderr
    before = snapshot(bait)
    for _ in range(2):
        r = link(env, victim, pool, o, work / "app")
        assert r.returncode == 0 and r.stderr == "", r.stderr
        records = history(env, victim, pool)  # also waits for the records
    assert snapshot(bait) == before  # nothing made, nothing chmodded there
    assert not list(bait.iterdir())
    if plant == "policy and outputs":  # the victim's links were pooled and recorded
        mine = [r for r in records if r.get("output") == str(work / "app")]
        assert len(mine) == 2 and all(r["exit"] == 0 and r["slots"] for r in mine), records


def test_a_planted_peak_does_not_weigh_on_the_victim(env: Env, area: Path) -> None:
    victim, attacker = env.users
    pool, _ = hostile.shared_pool(env, area, 4)
    o, work = obj(area), workdir(env, area, victim)
    app = work / "app"
    r = link(env, victim, pool, o, app)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    first = [r for r in history(env, victim, pool) if r.get("output") == str(app)]
    assert len(first) == 1
    planted = dict(first[0], max_rss_kb=HUGE_KB, anon_peak_kb=HUGE_KB)
    (area / "planted.json").write_text(json.dumps(planted))
    key = History.key(str(app))
    # everywhere the attacker can reach: any outputs record, and the victim's own name
    script = (f"mkdir -p {pool}/outputs 2>/dev/null; "
              f"for f in {pool}/outputs/*.json {pool}/*/outputs/*.json "
              f"{pool}/outputs/{key}.json {pool}/user.{env.uid(victim)}/outputs/{key}.json; "
              f"do cat {area}/planted.json > \"$f\" 2>/dev/null; done; true")
    assert env.sh(attacker, script).returncode == 0
    r = link(env, victim, pool, o, app)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    second = [r for r in history(env, victim, pool) if r.get("output") == str(app)][-1]
    estimate = second["estimate"] or {}
    assert estimate.get("memory", 0) < HUGE_KB, estimate
    assert estimate.get("last_max_rss_kb") != HUGE_KB, estimate
    assert second["weight"] < 4, second


def test_another_user_cannot_erase_or_rewrite_the_victims_history(env: Env,
                                                                  area: Path) -> None:
    victim, attacker = env.users
    pool, _ = hostile.shared_pool(env, area, 2)
    o = obj(area)
    work = {who: workdir(env, area, who) for who in env.users}
    for who in (victim, attacker):
        r = link(env, who, pool, o, work[who] / "app")
        assert r.returncode == 0 and r.stderr == "", r.stderr
        history(env, who, pool)  # waits for the record
    victims = [p for p in pool.rglob("*") if p.name.startswith("history")
               and p.stat().st_uid == env.uid(victim)]
    assert victims
    for f in victims:
        for attempt in (f": > {f}", f"echo '{{}}' >> {f}", f"rm -f {f}", f"mv -f {f} {f}.x",
                        f"chmod 666 {f}", f"rm -rf {f.parent}"):
            r = env.sh(attacker, attempt)
            assert r.returncode != 0 and ("Permission denied" in r.stderr or
                                          "not permitted" in r.stderr), (attempt, r)
    mine = [r for r in history(env, victim, pool) if r.get("output") == str(work[victim] / "app")]
    assert len(mine) == 1 and mine[0]["exit"] == 0
    # what each may read: every user's history (as the slots show every command line)
    seen = {r.get("output") for r in history(env, attacker, pool)}
    assert {str(work[victim] / "app"), str(work[attacker] / "app")} <= seen


def test_fifos_named_like_our_files_never_hang(env: Env, area: Path) -> None:
    victim, attacker = env.users
    pool, _ = hostile.shared_pool(env, area, 4)
    o, work = obj(area), workdir(env, area, victim)
    app = work / "app"
    key = History.key(str(app))
    mine = f"{pool}/user.{env.uid(attacker)}"
    fifos = [f"{pool}/history.jsonl", f"{pool}/history.jsonl.1",
             f"{pool}/policy/lld-16M.json", f"{pool}/policy/recent.json",
             f"{pool}/policy/lock", f"{pool}/policy/pending", f"{pool}/outputs/{key}.json",
             f"{mine}/history.jsonl", f"{mine}/history.jsonl.1",
             f"{mine}/policy/pending", f"{mine}/policy/lld-16M.json"]
    r = env.sh(attacker, f"mkdir -m 777 {pool}/policy {pool}/outputs && mkdir -m 755 {mine} "
                         f"&& mkdir -m 755 {mine}/policy && mkfifo -m 666 {' '.join(fifos)}")
    assert r.returncode == 0, r.stderr
    for _ in range(2):  # the second link reads what the first measured
        r = link(env, victim, pool, o, app, timeout=30)  # a hang would be for ever
        assert r.returncode == 0 and r.stderr == "", r.stderr
        records = history(env, victim, pool, timeout=30)
    assert len([r for r in records if r.get("output") == str(app)]) == 2
    for command in ("stats", "trace"):
        r = subprocess.run([*env.prefix(victim), env.shim, command, "--pool", str(pool)],
                           capture_output=True, text=True, cwd="/", timeout=30,
                           env=env.environ())
        assert r.returncode == 0 and r.stderr == "", (command, r.stderr)
    for f in fifos:
        assert stat.S_ISFIFO(os.stat(f).st_mode)  # nobody replaced or removed them
