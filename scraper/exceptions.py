"""Scrapy's exceptions at Scrapy's import path (``scraper.exceptions``).

Flow position: raised by spider, pipeline and middleware code; the framework's own error tree
is in errors.py.
"""

from __future__ import annotations

from .errors import CloseSpider, DropItem


class IgnoreRequest(Exception):
    """A request to drop without an error (raised by a middleware, or given to an errback)."""


class NotConfigured(Exception):
    """A pipeline or component that turns itself off from its ``from_crawler``."""


class DontCloseSpider(Exception):
    """Raised by a ``spider_idle`` handler: the crawl stays open, and the signal is sent again
    while it is still idle."""


class NotSupported(Exception):
    """An operation this kind of response or request cannot do."""


class HttpError(IgnoreRequest):
    """The response's status was not accepted: ``failure.value.response`` holds it."""

    def __init__(self, response: object, *args: object) -> None:
        self.response = response
        super().__init__(*args)


__all__ = [
    "CloseSpider",
    "DontCloseSpider",
    "DropItem",
    "HttpError",
    "IgnoreRequest",
    "NotConfigured",
    "NotSupported",
]
