"""Talking to Redis through trouble: one connection pool per process, and retries with backoff
around every call, so a Redis restart pauses the workers instead of ending them.

Flow position: under ``RedisFrontier`` (and the seeding claim and part registry it shares its
connection with: ``CrawlRedis``) and ``crawl --status``; nothing else opens Redis.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar
from urllib.parse import urlsplit

import redis
import tenacity
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import ScraperError
from ..redact import redact_url

log = logging.getLogger("scraper.redis")

T = TypeVar("T")

# redis-py's own retries are off: ours below (tenacity) cover every call, with one policy.
SOCKET_TIMEOUT = 10.0
CONNECT_TIMEOUT = 2.0
FIRST_PAUSE = 0.05
LONGEST_PAUSE = 2.0
TRANSIENT = (redis.ConnectionError, redis.TimeoutError)  # BusyLoadingError is one too


class RedisUnavailable(ScraperError):
    """Redis could not be reached (at start), or not again within REDIS_RETRY_TIMEOUT."""


def connect(url: str, ca_certs: str = "") -> redis.Redis:
    """A client for ``url`` (``redis://[USER:PASSWORD@]HOST:PORT/DB``, or ``rediss://`` for
    TLS, checked against ``ca_certs`` if given, else the system's CAs), checked with a PING;
    one clear error if not. Warns once when a Redis off this machine asks for no password."""
    shown = redact_url(url)
    try:
        client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            **({"ssl_ca_certs": ca_certs} if ca_certs and url.startswith("rediss:") else {}),
        )
        client.ping()
    except redis.AuthenticationError as exc:
        raise RedisUnavailable(f"Redis at {shown} refused the credentials: {exc}") from exc
    except redis.ResponseError as exc:  # NOAUTH and friends: the server wants a password
        raise RedisUnavailable(f"Redis at {shown} refused the connection: {exc}") from exc
    except (redis.RedisError, ValueError, TypeError) as exc:  # TypeError: a bad URL option
        raise RedisUnavailable(f"cannot reach Redis at {shown}: {exc}") from exc
    if client.connection_pool.connection_kwargs.get("password") is None:
        warn_if_open(urlsplit(url).hostname or "localhost", shown)
    return client


def warn_if_open(host: str, shown: str) -> None:
    """Anyone who can reach a Redis without a password can change the crawl: say so when it is
    not on this machine."""
    try:
        # An IPv6 answer may carry a zone (fe80::1%eth0), which ipaddress does not take.
        addresses = {str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        addresses = set()
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        log.warning(
            "Redis at %s is not on this machine and takes no password: anyone who can reach "
            "it can change this crawl (use redis://USER:PASSWORD@HOST/DB, rediss:// for TLS)",
            shown,
        )


class Retrying:
    """Runs Redis calls, retrying transient failures (tenacity) with exponential backoff until
    ``timeout`` seconds have passed since the call began; logs an outage once, and its end."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = redact_url(url)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._outage_since: float | None = None

    def __call__(self, call: Callable[[], T]) -> T:
        began = time.monotonic()
        try:
            # Most calls succeed at once: tenacity's bookkeeping (about 15 us) only on trouble.
            result = call()
        except TRANSIENT as exc:
            self._trouble(exc)
            result = self._ride_out(call, self.timeout - (time.monotonic() - began))
        if self._outage_since is not None:
            self._recovered()
        return result

    def _ride_out(self, call: Callable[[], T], left: float) -> T:
        """``call`` again and again for up to ``left`` seconds: at once (a dropped connection is
        often just reopened), then after pauses that double from FIRST_PAUSE."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TRANSIENT),
            wait=tenacity.wait_exponential(multiplier=FIRST_PAUSE, max=LONGEST_PAUSE),
            stop=tenacity.stop_before_delay(left),  # never pause past the deadline
            after=self._failed_again,
            retry_error_callback=self._give_up,
        )
        return retrying(call)

    def _failed_again(self, state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None
        self._trouble(state.outcome.exception())

    def _give_up(self, state: tenacity.RetryCallState) -> NoReturn:
        assert state.outcome is not None
        exc = state.outcome.exception()
        raise RedisUnavailable(
            f"lost Redis at {self.url} for over {self.timeout:.0f}s: {exc}"
        ) from exc

    def _trouble(self, exc: BaseException | None) -> None:
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


@dataclass(frozen=True, slots=True)
class CrawlRedis:
    """One shared crawl on one Redis, as this worker talks to it: the client, the retry loop
    every call goes through, the prefix of the crawl's keys and this worker's id."""

    client: redis.Redis
    retrying: Retrying
    crawl_name: str
    prefix: str
    worker_id: str

    def key(self, name: str) -> str:
        return self.prefix + name
