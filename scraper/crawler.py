"""Scrapy's ``crawler`` object for spiders, pipelines and extensions written against it:
``from_crawler(crawler)``, ``crawler.settings.get*()``, ``crawler.signals.connect()``,
``crawler.stats``, ``crawler.engine.close_spider()``.

Flow position: built in the main process before the spider (``build.build_crawl``); the spider
gets it as ``spider.crawler``. Signals are sent from the main process: ``spider_opened`` and
``spider_closed`` around the crawl, ``item_scraped`` and ``item_dropped`` from the pipelines
(so their handlers run in the export thread, one at a time), ``request_scheduled`` when a
request is admitted to the frontier, ``response_received`` when a page's callback output
comes back (both in the thread that hands results on) and ``spider_idle`` from the engine's
main thread when nothing is left to do (its handlers may ``crawler.engine.crawl(request)`` or
raise ``DontCloseSpider``).

Each parse worker builds a crawler of its own for its spider (``parse._init_worker``): the
same settings; its own ``stats`` (not added to the main process's) and ``signals`` (handlers
may connect, but no signal is sent there: a handler with side effects, opening a file say,
runs once, in the main process); ``engine.close_spider`` in a callback there stops the crawl
as raising ``CloseSpider`` does, and ``engine.crawl`` refuses (yield the request).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from . import signals as signal_names
from .errors import CloseSpider
from .settings import Settings

if TYPE_CHECKING:
    from .project import Project

log = logging.getLogger("scraper.crawler")


class SettingsView:
    """Scrapy's read API over the resolved settings: ours by their typed value, any other name
    (a project's own, or Scrapy's we do not implement) as the sources gave it."""

    def __init__(self, settings: Settings, raw: Mapping[str, Any]) -> None:
        self._settings = settings
        self._raw = dict(raw)
        self._ours = set(Settings.names())

    def get(self, name: str, default: Any = None) -> Any:
        if name in self._ours:
            return getattr(self._settings, name)
        return self._raw.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._ours or name in self._raw

    def getbool(self, name: str, default: bool = False) -> bool:
        value = self.get(name, default)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    def getint(self, name: str, default: int = 0) -> int:
        return int(self.get(name, default))

    def getfloat(self, name: str, default: float = 0.0) -> float:
        return float(self.get(name, default))

    def getlist(self, name: str, default: list[Any] | None = None) -> list[Any]:
        value = self.get(name, default or [])
        if isinstance(value, str):
            return [part for part in value.split(",") if part]
        return list(value)

    def getdict(self, name: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
        value = self.get(name, default or {})
        return dict(json.loads(value) if isinstance(value, str) else value)

    def copy_to_dict(self) -> dict[str, Any]:
        return {**self._raw, **{name: getattr(self._settings, name) for name in self._ours}}

    def __getattr__(self, name: str) -> Any:  # the framework's own typed access
        return getattr(self._settings, name)


class SpiderSettings:
    """What ``Spider.update_settings`` writes to: the spider's layer of settings (Scrapy's
    ``priority="spider"``, between the project's and ``-s``)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def set(self, name: str, value: Any, priority: str = "spider") -> None:
        self.values[name] = value

    def setdict(self, values: Mapping[str, Any], priority: str = "spider") -> None:
        self.values.update(values)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self.values[name] = value


def spider_signals(spider: Any) -> SignalManager | None:
    """The signals of the spider's crawler; None for a spider made without one."""
    crawler = getattr(spider, "crawler", None)
    return crawler.signals if crawler is not None else None


def spider_settings(spider_cls: Any) -> dict[str, Any]:
    """The spider's own settings: its ``custom_settings``, through its ``update_settings``."""
    collected = SpiderSettings()
    spider_cls.update_settings(collected)
    return collected.values


def spider_raw_settings(spider_cls: type, project: Project | None) -> dict[str, Any]:
    """What a parse worker can rebuild of the settings' sources for ``spider.settings.get``:
    the project's settings.py and the spider's custom_settings (not ``-s`` and the config
    file, whose values the typed settings carry anyway)."""
    return {**(project.settings if project else {}), **spider_settings(spider_cls)}


class SignalManager:
    """``connect(handler, signal=...)`` and ``send_catch_log``: a handler that raises is
    logged, never stops the crawl (as Scrapy's)."""

    def __init__(self) -> None:
        self._handlers: dict[object, list[Callable[..., Any]]] = {}

    def connect(self, receiver: Callable[..., Any], signal: object) -> None:
        self._handlers.setdefault(signal, []).append(receiver)

    def disconnect(self, receiver: Callable[..., Any], signal: object) -> None:
        if receiver in self._handlers.get(signal, []):
            self._handlers[signal].remove(receiver)

    def send(self, signal: object, **kwargs: Any) -> None:
        """``send_catch_log`` when the signal has handlers; nothing (cheaply) otherwise."""
        if self._handlers.get(signal):
            self.send_catch_log(signal, **kwargs)

    def send_catch_log(
        self, signal: object, dont_log: tuple[type[Exception], ...] = (), **kwargs: Any
    ) -> list[Any]:
        """Each handler's return value, or the exception it raised; the exceptions of
        ``dont_log`` are expected answers (``DontCloseSpider``), not logged."""
        results = []
        for handler in list(self._handlers.get(signal, [])):
            try:
                results.append(handler(**_accepted(handler, kwargs)))
            except Exception as exc:
                if not isinstance(exc, dont_log):
                    log.exception("signal handler %r failed", handler)
                results.append(exc)
        return results


def _accepted(handler: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Only the arguments the handler names (Scrapy's handlers take what they need)."""
    try:
        params = inspect.signature(handler).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


class StatsCollector:
    """``crawler.stats``: the spider's own counters (the crawl's summary keeps its own)."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def get_value(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def set_value(self, key: str, value: Any) -> None:
        self._values[key] = value

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        self._values[key] = self._values.get(key, start) + count

    def max_value(self, key: str, value: Any) -> None:
        self._values[key] = max(self._values.get(key, value), value)

    def min_value(self, key: str, value: Any) -> None:
        self._values[key] = min(self._values.get(key, value), value)

    def get_stats(self) -> dict[str, Any]:
        return dict(self._values)


class RunningCrawl(Protocol):
    """What the crawler needs of the running crawl (``engine.Crawl``)."""

    def stop(self, reason: str) -> None: ...

    def schedule(self, request: Any) -> None: ...


class _Engine:
    """``crawler.engine``: ``close_spider(spider, reason)`` stops gracefully, as CloseSpider;
    ``crawl(request)`` queues a request (main process: a ``spider_idle`` handler, say)."""

    def __init__(self) -> None:
        self.running: RunningCrawl | None = None  # None in a parse worker

    def close_spider(self, spider: Any = None, reason: str = "cancelled") -> None:
        if self.running is None:  # a callback in a parse worker: CloseSpider stops the crawl
            raise CloseSpider(reason)
        self.running.stop(reason)

    def crawl(self, request: Any, spider: Any = None) -> None:
        if self.running is None:
            raise RuntimeError(
                "crawler.engine.crawl() runs in the main process only; a callback yields "
                "its requests instead"
            )
        self.running.schedule(request)


class Crawler:
    def __init__(self, settings: Settings, raw: Mapping[str, Any]) -> None:
        self.settings = SettingsView(settings, raw)
        self.signals = SignalManager()
        self.stats = StatsCollector()
        self.engine = _Engine()
        self.spider: Any = None

    def bind(self, crawl: RunningCrawl) -> None:
        self.engine.running = crawl


__all__ = ["Crawler", "SettingsView", "SignalManager", "StatsCollector", "signal_names"]
