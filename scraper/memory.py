"""Memory of the crawl's process tree, as the summary reports it.

Flow position: outside the flow; the engine's main thread samples at each tick.

PSS (proportional set size) counts a page shared by N processes as 1/N in each, so the sum over
the crawl and its parse workers is what the tree really costs; RSS counts shared pages (the
framework and libraries a fork server preloaded) once per process and overstates a pool. Linux
gives PSS in ``/proc/PID/smaps_rollup``; elsewhere, or for a process that cannot be read, the
sum falls back to RSS and says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TreeMemory:
    bytes: int
    kind: str  # "PSS", or "RSS" when some process's PSS could not be read


def _pss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def tree_memory(pids: Iterable[int]) -> TreeMemory:
    """The memory of processes ``pids`` together: PSS where every one is readable."""
    pids = list(pids)
    pss = [_pss(pid) for pid in pids]
    if all(value is not None for value in pss):
        return TreeMemory(sum(value or 0 for value in pss), "PSS")
    return TreeMemory(sum(_rss(pid) for pid in pids), "RSS")
