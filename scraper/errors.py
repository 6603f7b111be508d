"""The framework's exceptions, in one tree so callers can catch at any level.

    ScraperError                 root: anything the framework raises on purpose
    ├── SettingsError            unknown setting, wrong-typed value, unreadable config file
    ├── SpiderLoadError          spider file missing, not importable, or without a Spider subclass
    ├── OutputError              the output file cannot be opened or written
    │   └── StoreError           the job folder's state (SQLite) cannot be read or written
    ├── FetchError               a request could not be turned into a complete response
    │   ├── FetchTimeout         connect/read/total deadline exceeded
    │   ├── ConnectFailed        DNS, refused, TLS, reset before a response
    │   ├── ProtocolError        not HTTP: a malformed status or header line, garbage framing
    │   ├── InvalidURL           a URL no request can be sent to (a port out of range, ...)
    │   ├── Truncated            the body ended early (reset, short Content-Length)
    │   ├── ResponseTooLarge     body over DOWNLOAD_MAXSIZE (decoded size)
    │   ├── DecodeError          a Content-Encoding that cannot be decoded
    │   └── PrivateAddress       the host is on a private network (DENY_PRIVATE_ADDRESSES)
    ├── LeaseLost                a shared frontier gave this worker's request to another
    └── QueueClosed              put/get on a closed BoundedQueue (shutdown in progress)

Control-flow exceptions a spider or pipeline may raise, as in Scrapy:
    DropItem     a pipeline discards the item
    CloseSpider  a callback asks the crawl to stop gracefully
"""

from __future__ import annotations


class ScraperError(Exception):
    """Root of every error the framework raises on purpose."""


class SettingsError(ScraperError):
    """A setting is unknown, has a value of the wrong type, or its source is unreadable."""


class SpiderLoadError(ScraperError):
    """The spider module could not be found, imported, or holds no Spider subclass."""


class OutputError(ScraperError):
    """The output file cannot be opened or written."""


class StoreError(OutputError):
    """The job folder's state cannot be read or written (a full disk, a damaged file): the crawl
    cannot keep track of what is done, so it stops; what was acknowledged is safe."""


class FetchError(ScraperError):
    """A request did not produce a complete response. ``kind`` names the category for stats."""

    kind = "fetch_error"


class FetchTimeout(FetchError):
    kind = "timeout"


class ConnectFailed(FetchError):
    kind = "connect_error"


class ProtocolError(FetchError):
    kind = "protocol_error"


class InvalidURL(FetchError):
    kind = "invalid_url"


class Truncated(FetchError):
    kind = "truncated"


class ResponseTooLarge(FetchError):
    kind = "too_large"


class DecodeError(FetchError):
    kind = "decode_error"


class PrivateAddress(FetchError):
    kind = "private_address"


class LeaseLost(ScraperError):
    """This worker's lease on a request expired (it was stopped or cut off too long) and a
    shared frontier handed the request to another worker: nothing more is sent for it here."""


class QueueClosed(ScraperError):
    """The queue was closed: producers must stop, consumers have drained it."""


class DropItem(Exception):
    """Raised by a pipeline to discard an item (counted, not an error)."""


class CloseSpider(Exception):
    """Raised by a callback to stop the crawl gracefully."""

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
        self.reason = reason
