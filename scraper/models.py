"""Request and Response: the plain data that flows between the stages.

Both cross the process boundary (fetch threads in the main process, callbacks in the parse
workers), so they hold only picklable data: a callback travels as a method *name* and is looked
up on the spider inside the worker, as Scrapy's ``request_from_dict`` does. Selectors and soups
are built lazily in the worker and never pickled. A request may also be stored (a job folder,
Redis) as a record (``records.py``), so ``meta`` and ``cb_kwargs`` hold only values a record can
hold (``storable.py``): a Request refuses any other when it is made.

Why one module of this length: Request, Response, Headers and the URL helpers they share
(canonical form, fingerprint, plain-URL split) are one vocabulary every stage imports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import urljoin as _urljoin
from urllib.parse import urlsplit

from .storable import STORABLE, unstorable

if TYPE_CHECKING:
    import parsel
    from bs4 import BeautifulSoup

log = logging.getLogger("scraper.models")

Callback = str | Callable[..., Any] | None

# An absolute http(s) URL that canonicalising and joining both leave exactly as it is: a
# lower-case host, a port without leading zeros, a path of unreserved characters with no dot
# segments, no query and no fragment. Most links on most sites look like this, and for them the
# generic code (urllib's parsing, w3lib's canonicalisation) was half the cost of scheduling one.
_PLAIN_URL = re.compile(
    r"(https?)://([a-z0-9][a-z0-9.-]*)(?::([1-9][0-9]{0,4}))?(/[A-Za-z0-9._~/-]*)"
)


def split_plain(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port or None, path) of a plain URL (see ``_PLAIN_URL``), or None if
    ``url`` is not one."""
    match = _PLAIN_URL.fullmatch(url)
    if match is None or "/." in url:
        return None
    scheme, host, port, path = match.groups()
    if port is None:
        return scheme, host, None, path
    if int(port) > 65535:
        return None
    return scheme, host, int(port), path


def plain_host(url: str) -> str | None:
    """The host of a plain URL, or None if ``url`` is not one."""
    parts = split_plain(url)
    return parts[1] if parts is not None else None


def url_problem(url: str) -> str | None:
    """Why no request can be sent to ``url`` (a port out of range, no host), or None."""
    if plain_host(url) is not None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when out of range or not a number
    except ValueError as exc:
        return str(exc)
    return None if parts.hostname else "no host"


def canonical_url(url: str) -> str:
    """w3lib's canonical form (as Scrapy's fingerprints), computed only when it can differ."""
    if plain_host(url) is not None:
        return url
    # Imported on first use, as parsel is below: w3lib and the urllib.request it imports cost
    # every process that starts (the crawl, each parse worker) a tenth of a second.
    from w3lib.url import canonicalize_url

    return canonicalize_url(url)


def urljoin(base: str, url: str) -> str:
    """urllib's urljoin, which leaves a plain absolute URL as it is."""
    return url if plain_host(url) is not None else _urljoin(base, url)


def _callback_name(callback: Callback) -> str | None:
    """A bound spider method becomes its name; the worker resolves it on its own spider."""
    if callback is None or isinstance(callback, str):
        return callback
    name = getattr(callback, "__name__", None)
    if name is None or getattr(callback, "__self__", None) is None:
        raise TypeError(f"callback must be a spider method or its name, got {callback!r}")
    return name


def _check_storable(field: str, values: dict[str, Any]) -> None:
    """Refuse, where the spider makes the request, a value no stored record could hold (a job
    folder or Redis would meet it only later, at resume or on another machine)."""
    where = unstorable(values)
    if where is not None:
        raise TypeError(f"Request {field}{where}: a request may carry only {STORABLE}")


class Request:
    """One URL to fetch, with what to do with its response. Scrapy's constructor, plain data."""

    __slots__ = (
        "url",
        "callback",
        "errback",
        "method",
        "headers",
        "body",
        "meta",
        "cb_kwargs",
        "priority",
        "dont_filter",
        "attempts",
        "store_id",
        "_fingerprint",
        "_host",
    )
    _STATE = __slots__[:-1]  # what crosses processes and is saved: not the host cache

    def __init__(
        self,
        url: str,
        callback: Callback = None,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
        meta: dict[str, Any] | None = None,
        cb_kwargs: dict[str, Any] | None = None,
        priority: int = 0,
        dont_filter: bool = False,
        errback: Callback = None,
        cookies: Mapping[str, str] | list[dict[str, str]] | None = None,
        encoding: str = "utf-8",
        flags: list[str] | None = None,
    ) -> None:
        # ``encoding`` and ``flags`` are accepted for Scrapy's signature: URLs and bodies are
        # UTF-8 here, and flags only decorate Scrapy's log lines.
        if not isinstance(url, str):
            raise TypeError(f"Request url must be str, got {type(url).__name__}")
        host = plain_host(url)
        if host is None:
            parts = urlsplit(url)
            if not parts.scheme or (parts.scheme in ("http", "https") and not parts.netloc):
                raise ValueError(f"Request url must be absolute, got {url!r}")
            # Schemes are case-insensitive (RFC 3986): HTTP:// is http://, in lower case as
            # every later check (scheme filter, robots.txt origin, dedup) compares it.
            scheme = url[: len(parts.scheme)]
            if scheme != parts.scheme and scheme.lower() == parts.scheme:
                url = parts.scheme + url[len(parts.scheme) :]
        self.url = url
        self.callback = _callback_name(callback)
        self.errback = _callback_name(errback)
        self.method = method.upper()
        self.headers = dict(headers or {})
        if cookies:  # sent with this request only: Scrapy also keeps them in its cookie jar
            pairs = (
                cookies.items()
                if isinstance(cookies, Mapping)
                else ((c["name"], c["value"]) for c in cookies)
            )
            self.headers.setdefault("Cookie", "; ".join(f"{k}={v}" for k, v in pairs))
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self.meta = dict(meta or {})
        self.cb_kwargs = dict(cb_kwargs or {})
        if meta:
            _check_storable("meta", self.meta)
        if cb_kwargs:
            _check_storable("cb_kwargs", self.cb_kwargs)
        self.priority = priority
        self.dont_filter = dont_filter
        self.attempts = 0  # fetch attempts so far (retries included)
        self.store_id: int | None = None  # the frontier store's handle (SQLite row, Redis id)
        self._fingerprint: bytes | None = None
        self._host = host

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, slot) for slot in self._STATE)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for slot, value in zip(self._STATE, state, strict=True):
            setattr(self, slot, value)
        self._host = None

    @property
    def host(self) -> str:
        """The politeness key: the host name, without port (as Scrapy's download slots).
        Cached: every stage asks, several times per request."""
        if self._host is None:
            self._host = urlsplit(self.url).hostname or ""
        return self._host

    @property
    def depth(self) -> int:
        return int(self.meta.get("depth", 0))

    def fingerprint(self) -> bytes:
        """16 bytes identifying what the request fetches (canonical URL, method, body).
        Computed once: URL canonicalisation is the costly part, and several stages ask."""
        if self._fingerprint is None:
            digest = hashlib.blake2b(digest_size=16)
            digest.update(self.method.encode())
            digest.update(b"\0")
            digest.update(canonical_url(self.url).encode())
            digest.update(b"\0")
            digest.update(self.body)
            self._fingerprint = digest.digest()
        return self._fingerprint

    def replace(self, **changes: Any) -> Request:
        fields = {
            "url": self.url,
            "callback": self.callback,
            "errback": self.errback,
            "method": self.method,
            "headers": self.headers,
            "body": self.body,
            "meta": self.meta,
            "cb_kwargs": self.cb_kwargs,
            "priority": self.priority,
            "dont_filter": self.dont_filter,
        }
        fields.update(changes)
        return Request(**fields)

    def copy(self) -> Request:
        """Scrapy's: a new request like this one (a middleware's retry, say)."""
        return self.replace()

    def __repr__(self) -> str:
        return f"<{self.method} {self.url}>"


class Headers:
    """Case-insensitive HTTP headers, repeated names kept: plain data, so a Response pickles
    cheaply and the parse workers never import the HTTP client.

    A name may be ``str`` or ``bytes``, and the answer's type follows the name's:

    - ``str`` (this framework's own form): ``str`` values, a repeated header's values joined by
      ", " as HTTP allows (as httpx and requests do), since text is what a callback compares
      and parses;
    - ``bytes`` (Scrapy's form): what Scrapy's ``Headers`` returns, so a Scrapy spider's
      ``response.headers.get(b"Content-Type")`` or ``response.headers[b"etag"]`` runs
      unchanged: ``bytes``, the *last* value of a repeated header (``getlist`` has them all).

    Values are kept as text, decoded from the wire as ASCII, else UTF-8, else Latin-1; as bytes
    they are encoded as UTF-8, so a header sent in Latin-1 comes back in UTF-8 bytes.
    Iteration, ``keys()`` and ``items()`` give ``str`` names.
    """

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        self._items = [(str(name), str(value)) for name, value in pairs]

    @overload
    def getlist(self, name: str) -> list[str]: ...
    @overload
    def getlist(self, name: bytes) -> list[bytes]: ...
    def getlist(self, name: str | bytes) -> list[str] | list[bytes]:
        if isinstance(name, bytes):
            return [value.encode("utf-8") for value in self.getlist(name.decode("latin-1"))]
        wanted = name.lower()
        return [value for key, value in self._items if key.lower() == wanted]

    def get(self, name: str | bytes, default: Any = None) -> Any:
        """``str`` name: all values joined by ", ". ``bytes`` name: the last value, as bytes
        (Scrapy). ``default`` if there is none."""
        values = self.getlist(name)
        if not values:
            return default
        return values[-1] if isinstance(name, bytes) else ", ".join(values)  # type: ignore[arg-type]

    @overload
    def __getitem__(self, name: str) -> str: ...
    @overload
    def __getitem__(self, name: bytes) -> bytes: ...
    def __getitem__(self, name: str | bytes) -> str | bytes:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str | bytes) and bool(self.getlist(name))

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def keys(self) -> list[str]:
        return [key for key, _ in self._items]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def __getstate__(self) -> list[tuple[str, str]]:
        return self._items

    def __setstate__(self, state: list[tuple[str, str]]) -> None:
        self._items = state

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Response:
    """A fetched page. Text decoding, selectors and the soup are computed on first use."""

    def __init__(
        self,
        url: str,
        status: int = 200,
        headers: Headers | Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes | str = b"",
        request: Request | None = None,
        *,
        encoding: str | None = None,
        **scrapy_only: Any,  # flags, certificate, ip_address, protocol: Scrapy's, unused here
    ) -> None:
        # The defaults and ``encoding`` are Scrapy's, for a response a downloader middleware
        # makes (``HtmlResponse(url, body=..., encoding="utf-8")``); the middleware chain then
        # ties it to the request it answers.
        self.url = url
        self.status = status
        self.headers = headers if isinstance(headers, Headers) else Headers(headers or ())
        if encoding is not None and "content-type" not in self.headers:
            self.headers = Headers(
                [*self.headers.items(), ("Content-Type", f"text/html; charset={encoding}")]
            )
        self.body = body.encode(encoding or "utf-8") if isinstance(body, str) else body
        self.request = request if request is not None else Request(url)

    def __getstate__(self) -> dict[str, Any]:
        # Only the raw data crosses processes; caches are rebuilt where they are needed.
        return {k: self.__dict__[k] for k in ("url", "status", "headers", "body", "request")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def meta(self) -> dict[str, Any]:
        return self.request.meta

    @cached_property
    def encoding(self) -> str:
        return self._decoded[0]

    @cached_property
    def text(self) -> str:
        """Body as text. The encoding is the first of: a byte-order mark, the Content-Type
        charset, a ``<meta charset>`` (or XML declaration) near the top, then detection (see
        ``_detect_encoding``). Bytes invalid in that encoding become U+FFFD.

        The BOM comes before the header on purpose: browsers do so (WHATWG Encoding, "decode":
        a BOM overrides every label), because bytes that begin with a BOM were written in that
        encoding whatever the server's configuration claims; w3lib, and so Scrapy, agree.
        """
        return self._decoded[1]

    @cached_property
    def _decoded(self) -> tuple[str, str]:
        from w3lib.encoding import html_to_unicode  # on first use: see canonical_url

        content_type = self.headers.get("content-type")
        return html_to_unicode(content_type, self.body, auto_detect_fun=_detect_encoding)

    @cached_property
    def selector(self) -> parsel.Selector:
        import parsel

        # As Scrapy's HtmlResponse / XmlResponse: the type follows the Content-Type, so a JSON
        # or text body still gets an (HTML) selector rather than a JSON one.
        content_type = self.headers.get("content-type", "").lower()
        if "xml" in content_type and "html" not in content_type:
            return parsel.Selector(text=self.text, type="xml", base_url=self.url)
        from .htmltree import parse_html  # lxml: only the parse workers need it

        return parsel.Selector(root=parse_html(self.text, self.url), type="html")

    def json(self) -> Any:
        """The body parsed as JSON (Scrapy's ``TextResponse.json()``)."""
        return json.loads(self.text)

    def css(self, query: str) -> parsel.SelectorList[parsel.Selector]:
        return self.selector.css(query)

    def xpath(self, query: str, **kwargs: Any) -> parsel.SelectorList[parsel.Selector]:
        return self.selector.xpath(query, **kwargs)

    @cached_property
    def soup(self) -> BeautifulSoup:
        from bs4 import BeautifulSoup

        return BeautifulSoup(self.body, "lxml", from_encoding=self.encoding)

    def urljoin(self, url: str) -> str:
        return urljoin(self.url, url)

    def follow(self, url: Any, callback: Callback = None, **kwargs: Any) -> Request:
        """A Request for ``url`` (str or an <a> selector) relative to this page."""
        href = _href(url)
        return Request(self.urljoin(href), callback=callback, **kwargs)

    def follow_all(
        self,
        urls: Iterable[Any] | None = None,
        callback: Callback = None,
        css: str | None = None,
        xpath: str | None = None,
        **kwargs: Any,
    ) -> list[Request]:
        if urls is None:
            if css is not None:
                urls = self.css(css)
            elif xpath is not None:
                urls = self.xpath(xpath)
            else:
                raise ValueError("follow_all needs urls, css= or xpath=")
        requests = []
        invalid: list[str] = []
        for url in urls:
            href = _href(url)
            if href and not href.startswith(("mailto:", "javascript:", "tel:", "#")):
                try:
                    requests.append(self.follow(href, callback=callback, **kwargs))
                except ValueError:  # one malformed href must not cost the page its good links
                    invalid.append(href)
        if invalid:
            log.warning(
                "%s: skipped %d link(s) that are not valid URLs, e.g. %r",
                self.url,
                len(invalid),
                invalid[0][:200],
            )
        return requests

    def __repr__(self) -> str:
        return f"<{self.status} {self.url}>"


def _detect_encoding(body: bytes) -> str:
    """No BOM and no declared charset: UTF-8 if the body is valid UTF-8; else what
    charset-normalizer finds likeliest (KOI8-R, Shift_JIS, GB18030, windows-1252...); else
    windows-1252, the browsers' fallback, which decodes any byte."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    # Imported here: only undeclared non-UTF-8 pages need it, and it costs 30 ms to import.
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    return best.encoding if best is not None else "cp1252"


def _href(url: Any) -> str:
    """Scrapy's follow() accepts a URL, an <a>/<link> selector or an attribute selector."""
    if isinstance(url, str):
        return url.strip()
    root = getattr(url, "root", None)
    if isinstance(root, str):  # attribute or text selector
        return root.strip()
    if root is not None and hasattr(root, "get"):
        href = root.get("href")
        if href is not None:
            return str(href).strip()
    raise ValueError(f"cannot follow {url!r}: not a URL or a link selector")
