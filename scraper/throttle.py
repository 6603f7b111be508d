"""AutoThrottle: per-host delays that follow the server's latency (Scrapy's algorithm).

Flow position: fed by the fetch threads after each response; it sets the host's throttle delay
in the frontier, which turns it into ready times like every other delay.

For each response: target delay = latency / AUTOTHROTTLE_TARGET_CONCURRENCY; the new delay is
the average of the current one and the target, clamped to [DOWNLOAD_DELAY,
AUTOTHROTTLE_MAX_DELAY]. An error response may raise the delay but never lower it: a server
that answers errors fast must not speed the crawl up.
"""

from __future__ import annotations

import threading

from .settings import Settings


class AutoThrottle:
    def __init__(self, settings: Settings) -> None:
        self.start = max(settings.AUTOTHROTTLE_START_DELAY, settings.host_delay)
        self.min_delay = settings.host_delay
        self.max_delay = settings.AUTOTHROTTLE_MAX_DELAY
        self.target = settings.AUTOTHROTTLE_TARGET_CONCURRENCY
        self._delays: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, host: str, latency: float, status: int | None) -> float:
        """The host's next delay after a response that took ``latency`` seconds."""
        with self._lock:
            current = self._delays.get(host, self.start)
            target = latency / self.target
            new = max(self.min_delay, min(self.max_delay, (current + target) / 2.0))
            if (status is None or not 200 <= status < 300) and new < current:
                new = current
            self._delays[host] = new
            return new
