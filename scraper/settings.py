"""Settings: every knob in one typed place, with its default and what it does.

Precedence, lowest to highest (Scrapy's order): the defaults below < ``scrapy-like.cfg``
(``[settings]``, then ``[spider:NAME]``) < the spider's ``custom_settings`` < ``-s KEY=VALUE``.
Names follow Scrapy where the concept is the same. An unknown name or a value of the wrong type
is a ``SettingsError``, never silently ignored (Scrapy's long-standing complaint, scrapy#4302).

Why one module of this length: every setting is declared here, each with its type, default
and documentation (the README's table is generated from it); one place is the point.
"""

from __future__ import annotations

import configparser
import dataclasses
import difflib
import functools
import ipaddress
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from .errors import SettingsError
from .scrapy_settings import (
    MIDDLEWARE_SETTINGS,
    SCRAPY_ONLY,
    middleware_entries,
    note_own,
    warn_ignored,
)

CONFIG_FILENAME = "scrapy-like.cfg"
# What DENY_PRIVATE_ADDRESSES refuses by default (guard.py).
DEFAULT_PRIVATE_NETWORKS = [
    "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local machine
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT: private to a provider's customers
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local: cloud metadata services (169.254.169.254)
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::/128",
    "::1/128",
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
]
MiB = 1024 * 1024


def _default_memory_limit() -> int:
    """A quarter of the machine's memory, at least 512 MiB (0, no limit, where the system
    does not say). The news spider's workers run within 256 MiB."""
    try:
        return max(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4, 512 * MiB)
    except (ValueError, OSError, AttributeError):
        return 0


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(slots=True)
class Settings:
    """All settings of one crawl. Read-only once the crawl starts."""

    # --- fetching (IO-bound: threads) ---
    CONCURRENT_REQUESTS: int = field(
        default=32,
        metadata=_doc(
            "Fetch threads; the most requests in flight over all hosts (at most 1024: a thread "
            "and a socket each)."
        ),
    )
    CONCURRENT_REQUESTS_PER_DOMAIN: int = field(
        default=2, metadata=_doc("Most requests in flight to one host at a time.")
    )
    DOWNLOAD_DELAY: float = field(
        default=0.0, metadata=_doc("Seconds between the starts of two requests to the same host.")
    )
    DOWNLOAD_RATE: float = field(
        default=0.0,
        metadata=_doc(
            "Most requests per second to one host (0 = no limit); the stricter of this and "
            "DOWNLOAD_DELAY wins."
        ),
    )
    RANDOMIZE_DOWNLOAD_DELAY: bool = field(
        default=False,
        metadata=_doc("Stretch each delay by a random factor in [1.0, 1.5); never shortens it."),
    )
    DOWNLOAD_TIMEOUT: float = field(
        default=30.0,
        metadata=_doc(
            "Seconds allowed for a whole request: connecting, sending, headers and body together."
        ),
    )
    DOWNLOAD_MAXSIZE: int = field(
        default=32 * 1024 * 1024,
        metadata=_doc(
            "Largest decoded body accepted, in bytes; bigger responses fail as too_large."
        ),
    )
    USER_AGENT: str = field(
        default="scraper/0.1 (+polite crawler)",
        metadata=_doc("User-Agent header sent with every request."),
    )
    DEFAULT_REQUEST_HEADERS: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc("Headers added to every request (JSON object in the config file)."),
    )
    COOKIES_ENABLED: bool = field(
        default=True,
        metadata=_doc(
            "Keep the cookies sites set and send them back (one jar per crawl process); false: "
            "no cookie jar (a request's own cookies= are still sent)."
        ),
    )
    REDIRECT_ENABLED: bool = field(default=True, metadata=_doc("Follow 3xx redirects."))
    REDIRECT_MAX_TIMES: int = field(default=20, metadata=_doc("Most redirects per request."))
    RETRY_ENABLED: bool = field(
        default=True, metadata=_doc("Retry transport errors and RETRY_HTTP_CODES.")
    )
    RETRY_TIMES: int = field(
        default=2,
        metadata=_doc("Retries after the first attempt (so RETRY_TIMES + 1 attempts at most)."),
    )
    RETRY_HTTP_CODES: list[int] = field(
        default_factory=lambda: [500, 502, 503, 504, 522, 524, 408, 429],
        metadata=_doc("Statuses that are retried."),
    )
    RETRY_BACKOFF_BASE: float = field(
        default=0.5,
        metadata=_doc(
            "First retry waits about this many seconds; each later one doubles it, with jitter."
        ),
    )
    RETRY_BACKOFF_MAX: float = field(default=30.0, metadata=_doc("Longest backoff, seconds."))
    RETRY_AFTER_MAX: float = field(
        default=300.0,
        metadata=_doc(
            "Cap on a server's Retry-After, seconds; the host is pushed back by at most this."
        ),
    )
    HOST_DOWN_BACKOFF_MAX: float = field(
        default=60.0,
        metadata=_doc(
            "A host that cannot be reached (refused, DNS, TLS, no robots.txt answer) is tried "
            "again after RETRY_BACKOFF_BASE seconds, then twice as long each time, up to this; "
            "its requests wait, queued, without using up their retries."
        ),
    )
    HOST_DOWN_TIMEOUT: float = field(
        default=300.0,
        metadata=_doc(
            "Once nothing but unreachable hosts is left to crawl, seconds a host may stay "
            "unreachable before this run gives up on it: its requests stay in the job folder "
            "(or in Redis; without either they go to the failures file as host_unreachable) "
            "and the exit status is 3."
        ),
    )
    HOST_UNREACHED_TIMEOUT: float = field(
        # Its attempts at the default backoff: 0, 0.5, 1.5, 3.5 and 7.5 s.
        default=10.0,
        metadata=_doc(
            "HOST_DOWN_TIMEOUT for a host that has not answered once in this run (a mistyped "
            "address, a server not started); never longer than HOST_DOWN_TIMEOUT."
        ),
    )
    ROBOTSTXT_OBEY: bool = field(
        default=True,
        metadata=_doc("Fetch each host's robots.txt first and skip the URLs it disallows."),
    )
    ROBOTSTXT_CRAWL_DELAY_MAX: float = field(
        default=30.0, metadata=_doc("Longest robots.txt Crawl-delay honoured, seconds.")
    )
    ROBOTSTXT_RETRY_DELAY: float = field(
        default=30.0,
        metadata=_doc(
            "Seconds before asking again for a robots.txt that answered 5xx or broke off; "
            "meanwhile the host counts as disallowed (a host that cannot be reached at all "
            "backs off as a whole instead: HOST_DOWN_BACKOFF_MAX)."
        ),
    )
    ROBOTSTXT_RETRY_TIMES: int = field(
        default=3,
        metadata=_doc(
            "Times a request waits for a robots.txt that answered 5xx or broke off before it "
            "fails (as robots_unavailable)."
        ),
    )
    AUTOTHROTTLE_ENABLED: bool = field(
        default=False,
        metadata=_doc("Adapt each host's delay to its latency (Scrapy's AutoThrottle)."),
    )
    AUTOTHROTTLE_START_DELAY: float = field(
        default=5.0, metadata=_doc("AutoThrottle's first delay per host, seconds.")
    )
    AUTOTHROTTLE_MAX_DELAY: float = field(
        default=60.0, metadata=_doc("AutoThrottle's highest delay, seconds.")
    )
    AUTOTHROTTLE_TARGET_CONCURRENCY: float = field(
        default=1.0, metadata=_doc("Requests AutoThrottle aims to have in flight per host.")
    )
    HTTPERROR_ALLOWED_CODES: list[int] = field(
        default_factory=list,
        metadata=_doc(
            "Non-2xx statuses still passed to callbacks (as Scrapy's handle_httpstatus_list)."
        ),
    )
    URLLENGTH_LIMIT: int = field(
        default=2083,
        metadata=_doc(
            "Longest URL followed (0 = no limit); longer ones are skipped and counted (as Scrapy)."
        ),
    )
    ALLOWED_DOMAINS: list[str] = field(
        default_factory=list,
        metadata=_doc(
            "Domains the crawl may visit, with their subdomains, besides the spider's "
            "allowed_domains (empty = anywhere)."
        ),
    )
    DENY_PRIVATE_ADDRESSES: str = field(
        default="auto",
        metadata=_doc(
            "Refuse to connect to loopback, private, link-local and unique-local addresses "
            "(PRIVATE_NETWORKS), checked on the address connected to: such requests, links "
            "and redirects included, fail as private_address. auto: on unless a start URL is "
            "on a private IP address or localhost; true; false."
        ),
    )
    ALLOWED_NETWORKS: list[str] = field(
        default_factory=list,
        metadata=_doc(
            "Networks (CIDRs, e.g. 10.1.0.0/16) a crawl may connect to even with "
            "DENY_PRIVATE_ADDRESSES on: an intranet crawl's."
        ),
    )
    PRIVATE_NETWORKS: list[str] = field(
        default_factory=lambda: list(DEFAULT_PRIVATE_NETWORKS),
        metadata=_doc(
            "The networks (CIDRs) DENY_PRIVATE_ADDRESSES refuses: loopback, RFC 1918, "
            "carrier-grade NAT, link-local (cloud metadata), IPv6 unique-local and link-local."
        ),
    )
    DEPTH_LIMIT: int = field(
        default=0,
        metadata=_doc("Deepest link depth followed from a start request (0 = unlimited)."),
    )
    FRONTIER_ORDER: str = field(
        default="lifo",
        metadata=_doc(
            "Order of a host's requests of equal priority: lifo (newest first, depth-first, as "
            "Scrapy's default queue: the frontier stays small) or fifo (breadth-first: the "
            "frontier holds a whole level of the site at once)."
        ),
    )

    # --- parsing (CPU-bound: processes) ---
    PARSE_WORKERS: int = field(
        default_factory=lambda: min(os.cpu_count() or 1, _MAXIMUM["PARSE_WORKERS"]),
        metadata=_doc(
            "Parse worker processes (default: cores, at most 256); 0 runs callbacks in the "
            "main process."
        ),
    )
    PARSE_START_METHOD: str = field(
        default="forkserver",
        metadata=_doc(
            "How parse workers start: forkserver (forked from one process that preloaded the "
            "framework and the spider's imports: fast to start, library pages shared) or spawn "
            "(a fresh interpreter each); fork is unsafe next to running fetch threads."
        ),
    )

    PARSE_TIMEOUT: float = field(
        default=60.0,
        metadata=_doc(
            "Seconds a callback may run before it is interrupted (0 = no limit); past twice that, "
            "its worker is killed and the pool rebuilt."
        ),
    )
    PARSE_INLINE_BELOW: float = field(
        default=0.0,
        metadata=_doc(
            "Opt-in speed-up for cheap callbacks (try 0.001): a callback whose mean CPU time is "
            "below this many seconds, measured over its first runs in the workers, then runs in "
            "the main process, cheaper than the trip to a worker. 0 keeps every callback in the "
            "workers. The main process cannot interrupt or survive a callback, so a callback "
            "running there that hangs stalls the crawl and one that kills its process ends it; a "
            "spider whose callback ever crashed or stalled a worker keeps all of them in the "
            "workers."
        ),
    )
    PARSE_MEMORY_LIMIT: int = field(
        default_factory=_default_memory_limit,
        metadata=_doc(
            "Most memory (address space) a parse worker may take, in bytes (0 = no limit; "
            "else at least 128 MiB). An allocation over it fails: the page is tried again in a "
            "fresh worker, then recorded as worker_memory. Default: a quarter of the machine's "
            "memory (at least 512 MiB), so one runaway callback cannot exhaust it. Not applied "
            "to callbacks in the main process."
        ),
    )
    PARSE_RETRY_TIMES: int = field(
        default=2,
        metadata=_doc(
            "Times a page whose callback timed out or killed its worker is tried again before it "
            "is recorded as failed."
        ),
    )

    # --- queues between the stages ---
    RESPONSE_QUEUE_SIZE: int = field(
        # Enough to keep the workers fed; each waiting page is memory (measured on 90 KB pages:
        # 64 cost 3 MB more than 32 at the same speed).
        default=32,
        metadata=_doc("Most fetched responses waiting for a parse worker."),
    )
    RESPONSE_QUEUE_BYTES: int = field(
        default=32 * 1024 * 1024, metadata=_doc("Most body bytes waiting for a parse worker.")
    )
    ITEM_QUEUE_SIZE: int = field(
        default=256,
        metadata=_doc("Most parsed pages whose items wait for pipelines and the exporter."),
    )

    # --- items and output ---
    ITEM_PIPELINES: dict[str | type, int] = field(
        default_factory=dict,
        metadata=_doc(
            "Pipelines by dotted path (or class) with their order, lowest first (as Scrapy)."
        ),
    )
    DOWNLOADER_MIDDLEWARES: dict[str | type, int | None] = field(
        default_factory=dict,
        metadata=_doc(
            "Downloader middlewares by dotted path (or class) with their order (None: off), "
            "run in the fetch threads around each download, as Scrapy's; see Middlewares."
        ),
    )
    SPIDER_MIDDLEWARES: dict[str | type, int | None] = field(
        default_factory=dict,
        metadata=_doc(
            "Spider middlewares by dotted path (or class) with their order (None: off), run "
            "beside the callbacks and on the start requests, as Scrapy's; see Middlewares."
        ),
    )
    CLOSESPIDER_ITEMCOUNT: int = field(
        default=0, metadata=_doc("Stop gracefully after this many items (0 = no limit).")
    )
    CLOSESPIDER_PAGECOUNT: int = field(
        default=0, metadata=_doc("Stop gracefully after this many responses (0 = no limit).")
    )

    DOWNLOAD_VERIFY: bool = field(
        default=True,
        metadata=_doc("Check TLS certificates (false accepts any: for test sites only)."),
    )
    DOWNLOAD_CA_BUNDLE: str = field(
        default="",
        metadata=_doc(
            "PEM file of certificate authorities trusted besides the system's (private CAs)."
        ),
    )
    HTTPCACHE_ENABLED: bool = field(
        default=False,
        metadata=_doc(
            "Keep every response in HTTPCACHE_DIR and answer from there (a hit costs no "
            "request, no politeness delay, no robots.txt fetch)."
        ),
    )
    HTTPCACHE_DIR: str = field(
        default=".scraper/httpcache",
        metadata=_doc("Folder of the HTTP cache (one SQLite file per spider)."),
    )
    HTTPCACHE_EXPIRATION_SECS: float = field(
        default=0.0,
        metadata=_doc("Cached responses older than this are fetched again (0 = never)."),
    )
    HTTPCACHE_IGNORE_HTTP_CODES: list[int] = field(
        default_factory=list, metadata=_doc("HTTP statuses never stored in the cache.")
    )
    HTTPCACHE_POLICY: str = field(
        default="dummy",
        metadata=_doc(
            "dummy: serve every cached response as it is; rfc2616: follow Cache-Control, "
            "Expires, ETag and Last-Modified (RFC 9111), revalidating with conditional requests."
        ),
    )
    STATS_DUMP_FILE: str = field(
        default="",
        metadata=_doc(
            "Write the end-of-crawl summary here as JSON (every figure it shows, by name)."
        ),
    )
    FEEDS: dict[str, dict] = field(
        default_factory=dict,
        metadata=_doc(
            "More outputs, as Scrapy's: {PATH: {format, fields, encoding, indent, overwrite, "
            "batch_item_count, row_group_size}} (JSON object); PATH may hold %(name)s, %(time)s, "
            "%(batch_id)d and spider attributes. With no -o/-O only these are written."
        ),
    )
    JOBDIR: str = field(
        default="",
        metadata=_doc(
            "Folder keeping the crawl's state (frontier, seen URLs, items) so it survives a crash "
            "and resumes when run again; same as --jobdir."
        ),
    )

    # --- many crawl processes, one Redis ---
    FRONTIER_URL: str = field(
        default="",
        metadata=_doc(
            "redis://[USER:PASSWORD@]HOST:PORT/DB (rediss:// for TLS): share the frontier with "
            "every crawl process using the same CRAWL_NAME there (empty = in this process); "
            "same as --frontier."
        ),
    )
    CRAWL_NAME: str = field(
        default="",
        metadata=_doc(
            "Name of the shared crawl in FRONTIER_URL (default: the spider name); same as "
            "--crawl-name."
        ),
    )
    REDIS_LEASE_TIMEOUT: float = field(
        default=30.0,
        metadata=_doc(
            "Seconds a worker holds a request without renewing its lease; a worker that dies "
            "loses its requests to the others after this."
        ),
    )
    REDIS_MAX_LEASE_EXPIRIES: int = field(
        default=3,
        metadata=_doc(
            "Times a request's lease may expire before it goes to the crawl's dead-letter list."
        ),
    )
    REDIS_SSL_CA_CERTS: str = field(
        default="",
        metadata=_doc(
            "CA certificates (PEM file) that a rediss:// FRONTIER_URL's server certificate is "
            "checked against (empty = the system's)."
        ),
    )
    REDIS_RETRY_TIMEOUT: float = field(
        default=60.0,
        metadata=_doc(
            "Seconds to keep retrying (with backoff) while Redis is unreachable before the "
            "worker gives up."
        ),
    )

    # --- runtime ---
    LOG_LEVEL: str = field(default="INFO", metadata=_doc("DEBUG, INFO, WARNING or ERROR."))
    SHUTDOWN_TIMEOUT: float = field(
        default=30.0,
        metadata=_doc(
            "On the first Ctrl-C, seconds to let in-flight work finish before giving up on it."
        ),
    )

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def docs(cls) -> list[tuple[str, str, str]]:
        """(name, default, description) for every setting, for --help and the README."""
        rows = []
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
            if f.name == "PARSE_WORKERS":
                default = "cores"
            elif f.name == "PARSE_MEMORY_LIMIT":
                default = "RAM / 4"
            rows.append(
                (
                    f.name,
                    json.dumps(default) if not isinstance(default, str) else default,
                    f.metadata.get("doc", ""),
                )
            )
        return rows

    @classmethod
    def markdown_table(cls) -> str:
        """The settings table of README.md (a test keeps the two the same)."""
        rows = ["| Setting | Default | What it does |", "|---|---|---|"]
        rows += [f"| `{name}` | `{default}` | {doc} |" for name, default, doc in cls.docs()]
        return "\n".join(rows)

    def update(self, values: Mapping[str, Any], source: str) -> None:
        """Apply ``values`` (strings from INI/CLI, or Python values from a spider) on top."""
        hints = _hints()
        for key, raw in values.items():
            name = key.upper()
            if name in MIDDLEWARE_SETTINGS:
                switches, own = middleware_entries(name, raw, source)
                for switch, off in switches.items():
                    setattr(self, switch, off)
                setattr(self, name, own)  # a later layer replaces the mapping, as in Scrapy
                continue
            if name not in hints and name in SCRAPY_ONLY:
                warn_ignored(name, source)
                continue
            if name not in hints:
                close = difflib.get_close_matches(name, [*hints, *SCRAPY_ONLY], n=1)
                if close:
                    raise SettingsError(
                        f"unknown setting {key!r} (from {source}); did you mean {close[0]}?"
                    )
                # Like nothing we or Scrapy know: the spider's own, as Scrapy allows.
                note_own(name, source)
                continue
            setattr(self, name, _coerce(name, raw, hints[name], source))
        try:
            self.validate()
        except SettingsError as exc:  # every layer is checked, so the bad value came in this one
            raise SettingsError(f"{exc} (from {source})") from None

    def validate(self) -> None:
        for name, hint in _hints().items():
            if hint in (int, float):
                _check_number(name, getattr(self, name))
        for name, most in _MAXIMUM.items():
            if getattr(self, name) > most:
                raise SettingsError(f"{name} must be at most {most}, got {getattr(self, name)}")
        if 0 < self.PARSE_MEMORY_LIMIT < 128 * MiB:
            raise SettingsError(
                "PARSE_MEMORY_LIMIT is in bytes: 0 (no limit) or at least 134217728 (128 MiB), "
                f"got {self.PARSE_MEMORY_LIMIT}"
            )
        for name in ("RETRY_HTTP_CODES", "HTTPERROR_ALLOWED_CODES"):
            for code in getattr(self, name):
                if not 100 <= code <= 599:
                    raise SettingsError(f"{name}: {code} is not an HTTP status (100-599)")
        for name in ("ALLOWED_NETWORKS", "PRIVATE_NETWORKS"):
            for network in getattr(self, name):
                try:
                    ipaddress.ip_network(network, strict=False)
                except ValueError:
                    raise SettingsError(f"{name}: {network!r} is not a network") from None
        checks = [
            (
                self.DENY_PRIVATE_ADDRESSES in ("auto", "true", "false"),
                "DENY_PRIVATE_ADDRESSES must be auto, true or false",
            ),
            (self.FRONTIER_ORDER in ("lifo", "fifo"), "FRONTIER_ORDER must be lifo or fifo"),
            (
                self.PARSE_START_METHOD in ("forkserver", "spawn"),
                "PARSE_START_METHOD must be forkserver or spawn",
            ),
            (
                not self.FRONTIER_URL or self.FRONTIER_URL.startswith(("redis://", "rediss://")),
                "FRONTIER_URL must be a redis:// or rediss:// URL",
            ),
            (
                self.LOG_LEVEL.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"),
                "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(message)

    @property
    def host_delay(self) -> float:
        """Seconds between request starts on one host: the stricter of delay and rate."""
        rate_gap = 1.0 / self.DOWNLOAD_RATE if self.DOWNLOAD_RATE > 0 else 0.0
        return max(self.DOWNLOAD_DELAY, rate_gap)


@functools.cache
def _hints() -> dict[str, Any]:
    return get_type_hints(Settings)


# Numbers that must be above zero; every other number must not be negative (0 is "off" or
# "no limit" where its description says so). A negative delay, limit or timeout is never a
# choice: it filters everything, or fails everything, and the crawl "succeeds" having done
# nothing.
_POSITIVE = frozenset(
    {
        "CONCURRENT_REQUESTS",
        "CONCURRENT_REQUESTS_PER_DOMAIN",
        "DOWNLOAD_TIMEOUT",
        "DOWNLOAD_MAXSIZE",
        "AUTOTHROTTLE_TARGET_CONCURRENCY",
        "RESPONSE_QUEUE_SIZE",
        "RESPONSE_QUEUE_BYTES",
        "ITEM_QUEUE_SIZE",
        "REDIS_LEASE_TIMEOUT",
        "REDIS_MAX_LEASE_EXPIRIES",
    }
)


# Settings that start a thread or a process each: past these a crawl dies minutes in of the
# system's limits ("can't start new thread", out of file descriptors) instead of at once.
_MAXIMUM = {"CONCURRENT_REQUESTS": 1024, "PARSE_WORKERS": 256}


def _check_number(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, got {value}")
    if name in _POSITIVE and value <= 0:
        least = "at least 1" if isinstance(value, int) else "positive"
        raise SettingsError(f"{name} must be {least}, got {value}")
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {value}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, raw: Any, hint: Any, source: str) -> Any:
    """Turn ``raw`` into the setting's type or raise a SettingsError naming the setting."""
    origin = getattr(hint, "__origin__", hint)

    def bad(expected: str) -> SettingsError:
        return SettingsError(f"setting {name} (from {source}): expected {expected}, got {raw!r}")

    value = raw
    from_text = isinstance(raw, str)
    if from_text:
        text = raw.strip()
        if hint is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise bad("a boolean (true/false)")
        if hint is int:
            try:
                return int(text)
            except ValueError:
                raise bad("an integer") from None
        if hint is float:
            try:
                return float(text)
            except ValueError:
                raise bad("a number") from None
        if hint is str:
            return text
        if origin is list and not text.startswith("["):
            item_type = hint.__args__[0]
            try:
                return [item_type(part.strip()) for part in text.split(",") if part.strip()]
            except ValueError:
                raise bad(f"a list of {_describe(item_type)}") from None
        try:
            value = json.loads(text)
        except ValueError:
            expected = (
                "a JSON list or comma-separated values" if origin is list else "a JSON object"
            )
            raise bad(expected) from None
        # JSON values carry their own types: checked below, as a spider's Python values are.
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise bad("a boolean")
    if hint is int:
        if _is(value, int):
            return value
        raise bad("an integer")
    if hint is float:
        if _is(value, int | float):
            return float(value)
        raise bad("a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise bad("a string")
    container = "a JSON" if from_text else "a"
    if origin is list:
        item_type = hint.__args__[0]
        if isinstance(value, list | tuple) and all(_is(v, item_type) for v in value):
            return list(value)
        raise bad(f"{container} list of {_describe(item_type)}")
    if origin is dict:
        # Checked here, not where they are used: a wrong type there is a traceback mid-crawl
        # (a header value that is a number, a pipeline order that is a string).
        key_type, value_type = hint.__args__
        if isinstance(value, Mapping) and all(
            _is(k, key_type) and _is(v, value_type) for k, v in value.items()
        ):
            return dict(value)
        what = "object" if from_text else "mapping"
        raise bad(f"{container} {what} of {_describe(key_type)} to {_describe(value_type)}")
    raise bad(str(hint))  # pragma: no cover - every field type is handled above


def _is(value: Any, kind: Any) -> bool:
    """isinstance, except that a bool is not a number (JSON's true is not 1)."""
    return isinstance(value, kind) and not isinstance(value, bool)


def _describe(kind: Any) -> str:
    """``int`` -> "int", ``str | type`` -> "str or class"."""
    kinds = getattr(kind, "__args__", (kind,))
    return " or ".join("class" if k is type else k.__name__ for k in kinds)


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``scrapy-like.cfg`` in the working directory or its parents (as Scrapy)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    return None


@dataclass(slots=True)
class ConfigFile:
    """What ``scrapy-like.cfg`` says for one spider: settings and spider arguments.

    Upper-case keys are settings; lower-case keys in ``[spider:NAME]`` are spider arguments
    (as ``-a``), so a project can pin e.g. ``start_urls`` in its config.
    """

    path: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)
    spider_settings: dict[str, str] = field(default_factory=dict)
    spider_args: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path | None, spider_name: str) -> ConfigFile:
        if path is None:
            return cls()
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case
        try:
            text = path.read_text(encoding="utf-8")
            parser.read_string(text, source=str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"cannot read config file {path}: {exc}") from exc
        except configparser.Error as exc:
            raise SettingsError(
                f"cannot read config file {path}: {_config_error(exc, text)}"
            ) from exc
        config = cls(path=path)
        if parser.has_section("settings"):
            # ``default`` names a Scrapy project's settings module (see project.py).
            config.settings = {k: v for k, v in parser.items("settings") if k != "default"}
        section = f"spider:{spider_name}"
        if parser.has_section(section):
            for key, value in parser.items(section):
                if key.isupper():
                    config.spider_settings[key] = value
                else:
                    config.spider_args[key] = value
        return config


def _config_error(exc: configparser.Error, text: str) -> str:
    """configparser's message in one line: its own run over several, naming the file twice."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno}: {exc.line.strip()!r} comes before any [section]"
    if isinstance(exc, configparser.ParsingError):
        lineno = exc.errors[0][0]
        line = text.splitlines()[lineno - 1].strip()
        return f"line {lineno}: {line!r} is neither [section] nor NAME = VALUE"
    return " ".join(str(exc).split())


def build_settings(
    config: ConfigFile,
    custom_settings: Mapping[str, Any] | None,
    overrides: Mapping[str, str],
    project: Mapping[str, Any] | None = None,
) -> Settings:
    """Layer the sources in precedence order onto the defaults (a Scrapy project's
    settings.py, ``project``, lowest)."""
    settings = Settings()
    settings.update(project or {}, "project settings")
    where = str(config.path) if config.path else CONFIG_FILENAME
    settings.update(config.settings, f"{where} [settings]")
    settings.update(config.spider_settings, f"{where} [spider:...]")
    settings.update(custom_settings or {}, "spider custom_settings")
    settings.update(overrides, "-s")
    return settings
