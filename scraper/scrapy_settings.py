"""Scrapy's setting names that this framework does not implement, and names of neither.

Flow position: settings resolution (``Settings.update``). A name from this list in a spider's
``custom_settings``, ``-s`` or a project's settings.py is Scrapy's, not a typo: it gets one
warning naming it and is otherwise ignored (its value stays readable through
``crawler.settings``). An unknown name close to a known one is a typo, an error saying which
name was meant; any other is the spider's or project's own (``PRICE_FACTOR``), kept for
``crawler.settings``, as Scrapy keeps it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("scraper.settings")

SCRAPY_ONLY = frozenset(
    {
        "ADDONS", "ASYNCIO_EVENT_LOOP", "AUTOTHROTTLE_DEBUG", "AWS_ACCESS_KEY_ID",
        "AWS_ENDPOINT_URL", "AWS_MAX_POOL_CONNECTIONS", "AWS_REGION_NAME",
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_USE_SSL", "AWS_VERIFY", "BOT_NAME",
        "CLOSESPIDER_ERRORCOUNT", "CLOSESPIDER_PAGECOUNT_NO_ITEM", "CLOSESPIDER_TIMEOUT",
        "CLOSESPIDER_TIMEOUT_NO_ITEM", "COMMANDS_MODULE", "COMPRESSION_ENABLED",
        "CONCURRENT_ITEMS", "CONCURRENT_REQUESTS_PER_IP", "COOKIES_DEBUG",
        "CRAWLSPIDER_FOLLOW_LINKS", "DEFAULT_DROPITEM_LOG_LEVEL", "DEFAULT_ITEM_CLASS",
        "DEPTH_PRIORITY", "DEPTH_STATS_VERBOSE", "DNSCACHE_ENABLED", "DNSCACHE_SIZE",
        "DNS_RESOLVER", "DNS_TIMEOUT", "DOWNLOADER", "DOWNLOADER_CLIENTCONTEXTFACTORY",
        "DOWNLOADER_CLIENT_TLS_CIPHERS", "DOWNLOADER_CLIENT_TLS_METHOD",
        "DOWNLOADER_CLIENT_TLS_VERBOSE_LOGGING",
        "DOWNLOADER_MIDDLEWARES_BASE", "DOWNLOADER_STATS", "DOWNLOAD_BIND_ADDRESS",
        "DOWNLOAD_DELAY_JITTER", "DOWNLOAD_FAIL_ON_DATALOSS", "DOWNLOAD_HANDLERS",
        "DOWNLOAD_HANDLERS_BASE", "DOWNLOAD_SLOTS", "DOWNLOAD_TLS_MAX_VERSION",
        "DOWNLOAD_TLS_MIN_VERSION", "DOWNLOAD_VERIFY_CERTIFICATES", "DOWNLOAD_WARNSIZE",
        "DUPEFILTER_CLASS", "DUPEFILTER_DEBUG", "EDITOR", "EXTENSIONS", "EXTENSIONS_BASE",
        "FEED_EXPORTERS", "FEED_EXPORTERS_BASE", "FEED_EXPORT_BATCH_ITEM_COUNT",
        "FEED_EXPORT_ENCODING", "FEED_EXPORT_FIELDS", "FEED_EXPORT_INDENT", "FEED_FORMAT",
        "FEED_STORAGES", "FEED_STORAGES_BASE", "FEED_STORAGE_FTP_ACTIVE",
        "FEED_STORAGE_GCS_ACL", "FEED_STORAGE_S3_ACL", "FEED_STORE_EMPTY", "FEED_TEMPDIR",
        "FEED_URI", "FEED_URI_PARAMS", "FILES_STORE", "FILES_STORE_GCS_ACL",
        "FILES_STORE_S3_ACL", "FORCE_CRAWLER_PROCESS", "FTP_PASSIVE_MODE", "FTP_PASSWORD",
        "FTP_USER", "GCS_PROJECT_ID", "HTTP2_MAX_FRAME_SIZE", "HTTPAUTH_DOMAIN",
        "HTTPAUTH_PASS", "HTTPAUTH_USER", "HTTPCACHE_ALWAYS_STORE", "HTTPCACHE_DBM_MODULE",
        "HTTPCACHE_GZIP",
        "HTTPCACHE_IGNORE_MISSING",
        "HTTPCACHE_IGNORE_RESPONSE_CACHE_CONTROLS", "HTTPCACHE_IGNORE_SCHEMES",
        "HTTPCACHE_STORAGE", "HTTPERROR_ALLOW_ALL",
        "HTTPPROXY_AUTH_ENCODING", "HTTPPROXY_ENABLED", "HTTPX_HTTP2_ENABLED", "IMAGES_STORE",
        "IMAGES_STORE_GCS_ACL", "IMAGES_STORE_S3_ACL", "ITEM_PIPELINES_BASE",
        "ITEM_PROCESSOR", "LOGSTATS_INTERVAL", "LOG_COLOR", "LOG_DATEFORMAT", "LOG_ENABLED",
        "LOG_ENCODING", "LOG_FILE", "LOG_FILE_APPEND", "LOG_FORMAT", "LOG_FORMATTER",
        "LOG_INSTALL_ROOT_HANDLER", "LOG_SHORT_NAMES", "LOG_STDOUT", "LOG_VERSIONS",
        "MAIL_FROM", "MAIL_HOST", "MAIL_PASS", "MAIL_PORT", "MAIL_SSL", "MAIL_TLS",
        "MAIL_USER", "MEMDEBUG_ENABLED", "MEMUSAGE_CHECK_INTERVAL_SECONDS",
        "MEMUSAGE_ENABLED", "MEMUSAGE_LIMIT_MB", "MEMUSAGE_NOTIFY_MAIL",
        "MEMUSAGE_WARNING_MB", "METAREFRESH_ENABLED", "METAREFRESH_IGNORE_TAGS",
        "METAREFRESH_MAXDELAY", "NEWSPIDER_MODULE", "PERIODIC_LOG_DELTA",
        "PERIODIC_LOG_STATS", "PERIODIC_LOG_TIMING_ENABLED", "REACTOR_THREADPOOL_MAXSIZE",
        "REDIRECT_PRIORITY_ADJUST", "REFERER_ENABLED", "REFERRER_POLICIES", "REFERRER_POLICY",
        "REMOTE_CONTROL_ENABLED", "REMOTE_CONTROL_JOBS_DIR",
        "REMOTE_CONTROL_OUTPUT_MAX_BYTES", "REMOTE_CONTROL_TIMEOUT_DEFAULT",
        "REMOTE_CONTROL_TIMEOUT_MAX", "REMOTE_CONTROL_TRACEBACK_MAX_BYTES",
        "REQUEST_FINGERPRINTER_CLASS", "RETRY_EXCEPTIONS", "RETRY_GIVE_UP_LOG_LEVEL",
        "RETRY_PRIORITY_ADJUST", "ROBOTSTXT_PARSER", "ROBOTSTXT_USER_AGENT", "SCHEDULER",
        "SCHEDULER_DEBUG", "SCHEDULER_DISK_QUEUE", "SCHEDULER_MEMORY_QUEUE",
        "SCHEDULER_PRIORITY_QUEUE", "SCHEDULER_START_DISK_QUEUE",
        "SCHEDULER_START_MEMORY_QUEUE", "SCRAPER_SLOT_MAX_ACTIVE_SIZE", "SPIDER_CONTRACTS",
        "SPIDER_CONTRACTS_BASE", "SPIDER_LOADER_CLASS", "SPIDER_LOADER_WARN_ONLY",
        "SPIDER_MIDDLEWARES_BASE", "SPIDER_MODULES",
        "STATSMAILER_RCPTS", "STATS_CLASS", "STATS_DUMP", "TELNETCONSOLE_ENABLED",
        "TELNETCONSOLE_HOST", "TELNETCONSOLE_PASSWORD", "TELNETCONSOLE_PORT",
        "TELNETCONSOLE_USERNAME", "TEMPLATES_DIR", "TWISTED_DNS_RESOLVER", "TWISTED_REACTOR",
        "TWISTED_REACTOR_ENABLED", "WARN_ON_GENERATOR_RETURN_VALUE",
    }
)  # fmt: skip

# Project bookkeeping every Scrapy project sets: nothing to warn about.
PROJECT_NAMES = frozenset({"BOT_NAME", "SPIDER_MODULES", "NEWSPIDER_MODULE"})

_warned: set[str] = set()


def warn_ignored(name: str, source: str) -> None:
    """One warning per name and process: the setting is Scrapy's and has no effect here."""
    if name in _warned or name in PROJECT_NAMES:
        return
    _warned.add(name)
    log.warning("setting %s (from %s) is Scrapy's and not implemented here: ignored", name, source)


def note_own(name: str, source: str) -> None:
    if name not in _warned:
        _warned.add(name)
        log.info(
            "setting %s (from %s) is the spider's own: read it with crawler.settings", name, source
        )


# Scrapy's built-in middlewares whose behaviour is ours to switch: turning one off (None) in
# DOWNLOADER_MIDDLEWARES or SPIDER_MIDDLEWARES sets the setting that turns ours off.
_SWITCHES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": ("RETRY_ENABLED", False),
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": ("REDIRECT_ENABLED", False),
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": ("ROBOTSTXT_OBEY", False),
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": ("COOKIES_ENABLED", False),
    "scrapy.spidermiddlewares.depth.DepthMiddleware": ("DEPTH_LIMIT", 0),
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": ("URLLENGTH_LIMIT", 0),
}
MIDDLEWARE_SETTINGS = ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES")


def middleware_entries(
    name: str, value: Any, source: str
) -> tuple[dict[str, Any], dict[str | type, int | None]]:
    """Split a Scrapy middleware mapping into our settings and the middlewares to run.

    A built-in middleware of Scrapy's (``scrapy.`` or, imports rewritten, ``scraper.``) turned
    off maps to ours turned off; any other built-in entry is warned about once, by name, and
    ignored (its behaviour is ours, or not implemented). Every other entry is a middleware of
    the project's own: kept, with its order number (None: off), to run."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    switches: dict[str, Any] = {}
    own: dict[str | type, int | None] = {}
    for ref, order in dict(value).items():
        key = ref if isinstance(ref, str) else f"{ref.__module__}.{ref.__qualname__}"
        builtin = "scrapy." + key.removeprefix("scraper.") if key.startswith("scraper.") else key
        if not builtin.startswith("scrapy."):
            own[ref] = None if order is None else int(order)
        elif order is None and builtin in _SWITCHES:
            setting, off = _SWITCHES[builtin]
            switches[setting] = off
        elif builtin not in _warned:
            _warned.add(builtin)
            log.warning(
                "%s %s (from %s): Scrapy's built-in middlewares do not run here (their "
                "behaviour is the framework's own, set by settings): ignored",
                name,
                builtin,
                source,
            )
    return switches, own
