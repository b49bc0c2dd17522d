"""The hooks of a link job: the page a plugin author reads first.

A plugin is a module or object with functions named after these hooks and marked with
:data:`hookimpl` (``pluggy.HookimplMarker("linkpool")``).
Third-party plugins are found through the ``linkpool`` entry-point group::

    [project.entry-points.linkpool]
    myplugin = "myplugin"

and any plugin, built-in ones included, is switched off by name with
``disable = ["name"]`` in the config file or ``LINKPOOL_DISABLE=name,name``.

The engine (``linkpool.engine.Engine.run``) calls the hooks in the order they are
written below, for every command:

1. ``configure``, then ``classify``. A ``compile`` or ``info`` command (and a nested run
   inside a link that already holds slots of the same pool) runs at once, without a
   slot, and no other hook is called for it.
2. The pool is opened; when it cannot be used the command runs without it (or, strict,
   not at all) and no other hook is called. The job now knows ``slots``, ``cores`` and
   ``memory``.
3. For a ``link``: ``choose_linker``; then, unless ``--weight`` was given, ``estimate``
   and, when an estimate came back, ``weigh``. (An ``unknown`` command skips these and
   weighs 1, or its ``--weight``.)
4. ``before_acquire``, which may veto: the command then runs without the pool and no
   other hook is called.
5. The slots are acquired (the wait), then ``tune``, then ``after_acquire``.
6. The command runs holding them; ``after_link`` once it is over, after the answer.

``error`` is called whenever one of these calls raises; the step is then skipped and
the command runs on. Implementations run last-registered first (pluggy's order;
``tryfirst``/``trylast`` move them). For a ``firstresult`` hook the first implementation
that returns something other than ``None`` decides. The built-in behaviour lives in
``linkpool.plugins`` and uses these same hooks. Every hook that gets the ``job`` finds
the command's settings, resolved once, in ``job.settings`` (``linkpool.settings``).
"""

from __future__ import annotations

import pluggy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .job import Cost, Job, Result

NAME = "linkpool"

hookspec = pluggy.HookspecMarker(NAME)
#: Marks a hook implementation: ``@hookimpl`` or ``@hookimpl(tryfirst=True)``.
hookimpl = pluggy.HookimplMarker(NAME)


@hookspec()
def linkpool_configure(config: dict[str, Any]) -> None:
    """Called once per command, first (as soon as the plugins are loaded), with the
    effective configuration, also kept in ``job.config``: every key of the config files
    (a key of a more important file wins), a plugin's own keys among them, with every
    setting of ``linkpool.settings`` merged in as this command resolved it, from the
    command line, the ``LINKPOOL_*`` variables, the files or its default
    (``config["memory_budget"]``, ``config["disable"]``, ``config["wakeup"]``...)."""


@hookspec(firstresult=True)
def linkpool_classify(job: Job) -> str | None:
    """Say what ``job.argv`` is: ``"link"``, ``"compile"``, ``"info"`` or ``"unknown"``
    (``None`` from every implementation counts as ``"unknown"``). Called right after
    configure.

    ``compile`` and ``info`` commands run at once, without a slot, and no other hook is
    called for them; ``link`` and ``unknown`` commands run under the pool. The built-in
    implementation parses the command line (``job.command``) and sets ``job.output``.
    """


@hookspec()
def linkpool_choose_linker(job: Job) -> None:
    """Set ``job.linker`` (a ``linkpool.linkers.Linker`` class) and ``job.linker_path``
    for a link: which linker the command will really run. Called for a ``link`` only,
    once the pool is open (``job.slots``, ``job.cores``, ``job.memory`` are known). A
    plugin may also rewrite ``job.argv`` here to pick another linker."""


@hookspec(firstresult=True)
def linkpool_estimate(job: Job) -> Cost | None:
    """Return the expected :class:`~linkpool.job.Cost` of a link (memory it adds, threads it
    can use). Called for a ``link`` after choose_linker, unless ``--weight`` was given.
    The built-in history plugin (``tryfirst``) answers for an output it has seen linked;
    the ``cost`` plugin (``trylast``) reads the ELF inputs."""


@hookspec(firstresult=True)
def linkpool_weigh(job: Job, cost: Cost) -> int | None:
    """Return how many slots the job must hold, given its cost and the pool
    (``job.slots``, ``job.cores``, ``job.memory``). Called right after estimate, and only
    when it returned a cost. A whole number >= 1 becomes ``job.weight`` (at most N,
    ``job.slots``); anything else leaves the weight at 1. It may also set
    ``job.weight_max``: the job then takes more free slots, up to that, when it is last
    in line and their cores are idle (the built-in policy, docs/policy.md)."""


@hookspec(firstresult=True)
def linkpool_before_acquire(job: Job) -> bool | None:
    """Called for every command that will queue (a ``link`` or ``unknown`` one), after
    weigh and just before waiting for slots: ``job.weight`` is set (its ``--weight``,
    what weigh said, else 1). Return ``False`` to run the command at once without the
    pool (a veto: no other hook is called for it, after_link neither); ``None`` to let it
    queue. It may lower ``job.weight_max`` (the ``jobserver`` plugin does, to the slots
    for the threads the build's ``-j`` and its free tokens allow); it must not wait on
    anything the slots' holders may need."""


@hookspec()
def linkpool_tune(job: Job) -> None:
    """Adjust ``job.argv`` for the share of the machine the job holds, e.g. the linker's
    thread count. Called once the slots are held, before after_acquire: ``job.weight``
    is now how many it holds (more than it was weighed, up to ``job.weight_max``, when it
    took free slots nobody waited for).

    The built-in ``threads`` plugin runs last (``trylast``) and sets ``job.threads``; an
    implementation that runs before it may set ``job.thread_cap``: the linker then gets
    no more threads than that (the ``jobserver`` plugin sets it to 1 + the tokens it took
    from the build's jobserver). Whatever an implementation holds for
    the command's run it gives back through ``job.run.at_end`` (the run's
    ``linkpool.process.RunContext``; ``linkpool.process.at_end`` is the same list), which
    runs as soon as the command's first process has ended, however it ended."""


@hookspec()
def linkpool_after_acquire(job: Job, waited: float) -> None:
    """Called after tune, just before the command starts holding the slots, with the
    seconds spent waiting (``job.extra`` has the slots' numbers, ``"slots"``, and the
    Unix time they were all held, ``"admitted"``)."""


@hookspec()
def linkpool_after_link(job: Job, result: Result) -> None:
    """Called when a command that ran holding slots is over (not for one that ran
    without the pool): its first process has exited and every descendant that held the
    slots (mold's background child) has ended. It runs after the build system has its
    answer, in a process of its own that holds no slot and whose stdin, stdout and
    stderr are /dev/null (stderr stays the build's with ``check_output``); where such a
    process would not outlive the wrapper (a PID namespace's first process or its
    child, Bazel's sandboxes) the wrapper calls it before it answers
    (docs/engine.md, "The answer first")."""


@hookspec()
def linkpool_error(job: Job, error: BaseException) -> None:
    """Called when one of the calls above raised (one warning line says so, once per
    command): that step is skipped, and the command still runs (or ran) as it would
    without it."""
