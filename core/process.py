"""Run a command as if linkpool were not there: same stdio, same exit status, signals passed on.

The child is started with ``posix_spawn`` so it inherits the slot descriptors and the
signal dispositions the wrapper itself was given. The wrapper blocks the signals it
forwards and collects them with ``sigwaitinfo``, so no signal is lost between spawning the
child and waiting for it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Sequence
from typing import Callable

FORWARD = (
    signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
)
SI_KERNEL = 0x80  # si_code of a signal the terminal sent to the whole foreground group


class SpawnError(Exception):
    """The command could not be started; ``status`` is what a shell would exit with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def exit_status(wait_status: int) -> int:
    """A shell-style status: the exit code, or 128 + the signal that killed the process."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def run(
    argv: Sequence[str],
    pass_fds: Iterable[int] = (),
    env: dict[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> int:
    """Run ``argv`` and return its shell-style exit status.

    ``pass_fds`` are made inheritable. ``on_start(pid)`` is called once the child runs.
    Raises :class:`SpawnError` when the program cannot be run (127 not found, 126 not
    executable), with a one-line message.
    """
    for fd in pass_fds:
        os.set_inheritable(fd, True)
    waited = {*FORWARD, signal.SIGCHLD}
    # Dispositions the wrapper changed must be undone for the child: Python ignores
    # SIGPIPE and SIGXFSZ, and installs handlers (reset by exec anyway) for SIGINT.
    reset = [signal.SIGPIPE, signal.SIGXFSZ]
    reset += [s for s in FORWARD if signal.getsignal(s) not in (signal.SIG_IGN, None)]
    old_chld = signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # SIG_IGN would auto-reap
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        try:
            pid = os.posix_spawnp(
                argv[0], list(argv), os.environ if env is None else env,
                setsigmask=mask, setsigdef=reset,
            )
        except OSError as e:
            status = 127 if isinstance(e, (FileNotFoundError, NotADirectoryError)) else 126
            raise SpawnError(f"cannot run {argv[0]}: {e.strerror}", status) from None
        if on_start is not None:
            on_start(pid)
        while True:
            info = signal.sigwaitinfo(waited)
            if info.si_signo == signal.SIGCHLD:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done == pid:
                    return exit_status(status)
            elif info.si_code != SI_KERNEL:  # the terminal already told the whole group
                try:
                    os.kill(pid, info.si_signo)
                except ProcessLookupError:
                    pass
    finally:
        # Swallow what arrived after the child ended (a Ctrl-C it already died of) rather
        # than let it hit the wrapper once unblocked.
        for signum in signal.sigpending() & waited:
            signal.sigtimedwait([signum], 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGCHLD, old_chld)
