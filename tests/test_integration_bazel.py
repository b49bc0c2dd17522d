"""The Bazel toolchain stub, with the real Bazel: examples/bazel built offline into a pool.

Bazel is Debian's `bazel-bootstrap` (installed here as root when missing). It runs with
its output under the test's tmp directory (`--output_user_root`) and its server is shut
down at the end of the module (`--max_idle_secs` backs that up if the run is killed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linkpool.pool import hold

from conftest import BIN, LINKPOOL, history, make_pool, status, wait_for

ROOT = Path(__file__).resolve().parent.parent
LINKS = {"hello", "sum", "loader", "libshout.so", "libmathx.so", "libgreet.so"}
ARCHIVES = {"libmathx.a", "libgreet.a"}
# Debian's /etc/bazel/bazelrc turns on --sandbox_debug (every action's sandbox kept, and
# linux-sandbox's trace on stderr); the tests turn it off.
COMMON = ["--nosandbox_debug", "--jobs=4", "--color=no", "--curses=no"]
NETWORK = ("Unknown host", "Error downloading", "UnknownHostException")


def find_bazel() -> str | None:
    found = shutil.which("bazel")
    if found is None and os.geteuid() == 0:
        for argv in (["apt-get", "install", "-y", "-qq", "bazel-bootstrap"],
                     ["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "bazel-bootstrap"]):
            subprocess.run(argv, check=False, capture_output=True, timeout=900)
            found = shutil.which("bazel")
            if found:
                break
    return found


class Bazel:
    """A workspace and the Bazel server that builds it, under a private output root."""

    def __init__(self, exe: str, ws: Path, user_root: Path) -> None:
        self.exe = exe
        self.ws = ws
        self.user_root = user_root
        self.startup = [f"--output_user_root={user_root}", "--max_idle_secs=600"]

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINKPOOL")}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        env["LINKPOOL"] = LINKPOOL  # the .bazelrc passes it on with --action_env
        env.update(extra)
        return env

    def __call__(self, *args: str, env: dict[str, str] | None = None,
                 wait: bool = True) -> Any:
        argv = [self.exe, *self.startup, *args]
        if not wait:
            return subprocess.Popen(argv, cwd=self.ws, env=env or self.env(),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return subprocess.run(argv, cwd=self.ws, env=env or self.env(), capture_output=True,
                              text=True, timeout=600)

    def output_base(self) -> Path:
        return Path(self("info", "output_base").stdout.strip())

    def shutdown(self) -> None:
        subprocess.run([self.exe, *self.startup, "shutdown"], cwd=self.ws, env=self.env(),
                       capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def bazel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bazel]:
    exe = find_bazel()
    if exe is None:
        pytest.skip("no `bazel` on PATH, and `apt-get install bazel-bootstrap` "
                    + ("did not provide one" if os.geteuid() == 0 else "needs root"))
    base = tmp_path_factory.mktemp("bazel")
    # examples/bazel finds the toolchain and the stubs at ../../integrations/bazel
    for part in ("examples/bazel", "integrations/bazel"):
        shutil.copytree(ROOT / part, base / part, ignore=shutil.ignore_patterns("bazel-*"))
    b = Bazel(exe, base / "examples" / "bazel", base / "bazel-root")
    try:
        yield b
    finally:
        b.shutdown()


def build(bazel: Bazel, pool: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    done = bazel("build", *COMMON, *args, env=bazel.env(LINKPOOL_DIR=str(pool), **env))
    if done.returncode != 0:
        lines = (done.stderr + done.stdout).splitlines()
        offline = [line for line in lines if any(m in line for m in NETWORK)]
        if offline:  # a repository Bazel wants to download: not this toolchain's fault
            pytest.skip(f"Bazel cannot build offline here: {offline[0].strip()}")
    return done


def run(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_every_link_of_the_example_goes_through_the_pool(bazel: Bazel, tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    # LINKPOOL_STRICT: a pool the sandbox keeps linkpool from would fail the link,
    # rather than let it run ungated with a warning.
    done = build(bazel, pool, "--action_env=LINKPOOL_STRICT=1", "//...")
    assert done.returncode == 0, done.stderr[-4000:]

    records = history(pool)
    assert sorted(Path(r["output"] or "?").name for r in records) == sorted(LINKS), records
    assert all(r["exit"] == 0 and r["linker"] == "bfd" for r in records), records
    assert all(r["command"][0] == "gcc" and r["command"][1].startswith("@bazel-out/")
               for r in records), records  # gcc with Bazel's params file, parsed for -o
    # Linux sandbox here: each link ran in its own sandbox execroot.
    assert all("/sandbox/" in r["cwd"] for r in records), [r["cwd"] for r in records]

    bin_dir = bazel.ws / "bazel-bin"
    for name in ARCHIVES:  # archived by ar, not linked: never in the pool
        assert (bin_dir / name).exists(), name
    assert run([str(bin_dir / "hello"), "bazel"], bazel.ws) == "hello, bazel (10)\n"
    assert run([str(bin_dir / "sum"), "4"], bazel.ws) == "sum 1..4 = 10\n"
    assert run([str(bin_dir / "loader"), str(bin_dir / "libshout.so"), "loud"],
               bazel.ws) == "LOUD\n"


def test_compiles_stay_on_plain_gcc(bazel: Bazel) -> None:
    out = bazel("aquery", "--nosandbox_debug", "--output=text", "//:sum").stdout
    tools = {m: [] for m in ("CppCompile", "CppLink", "CppArchive")}
    mnemonic = None
    for line in out.splitlines():
        if line.strip().startswith("Mnemonic:"):
            mnemonic = line.split(":", 1)[1].strip()
        elif line.strip().startswith("Command Line:") and mnemonic in tools:
            tools[mnemonic].append(line)
    assert tools["CppLink"] and all("linkpool_link.sh" in c for c in tools["CppLink"]), tools
    # not through the wrapper nor the launcher (whose path, a clone's, may hold "linkpool")
    assert tools["CppCompile"] and not any("linkpool_link.sh" in c or LINKPOOL in c
                                           for c in tools["CppCompile"]), tools


def test_sandbox_needs_the_pool_writable_and_flock_crosses_it(bazel: Bazel) -> None:
    # A pool inside Bazel's output base: linux-sandbox mounts that read-only in actions.
    pool = make_pool(bazel.output_base() / "linkpool-test-pool", 1)

    denied = build(bazel, pool, "--action_env=LINKPOOL_STRICT=1", "--linkopt=-Wl,-O1", "//:sum")
    if denied.returncode == 0 and "linux-sandbox" not in denied.stderr:
        processes = [line for line in denied.stderr.splitlines() if "processes:" in line]
        pytest.skip(f"Bazel's actions do not run in linux-sandbox here: {processes}")
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr, denied.stderr[-3000:]
    assert history(pool) == []

    # With --sandbox_writable_path the link joins the pool; with the pool's only slot
    # held out here, it waits inside its sandbox until the slot comes free.
    with hold(1, pool=str(pool), timeout=10) as lease:
        assert lease is not None
        proc = bazel("build", *COMMON, f"--sandbox_writable_path={pool}", "--linkopt=-Wl,-O2",
                     "//:sum", env=bazel.env(LINKPOOL_DIR=str(pool), LINKPOOL_STRICT="1"),
                     wait=False)
        try:
            st = wait_for(lambda: status(pool)["waiters"], timeout=300, what="a waiting link")
        except BaseException:
            proc.kill()
            raise
        waiter = st[0]
        assert "/sandbox/" in waiter["cwd"] and waiter["output"].endswith("/bin/sum"), waiter
        # its pid is the sandbox's (a fresh pid namespace): correctness rests on flock
        assert waiter["pid"] < 100, waiter
        time.sleep(0.5)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    (rec,) = history(pool)
    assert Path(rec["output"]).name == "sum" and rec["exit"] == 0
    assert rec["wait_s"] >= 0.5, rec


def test_unsandboxed_links_learn_from_history(bazel: Bazel, tmp_path: Path) -> None:
    # In a sandbox every link's output path holds the sandbox's number, so a repeat link
    # is never recognised; run links with --strategy=CppLink=local and it is.
    pool = make_pool(tmp_path / "pool", 2)
    for opt in ("-O1", "-O2"):  # a changed link flag: the same output linked again
        done = build(bazel, pool, "--strategy=CppLink=local", f"--linkopt=-Wl,{opt}", "//:sum")
        assert done.returncode == 0, done.stderr[-3000:]
    first, second = history(pool)
    assert first["output"] == second["output"] == str(bazel.output_base() / "execroot"
                                                      / "linkpool_bazel_example" / "bazel-out"
                                                      / "k8-fastbuild" / "bin" / "sum")
    assert second["estimate"]["source"] == "history", second


def test_flags_alone_turn_it_on_in_any_workspace(bazel: Bazel, tmp_path: Path) -> None:
    # docs/bazel.md's command: nothing in the workspace names linkpool
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "WORKSPACE").write_text("")
    (ws / "BUILD").write_text('cc_binary(name = "app", srcs = ["app.cc"])\n')
    (ws / "app.cc").write_text('#include <iostream>\nint main() { std::cout << "app\\n"; }\n')
    other = Bazel(bazel.exe, ws, bazel.user_root)
    integration = bazel.ws.parent.parent / "integrations" / "bazel"
    try:
        pool = make_pool(other.output_base() / "pool", 1)  # read-only in its sandboxes
        flags = [f"--override_repository=rules_cc={integration}/stubs/rules_cc",
                 f"--override_repository=rules_java={integration}/stubs/rules_java",
                 f"--override_repository=linkpool={integration}",
                 "--crosstool_top=@linkpool//:toolchain",
                 f"--action_env=LINKPOOL_DIR={pool}", f"--sandbox_writable_path={pool}"]
        env = {k: v for k, v in bazel.env().items() if k != "LINKPOOL"}  # found on PATH
        done = other("build", *COMMON, *flags, "--action_env=LINKPOOL_STRICT=1", "//:app",
                     env=env)
        assert done.returncode == 0, done.stderr[-4000:]
        (rec,) = history(pool)
        assert rec["output"].endswith("/bin/app") and rec["exit"] == 0, rec
        assert run([str(ws / "bazel-bin" / "app")], ws) == "app\n"
    finally:
        other.shutdown()
