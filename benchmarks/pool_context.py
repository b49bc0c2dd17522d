"""What every section of the pool benchmark shares: its sizes, a scratch directory, the
environment the measured commands run in, and process helpers."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    quick: bool
    api_cycles: int  # in-process acquire + release cycles
    command_rounds: int  # interleaved rounds of the whole-command comparison
    import_runs: int  # -X importtime runs of each command (per-module medians)
    wake_trials: int  # trials of each wake-latency series
    idle_waiters: int  # processes waiting while the CPU they burn is measured
    idle_seconds: float  # the measuring window
    soak_cycles: int
    soak_workers: int
    soak_budget: float  # seconds; then the workers stop after their current cycle
    kill_rate: float = 0.01  # chance, after each finished soak cycle, of a SIGKILL
    stop_rate: float = 0.01  # ... of a SIGSTOP of a worker, SIGCONT 2-30 ms later
    resize_rate: float = 0.002  # ... of resizing the pool to 2 or 3 slots
    seed: int = 20251125


FULL = Settings(False, 5000, 120, 5, 200, 200, 10.0, 10_000, 64, 120.0)
QUICK = Settings(True, 1000, 30, 3, 50, 50, 3.0, 1_000, 16, 25.0)


def find_linkpool() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "linkpool")
    found = here if os.access(here, os.X_OK) else shutil.which("linkpool")
    if not found:
        raise SystemExit("pool_bench: no `linkpool` command next to this python or on PATH")
    return found


@dataclass
class Context:
    settings: Settings
    workdir: str
    env: dict[str, str]
    linkpool: str

    @classmethod
    def create(cls, settings: Settings) -> Context:
        workdir = tempfile.mkdtemp(prefix="linkpool-bench-", dir="/tmp")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINKPOOL_")}
        # Measure the installed state: bytecode cached (kept out of the source tree).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(workdir, "pycache")
        env["XDG_CONFIG_HOME"] = os.path.join(workdir, "config-home")  # no config file
        return cls(settings, workdir, env, find_linkpool())

    def path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def make_pool(self, name: str, slots: int) -> str:
        from linkpool import Pool

        path = self.path(name)
        Pool.open(path, default_slots=slots).close()
        return path

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def spawn(
    argv: Sequence[str],
    env: dict[str, str],
    stderr: str | None = None,
    group: int | None = None,
) -> int:
    """posix_spawn ``argv`` with stdin and stdout on /dev/null and stderr appended to the
    file ``stderr`` (else /dev/null); ``group`` puts it in that process group (0: its own)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (
            os.POSIX_SPAWN_OPEN, 2, stderr or os.devnull,
            os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600,
        ),
    ]
    kw = {} if group is None else {"setpgroup": group}
    return os.posix_spawn(argv[0], list(argv), env, file_actions=actions, **kw)


def tail(path: str, lines: int = 5) -> str:
    """The last lines of a log file, for an error message ("" when there is none)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:]).strip()
    except FileNotFoundError:
        return ""
