"""Errbacks: ``Request(errback=...)`` gets a failure-like object when the request fails for
good, as in Scrapy (``failure.value``, ``failure.request``, ``failure.check(HttpError)``).

Flow position: the main process, where the engine records a final failure (after retries);
errbacks run there one at a time, with callbacks that run in the main process. What they yield
goes on as a callback's output does: requests to the frontier, items to the pipelines.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from .exceptions import HttpError, IgnoreRequest
from .models import Headers, Request, Response
from .parse import to_item
from .spider import Spider, iterate_callback_output


class Failure:
    """What an errback receives: the exception (``value``) and the failed ``request``."""

    def __init__(self, value: BaseException, request: Request) -> None:
        self.value = value
        self.type = type(value)
        self.request = request

    def check(self, *types: type[BaseException]) -> type[BaseException] | None:
        """The first of ``types`` the exception is an instance of, else None (Twisted's)."""
        return next((t for t in types if isinstance(self.value, t)), None)

    def getErrorMessage(self) -> str:  # noqa: N802 - Twisted's name, which spiders call
        return str(self.value)

    def __repr__(self) -> str:
        return f"<Failure {self.type.__name__}: {self.value}>"


def _exception(request: Request, kind: str, detail: str) -> BaseException:
    """The exception standing for a failure of ``kind``: an HttpError with a stand-in response
    (url, status and request; the body is not kept) for an unaccepted status."""
    if kind.startswith("http_") and kind[5:].isdigit():
        response = Response(request.url, int(kind[5:]), Headers(), b"", request)
        return HttpError(response, f"Ignoring non-200 response: {detail}")
    if kind == "timeout":
        return TimeoutError(detail)
    if kind == "connect_error":
        return ConnectionError(detail)
    if kind in ("robots_forbidden", "offsite", "url_too_long", "ignored_request"):
        return IgnoreRequest(detail)
    return RuntimeError(f"{kind}: {detail}")


@dataclass(slots=True)
class ErrbackOutput:
    requests: list[Request] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    error: str | None = None


def run_errback(spider: Spider, request: Request, kind: str, detail: str) -> ErrbackOutput:
    """Call the request's errback; never raises (its error is returned, as a callback's)."""
    output = ErrbackOutput()
    try:
        errback = getattr(spider, request.errback or "")
        failure = Failure(_exception(request, kind, detail), request)
        for obj in iterate_callback_output(errback(failure)):
            if isinstance(obj, Request):
                output.requests.append(obj)
            elif obj is not None:
                output.items.append(to_item(obj))
    except Exception:
        output.error = traceback.format_exc()
    return output
