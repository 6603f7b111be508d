"""scraper: a parallel web-scraping framework with Scrapy's spider API.

Fetching runs in threads (IO-bound), parsing in worker processes (CPU-bound), joined by bounded
queues; politeness lives in a per-host frontier. This module only re-exports the public API.
"""

__version__ = "0.1.0"

from .errors import (
    CloseSpider,
    ConnectFailed,
    DecodeError,
    DropItem,
    FetchError,
    FetchTimeout,
    OutputError,
    QueueClosed,
    ResponseTooLarge,
    ScraperError,
    SettingsError,
    SpiderLoadError,
    Truncated,
)
from .http import FormRequest, JsonRequest
from .item import Field, Item
from .models import Headers, Request, Response
from .settings import Settings
from .spider import Spider

__all__ = [
    "CloseSpider",
    "ConnectFailed",
    "DecodeError",
    "DropItem",
    "FetchError",
    "FetchTimeout",
    "Field",
    "FormRequest",
    "Headers",
    "Item",
    "JsonRequest",
    "OutputError",
    "QueueClosed",
    "Request",
    "Response",
    "ResponseTooLarge",
    "ScraperError",
    "Settings",
    "SettingsError",
    "Spider",
    "SpiderLoadError",
    "Truncated",
    "__version__",
]


def __getattr__(name: str) -> object:
    # Selector imports parsel: on first use only, as the Response's own selector does (so it
    # is importable, ``from scraper import Selector``, but not in __all__).
    if name == "Selector":
        from .selector import Selector

        return Selector
    raise AttributeError(f"module 'scraper' has no attribute {name!r}")
