"""The retry policy: whether a fetch is tried again, and when.

Flow position: asked by the fetch threads after each fetch; a ``Retry`` goes back to the
frontier with a not-before time (nothing sleeps), a ``GiveUp`` or a ``Final`` settles the
request with the answer it has.

Transport errors and ``RETRY_HTTP_CODES`` are retried up to ``RETRY_TIMES`` times, the n-th
retry after ``RETRY_BACKOFF_BASE * 2**(n-1)`` seconds (at most ``RETRY_BACKOFF_MAX``) plus up
to one base of jitter, so retries of many requests do not align; never before the time a
server's ``Retry-After`` asked for (read here, capped by ``RETRY_AFTER_MAX``).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import DecodeError, FetchError, InvalidURL, PrivateAddress, ResponseTooLarge
from .models import Response
from .settings import Settings


@dataclass(frozen=True, slots=True)
class Retry:
    """Fetch the request again, not before ``at`` (a clock time)."""

    at: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Worth retrying, but its retries are used up (or retrying is off)."""


@dataclass(frozen=True, slots=True)
class Final:
    """Nothing to retry: the response, or the error, is the answer."""


RetryOutcome = Retry | GiveUp | Final


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """A server's Retry-After: the header as sent, the seconds it asked, the seconds granted."""

    value: str
    asked: float
    seconds: float


def parse_retry_after(value: str | None, now_wall: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    now_wall = time.time() if now_wall is None else now_wall
    return max(0.0, when.timestamp() - now_wall)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    times: int
    backoff_base: float
    backoff_max: float
    codes: frozenset[int]
    enabled: bool = True
    retry_after_max: float = 300.0
    wall_clock: Callable[[], float] = time.time  # for Retry-After's HTTP-date form only

    @classmethod
    def from_settings(
        cls, settings: Settings, wall_clock: Callable[[], float] = time.time
    ) -> RetryPolicy:
        return cls(
            times=settings.RETRY_TIMES,
            backoff_base=settings.RETRY_BACKOFF_BASE,
            backoff_max=settings.RETRY_BACKOFF_MAX,
            codes=frozenset(settings.RETRY_HTTP_CODES),
            enabled=settings.RETRY_ENABLED,
            retry_after_max=settings.RETRY_AFTER_MAX,
            wall_clock=wall_clock,
        )

    def outcome(
        self,
        attempts: int,
        response: Response | None,
        error: FetchError | None,
        now: float,
        not_before: float = 0.0,
    ) -> RetryOutcome:
        """What to do after ``attempts`` tries ended in ``response`` or ``error`` at ``now``;
        a retry waits at least ``not_before`` seconds (a Retry-After)."""
        if not self._retryable(response, error):
            return Final()
        if not self.enabled or attempts > self.times:
            return GiveUp()
        return Retry(now + max(self.backoff(attempts), not_before))

    def _retryable(self, response: Response | None, error: FetchError | None) -> bool:
        if error is not None:
            # A body too large, an unknown encoding, a bad URL or a private address: the same
            # next time.
            return not isinstance(
                error, ResponseTooLarge | DecodeError | InvalidURL | PrivateAddress
            )
        return response is not None and response.status in self.codes

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` tries."""
        # 2.0 ** 1024 overflows; long before that the doubling is past any backoff_max.
        exponential = min(self.backoff_base * 2.0 ** min(attempts - 1, 1000), self.backoff_max)
        return exponential + random.uniform(0, self.backoff_base)

    def retry_after(self, response: Response) -> RetryAfter | None:
        """The response's Retry-After, if it has a valid one."""
        value = response.headers.get("retry-after")
        asked = parse_retry_after(value, self.wall_clock())
        if value is None or asked is None:
            return None
        return RetryAfter(value, asked, min(asked, self.retry_after_max))
