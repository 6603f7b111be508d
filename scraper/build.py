"""Building a crawl's parts from its settings, without the command line.

Flow position: before the flow starts; ``cli.py`` and tests call these, the engine runs what
they build.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SettingsError
from .politeness import Politeness
from .store import Clock, CrawlStore

if TYPE_CHECKING:
    from .settings import Settings
    from .stats import Stats


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
