"""Building a crawl from a spider file, without the command line.

Flow position: before the flow starts. ``build_crawl`` loads the spider and its project,
resolves the settings in precedence order, creates the spider through its crawler, and builds
the store the settings ask for (``open_store``); the engine (``engine.Crawl``) runs what it
builds. ``crawl`` (cli.py) is one caller; ``build_crawl("spiders/news.py").run()`` is another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from .crawler import Crawler, spider_settings
from .engine import Crawl
from .errors import SettingsError, SpiderLoadError
from .feed_spec import feed_specs
from .politeness import Politeness
from .project import load_project, split_settings
from .settings import ConfigFile, Settings, build_settings, find_config
from .spider import load_spider_class, resolve_target
from .state import spider_attribute_settings
from .stats import Stats
from .store import Clock, CrawlStore

log = logging.getLogger("scraper.build")


def open_store(
    settings: Settings,
    crawl_name: str,
    *,
    jobdir: Path | None = None,
    stats: Stats | None = None,
    clock: Clock = time.monotonic,
) -> CrawlStore:
    """The store the settings ask for: Redis (FRONTIER_URL), a job folder, or memory."""
    politeness = Politeness.from_settings(settings)
    if settings.FRONTIER_URL:
        if jobdir is not None:
            raise SettingsError(
                "--jobdir and FRONTIER_URL exclude each other: with a shared "
                "frontier the crawl's state lives in Redis"
            )
        # Imported here: the Redis client alone adds 8 MB to every crawl's memory.
        from .distributed import RedisFrontier

        return RedisFrontier(
            settings.FRONTIER_URL,
            settings.CRAWL_NAME or crawl_name,
            politeness,
            lease_timeout=settings.REDIS_LEASE_TIMEOUT,
            max_lease_expiries=settings.REDIS_MAX_LEASE_EXPIRIES,
            retry_timeout=settings.REDIS_RETRY_TIMEOUT,
            ca_certs=settings.REDIS_SSL_CA_CERTS,
            stats=stats,
            clock=clock,
        )
    from .frontier import MemoryFrontier

    if jobdir is None:
        return MemoryFrontier(politeness, clock=clock)
    from .jobdir import SQLiteJournal

    jobdir.mkdir(parents=True, exist_ok=True)
    return MemoryFrontier(politeness, clock=clock, journal=SQLiteJournal(jobdir))


def build_crawl(
    spider_file: str | Path,
    *,
    settings: dict[str, str] | None = None,
    spider_args: dict[str, str] | None = None,
    config_path: Path | None = None,
    output: Path | None = None,
    append: bool = False,
    jobdir: Path | None = None,
    on_tick: Callable[[Crawl], None] | None = None,
    configure_logging: Callable[[Settings], None] | None = None,
) -> Crawl:
    """Everything ``crawl`` does before running: spider, settings in precedence order, output.

    Also the programmatic entry point: ``build_crawl("spiders/news.py").run()``.
    ``configure_logging`` runs once the settings are known, before any spider code.
    """
    project = load_project()
    spider_path, spider_name = resolve_target(spider_file, project)
    spider_cls = load_spider_class(spider_path, spider_name)
    if config_path is not None and not config_path.is_file():
        raise SettingsError(f"config file not found: {config_path}")
    config = ConfigFile.read(config_path or find_config(), spider_cls.name)
    custom = spider_settings(spider_cls)
    resolved = build_settings(config, custom, settings or {}, project=split_settings(project))
    layers = [project.settings if project else {}, config.settings, config.spider_settings]
    layers += [custom, settings or {}]
    if configure_logging is not None:
        configure_logging(resolved)
    arguments = {**config.spider_args, **(spider_args or {})}
    crawler = Crawler(resolved, raw={k: v for layer in layers for k, v in layer.items()})
    try:
        spider = spider_cls.from_crawler(crawler, **arguments)
    except Exception as exc:
        log.debug("creating spider %s failed", spider_cls.__name__, exc_info=True)
        raise SpiderLoadError(
            f"cannot create spider {spider_cls.__name__}: {type(exc).__name__}: {exc}"
        ) from exc
    resolved = spider_attribute_settings(spider, resolved)
    jobdir = jobdir or (Path(resolved.JOBDIR) if resolved.JOBDIR else None)
    stats = Stats()
    crawl = Crawl(
        spider,
        spider_path=str(spider_path.resolve()),
        spider_args=arguments,
        settings=resolved,
        store=open_store(resolved, spider.name, jobdir=jobdir, stats=stats),
        stats=stats,
        feeds=feed_specs(
            str(output) if output else None,
            not append,
            resolved.FEEDS,
            default=f"output/{spider.name}.jsonl",
        ),
        jobdir=jobdir,
        on_tick=on_tick,
    )
    crawler.bind(crawl)
    spider.settings = crawler.settings
    return crawl
