"""Downloader middlewares: the project's own code around each download, as Scrapy's.

Flow position: in the fetch threads, between robots.txt (which gave its leave) and the fetch:
frontier -> fetch thread -> robots.txt -> **process_request** -> fetch -> retry and redirect
policies -> **process_response** (or **process_exception**) -> response queue.

``DOWNLOADER_MIDDLEWARES`` names them with order numbers: ``process_request(request, spider)``
runs lowest number first, ``process_response(request, response, spider)`` and
``process_exception(request, exception, spider)`` highest first. Their return values mean what
they mean in Scrapy: ``None`` goes on; a Response skips the download (and the remaining
``process_request``) and goes through every ``process_response``; a Request replaces the one
in hand and goes back through the frontier (its duplicate check included: a copy of the same
URL needs ``dont_filter=True``, as in Scrapy); ``IgnoreRequest`` drops the request (its errback
gets the failure; counted as ``ignored_request``, not a failure line). An exception raised by
``process_request`` goes through ``process_exception`` first.

Where they sit among Scrapy's built-ins: below its retry (550) and redirect (600) middlewares,
where a project's own usually go (the template's 543). ``process_request`` sees every attempt
(a retry comes back through it); ``process_response`` sees the response the retry and redirect
policies settle on, not a 503 that will be retried nor a redirect that is followed;
``process_exception`` sees a download error once retries are used up.

Threads: user code is not written for threads, and Scrapy calls middlewares one at a time on
its reactor thread. So every middleware call holds one lock, the one the main process's
inline callbacks and errbacks hold (``ParsePool.serial``): a middleware may keep plain state
(counters, a session, a list of proxies) and read the spider's attributes without locks of its
own. The download itself runs outside the lock, so the fetch threads still wait on the network
together.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .components import build_components
from .errors import FetchError
from .exceptions import IgnoreRequest
from .models import Request, Response

log = logging.getLogger("scraper.fetch")


@dataclass(frozen=True, slots=True)
class Fetch:
    """No middleware answered: download the request."""


@dataclass(frozen=True, slots=True)
class Use:
    """Settle the request with this response (already through every ``process_response``)."""

    response: Response


@dataclass(frozen=True, slots=True)
class Reschedule:
    """Queue ``request`` in place of the one in hand."""

    request: Request


@dataclass(frozen=True, slots=True)
class Fail:
    """The request ends here: ``ignored_request`` (IgnoreRequest), ``middleware_error``, or the
    download's own error kind when no ``process_exception`` handled it."""

    kind: str
    detail: str


Outcome = Fetch | Use | Reschedule | Fail


def keyword_call(method: Callable[..., Any], spider: Any, **kwargs: Any) -> Any:
    """Call a middleware method with keywords, as Scrapy does; ``spider`` only if it takes
    one (Scrapy 2.13 made the argument optional)."""
    if _takes_spider(getattr(method, "__func__", method)):
        kwargs["spider"] = spider
    return method(**kwargs)


@functools.cache
def _takes_spider(function: Callable[..., Any]) -> bool:
    """Read once per function: a signature costs more than most middleware calls."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "spider" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class DownloaderMiddlewares:
    """The chain built from ``DOWNLOADER_MIDDLEWARES``; its methods are called by the fetch
    threads (``fetch.FetchPool``)."""

    def __init__(self, middlewares: list[Any], spider: Any, lock: threading.Lock) -> None:
        self._spider = spider
        self._lock = lock
        self._requests = [m.process_request for m in middlewares if hasattr(m, "process_request")]
        self._responses = [
            m.process_response for m in reversed(middlewares) if hasattr(m, "process_response")
        ]
        self._exceptions = [
            m.process_exception for m in reversed(middlewares) if hasattr(m, "process_exception")
        ]

    @classmethod
    def from_settings(
        cls, settings: Any, spider: Any, lock: threading.Lock
    ) -> DownloaderMiddlewares | None:
        """The chain, or None when no middleware is enabled (the fetch path skips it)."""
        if not settings.DOWNLOADER_MIDDLEWARES:
            return None
        middlewares = build_components(
            settings.DOWNLOADER_MIDDLEWARES,
            "DOWNLOADER_MIDDLEWARES",
            settings,
            getattr(spider, "crawler", None),
        )
        return cls(middlewares, spider, lock) if middlewares else None

    def before_download(self, request: Request) -> Outcome:
        """``process_request``, lowest order first, before the request is downloaded."""
        try:
            answer = self._first_answer(request, self._requests)
        except Exception as exc:
            return self.on_exception(request, exc)
        return Fetch() if answer is None else answer

    def after_download(self, request: Request, response: Response) -> Use | Reschedule | Fail:
        """``process_response``, highest order first, on the response the request settles on."""
        response.request = request  # as Scrapy's engine: the response answers this request
        try:
            for method in self._responses:
                answer = self._call(method, request=request, response=response)
                if isinstance(answer, Request):
                    return Reschedule(answer)
                _check(method, answer, Response)
                response = answer
                response.request = request
        except Exception as exc:
            return _failed(request, exc, "process_response")
        return Use(response)

    def on_exception(self, request: Request, error: Exception) -> Use | Reschedule | Fail:
        """``process_exception``, highest order first, on an exception of ``process_request``
        or a download that failed for good; unhandled, the request fails with it."""
        try:
            answer = self._first_answer(request, self._exceptions, exception=error)
        except Exception as exc:
            return _failed(request, exc, "process_exception")
        if answer is not None:
            return answer
        if isinstance(error, FetchError):
            return Fail(error.kind, str(error))
        return _failed(request, error, "process_request")

    def _first_answer(
        self, request: Request, methods: list[Callable[..., Any]], **kwargs: Any
    ) -> Use | Reschedule | Fail | None:
        """Call ``methods`` in turn until one answers: a Response (then through every
        ``process_response``) or a Request. None if each returned None; raises what they
        raise."""
        for method in methods:
            answer = self._call(method, request=request, **kwargs)
            if isinstance(answer, Response):
                return self.after_download(request, answer)
            if isinstance(answer, Request):
                return Reschedule(answer)
            _check(method, answer, None)
        return None

    def _call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        with self._lock:  # one at a time, as on Scrapy's reactor: see the module docstring
            return keyword_call(method, self._spider, **kwargs)


def _check(method: Callable[..., Any], answer: Any, expected: type | None) -> None:
    if answer is None and expected is None:
        return
    if expected is not None and isinstance(answer, expected):
        return
    wanted = "None, a Response or a Request" if expected is None else "a Response or a Request"
    raise TypeError(f"{method.__qualname__} must return {wanted}, got {type(answer).__name__}")


def _failed(request: Request, error: Exception, where: str) -> Fail:
    if isinstance(error, IgnoreRequest):
        log.debug("ignored %s: %s", request.url, error)
        return Fail("ignored_request", str(error) or f"IgnoreRequest in {where}")
    log.error("downloader middleware %s failed on %s", where, request.url, exc_info=error)
    return Fail("middleware_error", f"{type(error).__name__} in {where}: {error}")
