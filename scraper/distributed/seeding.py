"""Seeding a shared crawl: which one of its workers adds the spider's start requests.

Flow position: before the crawl's first request. The engine asks ``RedisFrontier.claim_seeding``
once at start, ``seeding_lapsed`` while it waits for work, and ``finish_seeding`` when the start
requests are in; the frontier hands each to the ``SeedingClaim`` it holds, and its keeper thread
calls ``keep`` with every heartbeat.

Two keys: ``seeding`` holds the claim (the worker's id), and expires after REDIS_LEASE_TIMEOUT
unless its holder's heartbeat extends it, so a seeder that dies half-way frees it for another
worker; ``seeded`` is set once the start requests are in, and never removed.
"""

from __future__ import annotations

import logging
from typing import Any

from .connection import CrawlRedis

log = logging.getLogger("scraper.redis")


class SeedingClaim:
    """This worker's side of the crawl's seeding claim. ``claim``, ``lapsed`` and ``finish``
    are called from the engine's thread, ``keep`` from the frontier's keeper thread."""

    def __init__(self, crawl: CrawlRedis, lease_timeout: float) -> None:
        self._redis = crawl.client
        self._retrying = crawl.retrying
        self._claim_key = crawl.key("seeding")
        self.seeded_key = crawl.key("seeded")  # read by the frontier's ``finished``
        self._worker_id = crawl.worker_id
        self._crawl_name = crawl.crawl_name
        self._lease_ms = int(lease_timeout * 1000)
        self._held = False  # this worker is adding the start requests
        self._seeded_seen = False

    def claim(self) -> bool:
        """True for the one worker that should add the start requests: the first to ask, or the
        first to ask again after that one died before it finished (see ``lapsed``)."""

        def claim() -> list[Any]:
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(self._claim_key, self._worker_id, nx=True, px=self._lease_ms)
            pipe.exists(self.seeded_key)
            return pipe.execute()  # type: ignore[no-any-return]

        claimed, seeded = self._retrying(claim)
        # The claim lapses unless its keeper extends it: a claim won once seeding is done
        # (its seeder finished while its claim ran out) has nothing left to do.
        self._held = bool(claimed) and not seeded
        if not self._held and not seeded:
            log.info("another worker is adding the start requests of crawl %s", self._crawl_name)
        return self._held

    def lapsed(self) -> bool:
        """The worker adding the start requests stopped before it finished: its claim ran out
        (nobody extends it any more) and the crawl is not seeded. One call per check until the
        crawl is seeded, none after."""
        if self._held or self._seeded_seen:
            return False

        def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=True)
            pipe.exists(self.seeded_key)
            pipe.exists(self._claim_key)
            return pipe.execute()  # type: ignore[no-any-return]

        seeded, seeding = self._retrying(read)
        self._seeded_seen = bool(seeded)
        if seeded or seeding:
            return False
        log.warning(
            "crawl %s: its seeding worker stopped half-way; seeding again", self._crawl_name
        )
        return True

    def finish(self) -> None:
        """The start requests are in: no worker adds them again."""
        self._retrying(lambda: self._redis.set(self.seeded_key, self._worker_id))
        self._held = False
        self._seeded_seen = True

    def keep(self) -> None:
        """Extend the claim while this worker holds it (with every heartbeat)."""
        if self._held:
            self._retrying(lambda: self._redis.pexpire(self._claim_key, self._lease_ms))
