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
    "Headers",
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
