"""Talking to Redis through trouble: one connection pool per process, and retries with backoff
around every call, so a Redis restart pauses the workers instead of ending them.

Flow position: under ``RedisFrontier`` and ``crawl --status``; nothing else opens Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import ScraperError

log = logging.getLogger("scraper.redis")

T = TypeVar("T")

# redis-py's own retries are off: ours below cover every call, with one policy.
SOCKET_TIMEOUT = 10.0
CONNECT_TIMEOUT = 2.0
FIRST_PAUSE = 0.05
LONGEST_PAUSE = 2.0
TRANSIENT = (redis.ConnectionError, redis.TimeoutError)  # BusyLoadingError is one too


class RedisUnavailable(ScraperError):
    """Redis could not be reached (at start), or not again within REDIS_RETRY_TIMEOUT."""


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def connect(url: str) -> redis.Redis:
    """A client for ``url`` (redis://HOST:PORT/DB), checked with a PING; one clear error if not."""
    try:
        client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise RedisUnavailable(f"cannot reach Redis at {display_url(url)}: {exc}") from exc
    return client


class Retrying:
    """Runs Redis calls, retrying transient failures with exponential backoff until
    ``timeout`` seconds have passed; logs an outage once, and its end."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = display_url(url)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._outage_since: float | None = None

    def __call__(self, call: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.timeout
        pause = FIRST_PAUSE
        while True:  # bounded by the deadline
            try:
                result = call()
            except TRANSIENT as exc:
                self._trouble(exc)
                if time.monotonic() + pause > deadline:
                    raise RedisUnavailable(
                        f"lost Redis at {self.url} for over {self.timeout:.0f}s: {exc}"
                    ) from exc
                time.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE)
                continue
            if self._outage_since is not None:
                self._recovered()
            return result

    def _trouble(self, exc: Exception) -> None:
        with self._lock:
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                log.warning("Redis at %s unavailable (%s); retrying with backoff", self.url, exc)

    def _recovered(self) -> None:
        with self._lock:
            if self._outage_since is not None:
                log.warning(
                    "Redis at %s is back after %.1fs",
                    self.url,
                    time.monotonic() - self._outage_since,
                )
                self._outage_since = None
