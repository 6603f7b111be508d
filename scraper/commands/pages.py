"""Fetching one page at a time, as the crawl would: for ``crawl shell`` and ``crawl check``.

Flow position: a one-request stand-in for frontier -> fetch -> response: the crawl's client
(settings, User-Agent, headers), its HTTP cache when enabled, and its redirect rules (followed
here, up to ``REDIRECT_MAX_TIMES``). robots.txt and politeness delays do not apply: a developer
asks for one page at a time.
"""

from __future__ import annotations

from pathlib import Path

from ..fetch import REDIRECT_STATUSES, Fetcher, make_client, redirect_request
from ..httpcache import CachedFetcher, open_cache
from ..models import Request, Response
from ..proxy import Proxies
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
        self.client = make_client(settings)
        self.proxies = Proxies(settings)
        self.fetcher = Fetcher(
            self.client, settings.DOWNLOAD_MAXSIZE, settings.DOWNLOAD_TIMEOUT, self.proxies
        )
        self.cache = open_cache(settings, spider_name, self.stats)
        self.source = (
            self.fetcher if self.cache is None else CachedFetcher(self.fetcher, self.cache)
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
            follow = (
                self.settings.REDIRECT_ENABLED
                and response.status in REDIRECT_STATUSES
                and "location" in response.headers
                and not request.meta.get("dont_redirect")
            )
            if not follow:
                return response
            request = redirect_request(request, response, self.settings.REDIRECT_MAX_TIMES)

    def close(self) -> None:
        self.client.close()
        self.proxies.close()
        if self.cache is not None:
            self.cache.close()
