"""How a crawl ends: the first reason to stop wins, and a fatal error stops it at once.

Flow position: beside every stage. Any stage may ask the crawl to stop (CLOSESPIDER_*, Ctrl-C,
hosts given up) or report what makes going on pointless (the output or the job folder cannot be
written); the engine's main thread watches ``stopped`` and drains, or, once the store is
broken, stops without waiting (nothing more could be acknowledged).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .errors import StoreError

log = logging.getLogger("scraper.engine")


class Lifecycle:
    """Thread-safe: set from any stage, read by the engine's main thread."""

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self._on_stop = on_stop  # stops leasing (the fetch threads)
        self._lock = threading.Lock()
        self.reason: str | None = None  # "shutdown", "closespider_itemcount", ...
        self.fatal: str | None = None  # the first error that ended the crawl early
        self.stopped = threading.Event()
        self.store_broken = threading.Event()

    def stop(self, reason: str) -> None:
        """Graceful stop: no new fetches; what is in flight runs to the end of the flow."""
        with self._lock:
            first = self.reason is None
            if first:
                self.reason = reason
        if first:
            log.info("stopping (%s): finishing in-flight work", reason)
        self.stopped.set()
        self._on_stop()

    def fail(self, message: str, reason: str = "output_error") -> None:
        """An error that ends the crawl early (the output cannot be written): kept, and the
        crawl stops."""
        with self._lock:
            self.fatal = self.fatal or message
        self.stop(reason)

    def guard(self, target: Callable[[], None], name: str) -> Callable[[], None]:
        """``target`` as a stage thread runs it: a bug that escapes it ends the crawl with an
        error (exit status 1 from the CLI) instead of leaving the other stages waiting forever
        on a thread that is gone. In-flight work gets SHUTDOWN_TIMEOUT, as at any stop."""

        def run() -> None:
            try:
                target()
            except Exception as exc:
                log.exception("the %s thread failed", name)
                self.fail(f"internal error in the {name} thread: {type(exc).__name__}: {exc}",
                          "internal_error")  # fmt: skip

        return run

    def store_failed(self, error: StoreError) -> None:
        """The job folder cannot be written: stop at once. Nothing more can be acknowledged,
        so waiting for in-flight work would only wait; a resume redoes it."""
        self.store_broken.set()
        self.fail(str(error), "store_error")
