"""One link job as the engine and its plugins see it: a plain record, passed to every hook.

Plugins read and set these attributes; the engine reads them back between hooks. It
imports nothing of linkpool so that hookspecs (and plugin authors) can use it freely.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from typing import Any

    from .settings import Settings


class Job:
    """What is known about one command; attributes are filled in as the steps run."""

    __slots__ = (
        "argv",
        "command",
        "config",
        "cores",
        "cost",
        "cwd",
        "env",
        "extra",
        "jobserver",
        "kind",
        "linker",
        "linker_path",
        "memory",
        "original",
        "output",
        "pool_dir",
        "run",
        "settings",
        "shared",
        "slots",
        "thread_cap",
        "threads",
        "weight",
        "weight_given",
        "weight_max",
    )

    def __init__(self, argv: list[str], cwd: str, env: dict[str, str] | None = None,
                 weight: int | None = None, config: dict[str, Any] | None = None,
                 settings: Settings | None = None) -> None:
        self.argv = list(argv)  #: the command that will run (plugins may rewrite it)
        self.original = list(argv)  #: the command as the user gave it
        self.cwd = cwd
        self.env = env  #: environment for the command (None: the wrapper's own)
        self.command: Any = None  #: linkpool.command.Command, set by the classify step
        self.kind = "unknown"  #: "link", "compile", "info" or "unknown"
        self.linker: Any = None  #: a linkpool.linkers.Linker subclass, or None
        self.linker_path: str | None = None
        self.cost: Cost | None = None
        self.weight = weight  #: slots to hold
        self.weight_given = weight is not None  #: --weight was given: no estimate needed
        #: the most slots the job can use: beyond ``weight`` it takes free ones, up to
        #: this, when nobody waits behind it and their cores are idle (None: just weight)
        self.weight_max: int | None = None
        #: the run of this job's command (linkpool.process.RunContext), set by the engine:
        #: what a plugin holds for the run goes back through its ``at_end``
        self.run: Any = None
        #: the build's jobserver as the jobserver plugin reached it once: (client or
        #: None, its form or why it is unreachable); None: not looked at yet
        self.jobserver: tuple[Any, str] | None = None
        #: the most threads the link may run, set by what limits it beside its slots (the
        #: build's jobserver: 1 + the tokens taken); the threads plugin gives no more
        self.thread_cap: int | None = None
        self.threads: int | None = None  #: linker threads chosen by the engine, if any
        self.slots = 0  #: N of the pool
        self.cores = 1.0  #: usable cores of the machine
        self.memory: int | None = None  #: usable memory of the machine (bytes)
        self.output: str | None = None  #: absolute path of the link output, if known
        #: every setting, resolved once for this command (``linkpool.settings.Settings``:
        #: ``settings.memory_budget``, ``settings.disable``...); None for a job made by
        #: hand, whose plugins then use the settings' defaults
        self.settings = settings
        #: the mapping ``linkpool_configure`` got: the config files' keys (a plugin's own
        #: among them) with every setting's resolved value merged in
        self.config: dict[str, Any] = config if config is not None else \
            settings.config if settings is not None else {}
        self.extra: dict[str, Any] = {}  #: free room for plugins, recorded in the history
        self.pool_dir: str | None = None  #: the pool's directory (None: no pool in use)
        self.shared = False  #: the pool is shared by several users

    def __repr__(self) -> str:
        return f"Job({self.original!r}, kind={self.kind}, weight={self.weight})"


class Cost:
    """What a link is expected to need: memory it adds (bytes) and threads it can use."""

    __slots__ = ("detail", "memory", "source", "threads")

    def __init__(self, memory: int, threads: int, source: str,
                 detail: dict[str, Any] | None = None) -> None:
        self.memory = memory
        self.threads = threads
        self.source = source  #: where the figure came from: "history", "inputs", ...
        self.detail = detail or {}

    def __repr__(self) -> str:
        return f"Cost(memory={self.memory}, threads={self.threads}, source={self.source!r})"


class Usage:
    """How a command ended and what its processes used (``linkpool.process`` measures it)."""

    __slots__ = ("anon_peak_kb", "cpu_s", "max_rss_kb", "run_s", "status", "tail_s")

    def __init__(self, status: int, run_s: float, tail_s: float, cpu_s: float,
                 max_rss_kb: int, anon_peak_kb: int = 0) -> None:
        self.status = status  #: shell-style exit status (128 + N for signal N)
        self.run_s = run_s  #: from start until the command's first process exited
        self.tail_s = tail_s  #: how long its last descendants (mold's child) lived on
        self.cpu_s = cpu_s  #: user + system CPU of every process of the job
        self.max_rss_kb = max_rss_kb  #: largest peak RSS of any process of the job
        #: sampled peak of the job's anonymous memory: what it added (RSS also counts the
        #: page cache of its mmapped inputs)
        self.anon_peak_kb = anon_peak_kb


class Result(Usage):
    """How the job ended: its command's ``Usage``, its wait for slots, and the error that
    kept the command from starting, if any."""

    __slots__ = ("error", "wait_s")

    def __init__(self, status: int, wait_s: float = 0.0, run_s: float = 0.0,
                 tail_s: float = 0.0, cpu_s: float = 0.0, max_rss_kb: int = 0,
                 error: str | None = None, anon_peak_kb: int = 0) -> None:
        super().__init__(status, run_s, tail_s, cpu_s, max_rss_kb, anon_peak_kb)
        self.wait_s = wait_s  #: time spent waiting for slots
        self.error = error

    @classmethod
    def of(cls, usage: Usage, wait_s: float) -> Result:
        """The result of a job whose command ended with ``usage`` after ``wait_s``."""
        return cls(usage.status, wait_s, usage.run_s, usage.tail_s, usage.cpu_s,
                   usage.max_rss_kb, anon_peak_kb=usage.anon_peak_kb)
