"""BoundedQueue: the bounded, closable channel between two stages.

Flow position: fetch threads -> **response queue** -> parse dispatch, and parse results ->
**item queue** -> pipelines and exporters.

Capacity is required and counted both in entries and in bytes (Scrapy's scraper slot backs out
on bytes, trio's channels make capacity explicit). A full queue blocks ``put``: that is the
backpressure that stops fetching when parsing falls behind. ``close()`` wakes everyone: blocked
producers get QueueClosed, consumers drain what is left and then get QueueClosed.

Wake-ups are handed on one at a time: a ``get`` wakes one blocked producer, and a producer that
got in wakes the next while room is left. Waking them all (a hundred fetch threads behind a full
queue) costs the main process more than the crawl itself. A woken producer whose entry is too
heavy for the room left waits again; the next ``get`` wakes another, and an empty queue takes
any entry, so none waits forever.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import QueueClosed

T = TypeVar("T")


@dataclass(slots=True)
class QueueStats:
    max_items: int
    max_bytes: int
    high_water_items: int = 0
    high_water_bytes: int = 0
    put_wait_seconds: float = 0.0  # time producers spent blocked: how much backpressure bit


class BoundedQueue(Generic[T]):
    def __init__(self, max_items: int, max_bytes: int | None = None) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self._entries: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._closed = False
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._not_empty = threading.Condition(self._lock)
        self.stats = QueueStats(max_items, max_bytes if max_bytes is not None else 0)

    def _has_room(self, size: int) -> bool:
        if len(self._entries) >= self.stats.max_items:
            return False
        # One oversized entry may pass when the queue is empty, or it could never move.
        return (
            not self.stats.max_bytes
            or not self._entries
            or self._bytes + size <= self.stats.max_bytes
        )

    def put(self, value: T, size: int = 0) -> None:
        """Add ``value`` (weighing ``size`` bytes); block while the queue is full."""
        with self._not_full:
            if not self._closed and not self._has_room(size):
                started = time.monotonic()
                while not self._closed and not self._has_room(size):
                    self._not_full.wait()
                self.stats.put_wait_seconds += time.monotonic() - started
            if self._closed:
                raise QueueClosed("queue is closed")
            self._entries.append((value, size))
            self._bytes += size
            self.stats.high_water_items = max(self.stats.high_water_items, len(self._entries))
            self.stats.high_water_bytes = max(self.stats.high_water_bytes, self._bytes)
            self._not_empty.notify()
            if self._has_room(0):
                self._not_full.notify()

    def get(self, timeout: float | None = None) -> T:
        """Take the oldest value; block while empty. Raises QueueClosed once closed and drained,
        TimeoutError if ``timeout`` passes first."""
        with self._not_empty:
            if not self._entries and not self._closed:
                self._not_empty.wait_for(lambda: self._entries or self._closed, timeout)
            if not self._entries:
                if self._closed:
                    raise QueueClosed("queue is closed")
                raise TimeoutError
            value, size = self._entries.popleft()
            self._bytes -= size
            self._not_full.notify()
            return value

    def get_batch(self, most: int, most_bytes: int | None = None, linger: float = 0.0) -> list[T]:
        """Take the oldest value, blocking while empty, and up to ``most - 1`` more, while the
        batch weighs at most ``most_bytes`` (the first value is taken whatever it weighs).
        Once a value is there, wait at most ``linger`` seconds for the others, never longer
        (no wait when there are already ``most``, or when the queue is full or closed). One
        lock for the batch. Raises QueueClosed once closed and drained."""
        with self._not_empty:
            while not self._entries and not self._closed:
                self._not_empty.wait()
            if linger > 0:
                deadline = time.monotonic() + linger
                while (
                    not self._closed
                    and len(self._entries) < most
                    and (most_bytes is None or self._bytes < most_bytes)
                    and self._has_room(0)
                    and (left := deadline - time.monotonic()) > 0
                ):
                    self._not_empty.wait(left)
            if not self._entries:
                raise QueueClosed("queue is closed")
            batch: list[T] = []
            weight = 0
            while self._entries and len(batch) < most:
                size = self._entries[0][1]
                if batch and most_bytes is not None and weight + size > most_bytes:
                    break
                value, _ = self._entries.popleft()
                self._bytes -= size
                weight += size
                batch.append(value)
            # One wake-up: a producer that gets in wakes the next while room is left.
            self._not_full.notify()
            return batch

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._not_full.notify_all()
            self._not_empty.notify_all()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes
