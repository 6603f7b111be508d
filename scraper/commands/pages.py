"""Fetching one page at a time, as the crawl would: for ``crawl shell`` and ``crawl check``.

Flow position: a one-request stand-in for frontier -> fetch -> response: the crawl's client
(settings, User-Agent, headers), its HTTP cache when enabled, and its redirect rules (followed
here, up to ``REDIRECT_MAX_TIMES``). robots.txt and politeness delays do not apply: a developer
asks for one page at a time.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FetchError
from ..fetcher import Fetcher
from ..httpcache import CachedFetcher, open_cache
from ..models import Request, Response
from ..redirect import Follow, RedirectPolicy, Refuse
from ..settings import ConfigFile, Settings, build_settings, find_config
from ..stats import Stats


def load_settings(
    overrides: dict[str, str], spider_name: str = "", custom: dict | None = None
) -> Settings:
    """The settings a crawl of ``spider_name`` would have: config file, spider, ``-s``."""
    return build_settings(ConfigFile.read(find_config(), spider_name), custom, overrides)


class PageFetcher:
    """Fetch pages one by one with the crawl's client and cache."""

    def __init__(self, settings: Settings, spider_name: str = "") -> None:
        self.settings = settings
        self.stats = Stats()
        self.fetcher = Fetcher.from_settings(settings)
        self.redirect = RedirectPolicy.from_settings(settings)
        self.cache = open_cache(settings, spider_name, self.stats)
        self.source = (
            self.fetcher if self.cache is None else CachedFetcher(self.fetcher.fetch, self.cache)
        )

    def fetch(self, target: str | Request) -> Response:
        """The response for a URL, a Request or a local file path, redirects followed."""
        if isinstance(target, str) and not target.startswith(("http://", "https://")):
            path = Path(target).expanduser()
            if path.is_file():
                request = Request(path.resolve().as_uri())
                return Response(request.url, 200, {}, path.read_bytes(), request)
        request = target if isinstance(target, Request) else Request(target)
        while True:
            response = self.source.fetch(request)
            if not self.redirect.applies(request, response):
                return response
            match self.redirect.outcome(request, response):
                case Follow(target):
                    request = target
                case Refuse(kind, detail):
                    raise FetchError(f"redirect refused ({kind}): {detail}")

    def close(self) -> None:
        self.fetcher.close()
        if self.cache is not None:
            self.cache.close()
