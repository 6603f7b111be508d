"""The HTTP cache: a development crawl fetches each page once, then works from the copy.

Flow position: inside the fetch stage. A fetch thread asks the cache before robots.txt and the
network (``lookup``); a hit goes straight to the response queue, gives its host's turn back to
the frontier and costs no politeness delay and no robots.txt fetch. A miss is fetched
(``fetch``, with conditional headers when a stale copy is there) and stored.

Policies (``HTTPCACHE_POLICY``), as Scrapy's:
- ``dummy``: every stored response is served, whatever its headers say; nothing is revalidated.
  For developing a spider against a fixed copy of a site.
- ``rfc2616``: the HTTP caching rules (RFC 9111): ``Cache-Control`` ``no-store`` (never
  stored), ``no-cache`` (always revalidated), ``max-age``, ``Expires`` and a heuristic freshness
  of a tenth of the time since ``Last-Modified``; a stale copy is revalidated with
  ``If-None-Match`` (its ``ETag``) and ``If-Modified-Since`` (its ``Last-Modified``), and a
  ``304 Not Modified`` serves the copy again, freshened.

Either way ``HTTPCACHE_EXPIRATION_SECS`` (when not 0) drops copies older than that, and
``HTTPCACHE_IGNORE_HTTP_CODES`` are never stored.

Storage: one SQLite database per spider in ``HTTPCACHE_DIR`` (WAL mode: readers never block the
writer; a busy timeout lets several crawl processes share it), one connection per thread.
"""

from __future__ import annotations

import copy
import email.utils
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import SettingsError
from .models import Headers, Request, Response
from .settings import Settings
from .stats import Stats

POLICIES = ("dummy", "rfc2616")
HEURISTIC_FRACTION = 0.1  # of the time since Last-Modified (RFC 9111 section 4.2.2)


@dataclass(slots=True)
class Entry:
    """One stored response."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    stored_at: float  # wall-clock time it was stored or last revalidated

    def response(self, request: Request) -> Response:
        return Response(self.url, self.status, Headers(self.headers), self.body, request)


class CacheStore:
    """Entries by request fingerprint in SQLite; safe from many threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = self._db()
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries (fp BLOB PRIMARY KEY, url TEXT, "
                "status INTEGER, headers TEXT, body BLOB, stored_at REAL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise SettingsError(f"cannot open the HTTP cache {path}: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # Used by its own thread only; closed by the engine once the threads are done.
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def get(self, fingerprint: bytes) -> Entry | None:
        row = (
            self._db()
            .execute(
                "SELECT url, status, headers, body, stored_at FROM entries WHERE fp = ?",
                (fingerprint,),
            )
            .fetchone()
        )
        if row is None:
            return None
        url, status, headers, body, stored_at = row
        return Entry(url, status, [tuple(pair) for pair in json.loads(headers)], body, stored_at)

    def put(self, fingerprint: bytes, entry: Entry) -> None:
        self._db().execute(
            "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
            (
                fingerprint,
                entry.url,
                entry.status,
                json.dumps(entry.headers),
                entry.body,
                entry.stored_at,
            ),
        )

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()


def _directives(value: str | None) -> dict[str, str]:
    """``Cache-Control: max-age=60, no-cache`` -> {"max-age": "60", "no-cache": ""}."""
    found: dict[str, str] = {}
    for part in (value or "").split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            found[name.lower()] = argument.strip().strip('"')
    return found


def _date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class HttpCache:
    """The cache of one crawl: its store, its policy and its hit/miss counts."""

    def __init__(
        self, settings: Settings, spider_name: str, stats: Stats, clock: Callable[[], float]
    ) -> None:
        if settings.HTTPCACHE_POLICY not in POLICIES:
            raise SettingsError(
                f"HTTPCACHE_POLICY must be one of {', '.join(POLICIES)}, "
                f"got {settings.HTTPCACHE_POLICY!r}"
            )
        self.rfc = settings.HTTPCACHE_POLICY == "rfc2616"
        self.expiration = settings.HTTPCACHE_EXPIRATION_SECS
        self.ignore = frozenset(settings.HTTPCACHE_IGNORE_HTTP_CODES)
        self.store = CacheStore(Path(settings.HTTPCACHE_DIR) / f"{spider_name or 'default'}.sqlite")
        self.stats = stats
        self.clock = clock  # wall-clock time: entries outlive the process

    def _entry(self, request: Request) -> Entry | None:
        if request.meta.get("dont_cache"):
            return None
        entry = self.store.get(request.fingerprint())
        if entry is None or (self.expiration and self.clock() - entry.stored_at > self.expiration):
            return None
        return entry

    def lookup(self, request: Request) -> Response | None:
        """A response to use without contacting the site, or None (then ``fetch``)."""
        entry = self._entry(request)
        if entry is None or (self.rfc and not self._fresh(request, entry)):
            return None
        self.stats.inc("httpcache_hits")
        return entry.response(request)

    def fetch(self, send: Callable[[Request], Response], request: Request) -> Response:
        """Fetch ``request`` (conditionally, over a stale copy) and store what may be stored."""
        stale = self._entry(request) if self.rfc else None
        conditional = self._conditional(request, stale) if stale is not None else None
        response = send(conditional or request)
        response.request = request
        if stale is not None and conditional is not None and response.status == 304:
            self.stats.inc("httpcache_revalidated")
            fresh_headers = dict((k.lower(), v) for k, v in response.headers.items())
            merged = [(k, fresh_headers.pop(k.lower(), v)) for k, v in stale.headers]
            stale.headers = merged + list(fresh_headers.items())
            stale.stored_at = self.clock()
            self.store.put(request.fingerprint(), stale)
            return stale.response(request)
        self.stats.inc("httpcache_misses")
        if self._storable(request, response):
            entry = Entry(
                response.url,
                response.status,
                response.headers.items(),
                response.body,
                self.clock(),
            )
            self.store.put(request.fingerprint(), entry)
            self.stats.inc("httpcache_stored")
        return response

    def _storable(self, request: Request, response: Response) -> bool:
        if response.status in self.ignore or request.meta.get("dont_cache"):
            return False
        if not self.rfc:
            return True
        return "no-store" not in _directives(
            request.headers.get("Cache-Control")
        ) and "no-store" not in _directives(response.headers.get("Cache-Control"))

    def _fresh(self, request: Request, entry: Entry) -> bool:
        """RFC 9111 section 4.2: whether the copy may be used without asking the site."""
        if "no-cache" in _directives(request.headers.get("Cache-Control")):
            return False
        headers = Headers(entry.headers)
        control = _directives(headers.get("Cache-Control"))
        if "no-cache" in control:
            return False
        age = self.clock() - entry.stored_at
        lifetime: float | None = None
        if "max-age" in control:
            try:
                lifetime = float(control["max-age"])
            except ValueError:
                lifetime = 0.0
        else:
            expires, date = _date(headers.get("Expires")), _date(headers.get("Date"))
            if headers.get("Expires") is not None:
                lifetime = (expires - (date or entry.stored_at)) if expires is not None else 0.0
            else:
                modified = _date(headers.get("Last-Modified"))
                if modified is not None:
                    lifetime = HEURISTIC_FRACTION * max(0.0, (date or entry.stored_at) - modified)
        return lifetime is not None and age < lifetime

    @staticmethod
    def _conditional(request: Request, entry: Entry) -> Request | None:
        """``request`` asking the site whether the copy is still good, or None when the copy
        carries no validator."""
        headers = Headers(entry.headers)
        extra = {}
        if headers.get("ETag"):
            extra["If-None-Match"] = headers["ETag"]
        if headers.get("Last-Modified"):
            extra["If-Modified-Since"] = headers["Last-Modified"]
        if not extra:
            return None
        conditional = copy.copy(request)  # the same lease: only the headers differ
        conditional.headers = {**request.headers, **extra}
        return conditional

    def close(self) -> None:
        self.store.close()


class CachedFetcher:
    """A fetcher that answers from the cache first: for robots.txt, ``crawl shell`` and
    ``crawl check`` (the fetch threads ask ``lookup`` themselves, to skip robots.txt too)."""

    def __init__(self, fetch: Callable[[Request], Response], cache: HttpCache) -> None:
        self._fetch = fetch  # the network's answer, on a miss
        self.cache = cache

    def fetch(self, request: Request) -> Response:
        return self.cache.lookup(request) or self.cache.fetch(self._fetch, request)


def open_cache(settings: Settings, spider_name: str, stats: Stats) -> HttpCache | None:
    """The crawl's cache, when ``HTTPCACHE_ENABLED``."""
    if not settings.HTTPCACHE_ENABLED:
        return None
    return HttpCache(settings, spider_name, stats, time.time)
