"""The alarm a store's waiting fetch threads share: a few of them keep the time.

Flow position: inside a store (frontier.py, distributed/frontier.py), between ``next()``
answering ``Wait`` and the fetch thread asking again.

When nothing can be handed out yet, the idle fetch threads wait for the earliest ready time.
Were each to sleep until it, all of them would wake at it: hundreds of threads, a hundred
times a second on a polite crawl of many hosts, each taking the GIL and the store's lock only
to be told to wait again, while the thread that could use the time sends its request late.
Were one alone to keep the time, hosts whose times fall together (a crawl's hosts start
together and keep step) would each wait for the thread that took the previous one to wake the
next, and on a busy machine every such hand-over waits for the scheduler: measured on 20 hosts
paced at 0.2 s with other processes keeping both cores busy, the median start came 1.5-15 ms
after its ready time with one keeper, under 1.2 ms with four or with every thread awake.

So ``KEEPERS`` waiting threads sleep until the earliest time and the others until told. Two
rules keep the keepers there whenever threads wait and something is due:

- a thread that takes work while too few keep the time wakes one waiter, which asks the store,
  gets the next time and keeps it in turn (``taken``);
- a change that may make something ready sooner wakes a waiter, as before (the store's own
  ``notify``); it keeps the time too if its time is sooner than the kept ones.
"""

from __future__ import annotations

import threading

KEEPERS = 4  # threads awake at a ready time: enough for the hosts ready with it, few wakings


class Alarm:
    """The waiting discipline of one store; every method is called with ``changed``'s lock
    held (the store's lock), so the alarm's times change with the store's state."""

    def __init__(self, changed: threading.Condition, keepers: int = KEEPERS) -> None:
        self._changed = changed
        self._keepers = keepers
        self._timers: list[float] = []  # when each thread sleeping until a time wakes

    def wait(self, now: float, until: float) -> None:
        """Sleep until ``until`` (store clock) unless enough threads wake by then already,
        else until told; either way until the store's condition is notified."""
        if len(self._timers) >= self._keepers and until >= max(self._timers):
            self._changed.wait()
            return
        self._timers.append(until)
        try:
            self._changed.wait(until - now)
        finally:
            self._timers.remove(until)

    @property
    def keeping(self) -> int:
        """How many waiting threads sleep until a time (the rest until told)."""
        return len(self._timers)

    def taken(self) -> None:
        """This thread took work and leaves the waiting: if too few threads keep the time
        now, wake one waiter to keep it."""
        if len(self._timers) < self._keepers:
            self._changed.notify()
