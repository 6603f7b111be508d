"""Memory of the crawl's process tree, as the summary reports it.

Flow position: outside the flow; the engine's main thread samples at each tick. The CLI also
sets how the main process's threads share glibc's heap (``use_one_malloc_arena``).

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


def process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it (Linux's ``/proc/PID/task/TID/children``),
    or ``[root]`` where that cannot be read. For the crawl: the main process, the parse pool's
    fork server and workers, multiprocessing's resource tracker, and whatever spider code
    started."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                    todo.extend(int(child) for child in fh.read().split())
            except (OSError, ValueError):
                continue
    return tree


def tree_memory(pids: Iterable[int]) -> TreeMemory:
    """The memory of processes ``pids`` together: PSS where every one is readable."""
    pids = list(pids)
    pss = [_pss(pid) for pid in pids]
    if all(value is not None for value in pss):
        return TreeMemory(sum(value or 0 for value in pss), "PSS")
    return TreeMemory(sum(_rss(pid) for pid in pids), "RSS")


_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def use_one_malloc_arena() -> None:
    """Have every thread of this process allocate from glibc's main arena (where the libc is
    glibc; elsewhere nothing changes). Call before the threads start.

    glibc gives each new thread an arena of its own on its first allocation, up to eight per
    core: with sixteen fetch threads each reading 90 KB bodies, every arena keeps its own free
    pages, and on the heavy benchmark the main process held 5 MB more at the same speed.
    Python threads allocate holding the GIL, so the one arena is hardly contended.
    """
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, 1)
