"""The politeness core: one configuration and one set of rules for every frontier store.

Flow position: inside the frontier (spider -> **frontier** -> fetch threads). The memory store
applies these rules in Python and the Redis store in its Lua scripts, which receive every
parameter from here (``Politeness.redis_conf`` and ``stretch``), so the promise made to a site
has one definition:

- a host's requests start at least ``host_delay`` apart: the stricter of DOWNLOAD_DELAY (or
  DOWNLOAD_RATE), the host's robots.txt Crawl-delay and AutoThrottle's current delay;
- with RANDOMIZE_DOWNLOAD_DELAY, each gap is stretched by a factor drawn once per transition in
  [1, 1.5): stretched, never shortened, since the configured delay is a promise to the site;
- no more than ``concurrency_per_host`` requests to one host are in flight at once;
- Retry-After and a host found down push the host's next time later, never earlier;
- a URL is crawled once (``fingerprint_key``: the first 8 bytes of the request fingerprint),
  unless its request says ``dont_filter``; nothing deeper than DEPTH_LIMIT is queued.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .models import Request

if TYPE_CHECKING:
    from .settings import Settings

STRETCH_MAX = 1.5  # RANDOMIZE_DOWNLOAD_DELAY stretches a gap by up to half of it, as Scrapy


@dataclass(frozen=True, slots=True)
class Politeness:
    """How a frontier spaces and orders requests; defaults as ``Settings``'s."""

    concurrency_per_host: int = 2
    delay: float = 0.0
    randomize_delay: bool = False
    depth_limit: int = 0
    lifo: bool = True
    throttle_start: float = 0.0  # AutoThrottle's delay for a host it has not measured yet

    @classmethod
    def from_settings(cls, settings: Settings) -> Politeness:
        return cls(
            concurrency_per_host=settings.CONCURRENT_REQUESTS_PER_DOMAIN,
            delay=settings.host_delay,
            randomize_delay=settings.RANDOMIZE_DOWNLOAD_DELAY,
            depth_limit=settings.DEPTH_LIMIT,
            lifo=settings.FRONTIER_ORDER == "lifo",
            throttle_start=(
                max(settings.AUTOTHROTTLE_START_DELAY, settings.host_delay)
                if settings.AUTOTHROTTLE_ENABLED
                else 0.0
            ),
        )

    def too_deep(self, request: Request) -> bool:
        return bool(self.depth_limit) and request.depth > self.depth_limit

    def host_delay(self, own: float | None, throttle: float) -> float:
        """The gap between two starts on a host with robots.txt delay ``own`` (None if it set
        none) and AutoThrottle delay ``throttle``, before any stretch."""
        return max(self.delay, own or 0.0, throttle)

    def stretch(self, rng: random.Random) -> float:
        """The factor one gap is multiplied by: drawn once, then both compared and kept."""
        return rng.uniform(1.0, STRETCH_MAX) if self.randomize_delay else 1.0

    def redis_conf(self) -> dict[str, float | int]:
        """What the Redis scripts read from the crawl's ``conf`` hash (the first worker's)."""
        return {
            "concurrency": self.concurrency_per_host,
            "delay": self.delay,
            "throttle_start": self.throttle_start,
            "lifo": int(self.lifo),
        }


def fingerprint_key(request: Request) -> int:
    """The 64-bit key a frontier deduplicates on: what the request fetches (canonical URL,
    method, body), so URLs differing only in their query string are different pages."""
    return int.from_bytes(request.fingerprint()[:8], "big")
