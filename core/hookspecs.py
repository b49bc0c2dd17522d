"""The hooks of a link job: the page a plugin author reads first.

A plugin is a module or object with functions named after these hooks and marked with
:data:`hookimpl` (or ``pluggy.HookimplMarker("linkpool")``: the two are the same marker).
Third-party plugins are found through the ``linkpool`` entry-point group::

    [project.entry-points.linkpool]
    myplugin = "myplugin"

and any plugin, built-in ones included, is switched off by name with
``disable = ["name"]`` in the config file or ``LINKPOOL_DISABLE=name,name``.

The engine calls the hooks in this order for every command: configure, classify; for a
command that runs under the pool: choose_linker, estimate and weigh (unless ``--weight``
was given), tune, before_acquire, after_acquire, after_link; error when a step fails.
Implementations run last-registered first (pluggy's order; ``tryfirst``/``trylast`` move
them). For a ``firstresult`` hook the first implementation that returns something other
than ``None`` decides. The built-in behaviour lives in ``linkpool.plugins`` and uses
these same hooks.

The markers are written here without importing pluggy (it costs the wrapper ~15-40 ms
at start-up): they set the ``linkpool_spec``/``linkpool_impl`` attributes that pluggy's
``HookspecMarker("linkpool")``/``HookimplMarker("linkpool")`` set, with the same options.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar

    from .job import Cost, Job, Result

    F = TypeVar("F", bound=Callable[..., Any])

NAME = "linkpool"


def hookspec(firstresult: bool = False) -> Callable[[F], F]:
    def mark(func: F) -> F:
        opts = {"firstresult": firstresult, "historic": False, "warn_on_impl": None,
                "warn_on_impl_args": None}
        setattr(func, f"{NAME}_spec", opts)
        return func

    return mark


def hookimpl(func: F | None = None, *, tryfirst: bool = False, trylast: bool = False,
             specname: str | None = None) -> Any:
    """Mark a hook implementation: ``@hookimpl`` or ``@hookimpl(tryfirst=True)``."""

    def mark(f: F) -> F:
        opts = {"wrapper": False, "hookwrapper": False, "optionalhook": False,
                "tryfirst": tryfirst, "trylast": trylast, "specname": specname}
        setattr(f, f"{NAME}_impl", opts)
        return f

    return mark(func) if func is not None else mark


@hookspec()
def linkpool_configure(config: dict[str, Any]) -> None:
    """Called once per command, before anything else, with the effective configuration
    (the config file's table merged with ``LINKPOOL_*`` settings)."""


@hookspec(firstresult=True)
def linkpool_classify(job: Job) -> str | None:
    """Say what ``job.argv`` is: ``"link"``, ``"compile"``, ``"info"`` or ``"unknown"``.

    ``compile`` and ``info`` commands run at once, without a slot; ``link`` and
    ``unknown`` commands run under the pool. The built-in implementation parses the
    command line (``job.command``) and sets ``job.output``.
    """


@hookspec()
def linkpool_choose_linker(job: Job) -> None:
    """Set ``job.linker`` (a ``linkpool.linkers.Linker`` class) and ``job.linker_path``
    for a link: which linker the command will really run. A plugin may also rewrite
    ``job.argv`` here to pick another linker."""


@hookspec(firstresult=True)
def linkpool_estimate(job: Job) -> Cost | None:
    """Return the expected :class:`~linkpool.job.Cost` of a link (memory it adds, threads it
    can use). Not called when ``--weight`` was given. The built-in history plugin answers
    first for an output it has seen linked; the inputs plugin reads the ELF inputs."""


@hookspec(firstresult=True)
def linkpool_weigh(job: Job, cost: Cost) -> int | None:
    """Return how many slots the job must hold (1..N), given its cost and the pool
    (``job.slots``, ``job.cores``, ``job.memory``). It may also set ``job.weight_max``:
    the job then takes more free slots, up to that, when it is last in line and their
    cores are idle (the built-in policy, docs/policy.md). Not called with ``--weight``."""


@hookspec()
def linkpool_tune(job: Job) -> None:
    """Adjust ``job.argv`` for the share of the machine the job holds, e.g. the linker's
    thread count. Called once the slots are held: ``job.weight`` is how many.

    The built-in ``threads`` plugin runs last (``trylast``) and sets ``job.threads``; an
    implementation that runs before it may set ``job.threads`` first, as a cap: the
    linker then gets no more threads than that (the ``jobserver`` plugin sets it to 1 +
    the tokens it took from the build's jobserver). Whatever an implementation holds for
    the command's run it gives back through ``linkpool.process.at_end``, which runs as
    soon as the command's first process has ended, however it ended."""


@hookspec(firstresult=True)
def linkpool_before_acquire(job: Job) -> bool | None:
    """Called just before waiting for slots. Return ``False`` to run the command without
    the pool (a veto); ``None`` to let it queue. It may lower ``job.weight_max`` (the
    ``jobserver`` plugin does, to the slots for the threads the build's ``-j`` and its
    free tokens allow); it must not wait on anything the slots' holders may need."""


@hookspec()
def linkpool_after_acquire(job: Job, waited: float) -> None:
    """Called once the slots are held, with the seconds spent waiting."""


@hookspec()
def linkpool_after_link(job: Job, result: Result) -> None:
    """Called when the job is over: its first process has exited and every descendant
    that held the slots (mold's background child) has ended. For a linker that forks
    this runs in the background, after the build system was already answered."""


@hookspec()
def linkpool_error(job: Job, error: BaseException) -> None:
    """Called when a step of linkpool itself failed; the command still runs (or ran)
    as it would without linkpool."""
