"""Data the parse workers build on first use, built once in the fork server instead.

Flow position: outside the flow, before it starts. A module marks with ``warm_up`` a cached
function whose result every worker would otherwise build for itself (the extraction stop-word
lists: 46 MB a worker). Marking runs nothing: the main process never calls them. The fork
server, once it has imported the framework and the spider's modules, imports
``scraper.fork_server`` last, which calls them: each worker then shares those pages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[[], Any])

_marked: list[Callable[[], Any]] = []


def warm_up(function: F) -> F:
    """Have the fork server call ``function`` (a cached function of no arguments) up front."""
    _marked.append(function)
    return function


def warm_all() -> None:
    for function in _marked:
        # One that fails (a missing extra) fails again where a worker needs it, and is
        # reported there; the others are still built here.
        with contextlib.suppress(Exception):
            function()
