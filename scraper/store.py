"""The crawl store: the one contract between the engine and the crawl's to-do list.

Flow position: spider start requests and callback output -> **store** -> fetch threads; the
export stage acknowledges finished pages back to it.

A store holds the frontier (dedup, depth, per-host politeness: ``politeness.py``), the leases
of requests being worked on, and what must outlast one run. ``build.open_store`` builds one of
three from the settings, and the engine never asks which it has:

- ``MemoryFrontier`` (frontier.py): one process, nothing kept after it;
- the same with an ``SQLiteJournal`` (jobdir.py, ``--jobdir``): every transition of the memory
  frontier is also journaled, so a crawl survives crashes and resumes;
- ``RedisFrontier`` (distributed/, ``FRONTIER_URL``): the same transitions as Lua scripts,
  shared by many crawl processes.

A request's life in every store: ``add`` (deduplicated) -> queued -> ``next`` hands out a
``Lease`` -> ``mark_sent`` as its bytes go out, ``sent`` once they are out -> ``release`` when
the fetch ends (the host slot is free; with ``retry_at`` it is queued again) -> ``ack`` once its
page's items are written, with the page's new requests (queued in the same step). Until the
ack the request is *open*: a crash before it means the page is done again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .models import Request

Clock = Callable[[], float]  # a monotonic clock, injectable in tests


@dataclass(frozen=True, slots=True)
class Lease:
    """A request handed out to fetch now; it stays this worker's until released or acked."""

    request: Request


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing can be handed out yet: a host's time or a retry comes in ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Idle:
    """Nothing is queued at all (more may come from requests still open), or the store is
    closed."""


IDLE = Idle()
Next = Lease | Wait | Idle


class ItemJournal(Protocol):
    """A file of keyed items that outlasts the run (jobdir.ItemJournal, a Redis worker's part):
    written before pages are acknowledged, the output assembled from it at the end."""

    path: Path

    def write(self, keyed: list[tuple[str, dict[str, Any]]]) -> None: ...

    def close(self) -> None: ...

    def finalise(self, feeds: Any) -> int:
        """Write every feed (a ``feeds.FeedSet``) from the journal; returns the items written."""


class CrawlStore(Protocol):
    """What the engine and the fetch threads need from a store. Thread-safe."""

    durable: bool  # requests left at the end are kept for a later run (a job folder)
    resumed: int  # requests an earlier run left, loaded at open

    def add(self, request: Request) -> bool:
        """Queue ``request`` unless it was seen before or is too deep. Never blocks."""

    def add_many(self, requests: Sequence[Request]) -> int:
        """``add`` each of ``requests``; returns how many were new."""

    def next(self) -> Next:
        """A lease on a request to fetch now, or how long until one is ready, or idle."""

    def mark_sent(self, request: Request) -> None:
        """``request`` is being sent now (its connection is open, its headers go next): its
        host's delay counts from here, not from the lease. Raises LeaseLost if it is no
        longer this worker's to send."""

    def sent(self, request: Request) -> None:
        """``request``'s headers are written (after ``mark_sent``): the site can see it now.
        Where the store can, the host's delay counts from here, with the gap ``mark_sent``
        drew: the write itself can be held up for milliseconds on a busy machine."""

    def release(self, request: Request, retry_at: float | None = None) -> None:
        """The fetch of a leased request ended: its host slot is free. With ``retry_at`` (a
        clock time) the request is queued again, not before then, without counting as new."""

    def give_back_turn(self, request: Request) -> None:
        """``request`` was answered without contacting its host (an HTTP cache hit): the
        delay its lease charged is taken back where the store can tell it is still its own."""

    def ack(self, request: Request, children: Sequence[Request] = ()) -> bool:
        """``request`` is finished for good (its items are written, or it failed): forget it,
        and queue ``children`` (its page's new requests) in the same step. False if the
        request is no longer this worker's (nothing was queued: whoever holds it does that)."""

    def defer_host(self, host: str, until: float) -> None:
        """Contact ``host`` again no earlier than ``until`` (Retry-After, a host found down)."""

    def set_host_delay(self, host: str, delay: float, throttle: bool = False) -> None:
        """Space requests to ``host`` at least ``delay`` apart: its robots.txt Crawl-delay, or
        (``throttle``) AutoThrottle's current delay. Applies to the next request already."""

    def wait(self, timeout: float) -> None:
        """Block until the store changes or ``timeout`` seconds pass."""

    def close(self) -> None:
        """Stop handing out requests; ``next()`` is idle from now on."""

    def claim_seeding(self) -> bool:
        """True if this process should add the spider's start requests: not resumed, and (in
        a shared crawl) the first worker to ask."""

    def finish_seeding(self) -> None:
        """The start requests are in: a resume or a later worker does not add them again."""

    def seeding_lapsed(self) -> bool:
        """The process that claimed seeding stopped before finishing it: seed again."""

    def finished(self) -> bool:
        """The whole crawl is done: seeded, nothing queued, nothing open anywhere."""

    def queued_hosts(self) -> set[str] | None:
        """The hosts with requests queued, or None when other processes share the queue and
        only they could say."""

    def park_host(self, host: str) -> list[Request]:
        """Take every queued request of ``host`` out of this run and return them, not
        acknowledged: a durable store keeps them for the next run."""

    def remember(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` for as long as the store lasts, unless a value is
        there already; returns the stored one (the first writer wins)."""

    def recall(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""

    def item_journal(self, output: Path) -> ItemJournal | None:
        """Where this process writes its items before acknowledging their pages, if the
        store outlasts the run; None: items go straight to the feeds."""

    def claim_output(self) -> bool:
        """True for the one process that writes the final output from the item journals."""

    def shutdown(self) -> None:
        """Release what this process holds (leases, files, threads). Last call."""

    @property
    def queued(self) -> int: ...

    @property
    def leased(self) -> int:
        """Requests this process is fetching (leased and not yet released)."""


class CrawlState:
    """What a spider keeps for the whole crawl (``spider.crawl_state``): JSON values that last
    as long as the store, so across resumes with a job folder and across workers with Redis.
    The first value stored under a key wins, so workers starting together agree.
    """

    def __init__(self, store: CrawlStore) -> None:
        self._store = store

    def get(self, key: str, default: Any = None) -> Any:
        raw = self._store.recall(key)
        return default if raw is None else json.loads(raw)

    def setdefault(self, key: str, value: Any) -> Any:
        """Store ``value`` unless ``key`` has one; returns the value stored (as dict.setdefault)."""
        return json.loads(self._store.remember(key, json.dumps(value)))
