"""A linkpool plugin that breaks linkpool on purpose, for tests/test_failopen.py.

It joins linkpool the way any third-party plugin does (an entry point in a directory of
``$LINKPOOL_PLUGIN_PATH``). ``$LP_FAULT`` says where to fail (several places: comma-separated):

- a hook name (``linkpool_tune``): that hook raises;
- ``MODULE:ATTR`` (``linkpool.capacity:read_machine``, ``linkpool.pool:Lease.settle``): that
  function of linkpool is replaced, when linkpool configures its plugins, by one that raises.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from linkpool.hookspecs import hookimpl

FAULT = os.environ.get("LP_FAULT", "")
FAULTS = set(filter(None, FAULT.split(",")))


class InjectedFault(RuntimeError):
    pass


def _fail(*args: Any, **kwargs: Any) -> Any:
    raise InjectedFault(f"injected fault in {FAULT}")


def _maybe(hook: str) -> None:
    if hook in FAULTS:
        _fail()


@hookimpl(tryfirst=True)
def linkpool_configure(config: dict[str, Any]) -> None:
    _maybe("linkpool_configure")
    for fault in FAULTS:
        if ":" not in fault:
            continue
        module, _, attr = fault.partition(":")
        owner: Any = importlib.import_module(module)
        *parents, name = attr.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        setattr(owner, name, _fail)


@hookimpl(tryfirst=True)
def linkpool_classify(job: Any) -> None:
    _maybe("linkpool_classify")


@hookimpl(tryfirst=True)
def linkpool_choose_linker(job: Any) -> None:
    _maybe("linkpool_choose_linker")


@hookimpl(tryfirst=True)
def linkpool_estimate(job: Any) -> None:
    _maybe("linkpool_estimate")


@hookimpl(tryfirst=True)
def linkpool_weigh(job: Any, cost: Any) -> None:
    _maybe("linkpool_weigh")


@hookimpl(tryfirst=True)
def linkpool_before_acquire(job: Any) -> None:
    _maybe("linkpool_before_acquire")


@hookimpl(tryfirst=True)
def linkpool_tune(job: Any) -> None:
    _maybe("linkpool_tune")


@hookimpl(tryfirst=True)
def linkpool_after_acquire(job: Any, waited: float) -> None:
    _maybe("linkpool_after_acquire")


@hookimpl(tryfirst=True)
def linkpool_after_link(job: Any, result: Any) -> None:
    _maybe("linkpool_after_link")


@hookimpl(tryfirst=True)
def linkpool_error(job: Any, error: BaseException) -> None:
    _maybe("linkpool_error")
