"""Admission: which requests may enter the store at all.

Flow position: spider start requests and callback output -> **admission** -> store. A request
is refused before it is queued when no crawl should fetch it: a scheme other than http(s), a URL
over URLLENGTH_LIMIT or one no request can go to, a host outside ``allowed_domains`` (as Scrapy's
offsite check: whole domain labels, so ``sub.example.test`` is on ``example.test`` and
``evilexample.test`` is not). Refusals are counted as filtered; a URL no request can go to, and
any refused start request (the user asked for it), is a failure line instead. Admitted requests
get their depth, referer and the spider's HTTP auth, and ``request_scheduled`` is sent for them.
"""

from __future__ import annotations

import logging

from . import signals
from .auth import spider_auth
from .crawler import spider_signals
from .failurelog import FailureLog
from .models import Request, Response, url_problem
from .settings import Settings
from .spider import Spider
from .stats import Stats

log = logging.getLogger("scraper.engine")


class Admission:
    def __init__(
        self, spider: Spider, settings: Settings, stats: Stats, failures: FailureLog
    ) -> None:
        self._spider = spider
        self._url_limit = settings.URLLENGTH_LIMIT
        self._stats = stats
        self._failures = failures
        self._allowed = tuple(
            d.lower().lstrip(".") for d in (*spider.allowed_domains, *settings.ALLOWED_DOMAINS)
        )
        self._auth = spider_auth(spider)
        self._signals = spider_signals(spider)

    def admit(
        self, requests: list[Request], parent: Response | None, *, start: bool = False
    ) -> list[Request]:
        """``requests`` (``parent``'s links, if given) less those never to crawl."""
        admitted: list[Request] = []
        for request in requests:
            if self._auth is not None:
                self._auth.apply(request)
            if parent is not None:
                request.meta["depth"] = parent.request.depth + 1
                request.meta.setdefault("referer", parent.url)
                request.headers.setdefault("Referer", parent.url)
            refused = self.refuse(request)
            if refused is None:
                admitted.append(request)
            elif refused[0] == "invalid_url" or start:
                # A start URL the user asked for is never silently dropped.
                kind, detail = refused
                kind = "unsupported_scheme" if kind == "scheme_filtered" else kind
                log.log(
                    logging.WARNING if start else logging.DEBUG,
                    "not crawling %s: %s (%s)",
                    request.url[:200],
                    kind,
                    detail,
                )
                self._failures.record(request, kind, detail)
            else:
                self._stats.inc(refused[0])
        if self._signals is not None:  # as Scrapy: sent before the duplicate check
            for request in admitted:
                self._signals.send(signals.request_scheduled, request=request, spider=self._spider)
        return admitted

    def refuse(self, request: Request) -> tuple[str, str] | None:
        """Why a request is not crawled at all (reason, detail), or None."""
        if not request.url.startswith(("http://", "https://")):
            return "scheme_filtered", f"scheme {request.url.split(':', 1)[0]!r} is not http(s)"
        if self._url_limit and len(request.url) > self._url_limit:
            return "url_too_long", f"{len(request.url)} characters, over URLLENGTH_LIMIT"
        problem = url_problem(request.url)
        if problem is not None:
            return "invalid_url", problem
        # As Scrapy's offsite check: dont_filter (every start URL) and allow_offsite exempt.
        exempt = request.dont_filter or request.meta.get("allow_offsite")
        if self._allowed and not exempt and not self.on_site(request.host):
            return "offsite_filtered", f"{request.host} is not in the allowed domains"
        return None

    def on_site(self, host: str) -> bool:
        host = host.lower()
        return any(host == d or host.endswith("." + d) for d in self._allowed)
