"""Optional parts of the install: what each extra holds and the one line a missing one gives.

Flow position: outside the flow; asked where an optional feature starts (the news spider's
extraction, the Redis frontier, Parquet feeds), before any page is fetched.

The core install (``pip install scraper``) has what crawling needs. The extras:
``[news]`` (the news spider's extraction stack), ``[redis]`` (many crawl processes sharing one
Redis), ``[parquet]`` (.parquet feeds) and ``[all]``.
"""

from __future__ import annotations

import importlib.util

from .errors import ScraperError

EXTRAS = {
    "news": ("trafilatura", "justext", "htmldate", "lxml_html_clean"),
    "redis": ("redis",),
    "parquet": ("pyarrow",),
}


class MissingExtra(ScraperError):
    """An optional feature was asked for without the extra that provides it."""

    def __init__(self, feature: str, extra: str, missing: list[str]) -> None:
        super().__init__(f"{feature} needs {', '.join(missing)}: pip install 'scraper[{extra}]'")


def require(extra: str, feature: str) -> None:
    """Raise MissingExtra naming the install command unless ``extra``'s modules are there."""
    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(feature, extra, missing)
