"""The parse stage: spider callbacks, run in a pool of worker processes.

Flow position: response queue -> **parse workers** -> new requests (to the frontier) and items
(to the item queue).

Parsing is CPU work, and the GIL lets one process run Python on one core only, so callbacks run
in ``PARSE_WORKERS`` processes (default: one per core). The pool is created once and reused; it
starts with spawn (or forkserver), never plain fork, because fetch threads are already running.
Each worker imports the spider module from its file once, in its initializer. ``start()`` brings
every worker up from the main thread before the crawl begins, so start-up errors surface at once
and each worker's parent-death signal is tied to the main thread, which lives until the end.
Only plain data crosses the boundary: a Response goes in (callback by name), a ParseResult
comes out.

``PARSE_WORKERS = 0`` runs callbacks in the calling thread of the main process (for debugging,
and for spiders whose callbacks are too cheap to be worth the trip).
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import multiprocessing
import os
import signal
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from .errors import CloseSpider, SpiderLoadError
from .models import Request, Response
from .settings import Settings
from .spider import Spider, iterate_callback_output, load_spider_class

log = logging.getLogger("scraper.parse")

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


@dataclass(slots=True)
class ParseResult:
    """What one callback produced, as plain data."""

    url: str
    items: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    error: str | None = None  # formatted traceback when the callback raised
    close_reason: str | None = None  # set when the callback raised CloseSpider
    pid: int = 0
    seconds: float = 0.0  # CPU time of the callback in the worker


def to_item(obj: Any) -> dict[str, Any]:
    """Items may be dicts or dataclasses (Scrapy accepts both); they travel as dicts."""
    if isinstance(obj, dict):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(
        f"callback yielded {type(obj).__name__}; expected a dict, a dataclass or a Request"
    )


def run_callback(spider: Spider, response: Response) -> ParseResult:
    """Call the response's callback on ``spider`` and collect its output. Never raises."""
    started = time.process_time()
    result = ParseResult(url=response.url, pid=os.getpid())
    name = response.request.callback or "parse"
    try:
        callback = getattr(spider, name, None)
        if not callable(callback):
            raise AttributeError(f"spider {spider.name!r} has no callback {name!r}")
        output = callback(response, **response.request.cb_kwargs)
        for obj in iterate_callback_output(output):
            if isinstance(obj, Request):
                result.requests.append(obj)
            elif obj is not None:
                result.items.append(to_item(obj))
    except CloseSpider as exc:
        result.close_reason = exc.reason
    except Exception:
        result.error = traceback.format_exc()
    result.seconds = time.process_time() - started
    return result


# -- worker process side ---------------------------------------------------------------------
_worker_spider: Spider | None = None


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the thread that started it goes: a crawl killed hard
    leaves no workers behind. (Under forkserver the parent is the fork server, which outlives
    its workers, so this only helps with spawn, the default.)"""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers exit when their pipe closes
        pass


def _init_worker(spider_path: str, spider_args: dict[str, Any], settings: Settings) -> None:
    global _worker_spider
    _die_with_parent()
    # Ctrl-C reaches the whole process group; the engine decides how the workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=settings.LOG_LEVEL.upper(), format="%(asctime)s [%(name)s] %(levelname)s: %(message)s"
    )
    spider = load_spider_class(spider_path)(**spider_args)
    spider.settings = settings
    _worker_spider = spider


def _worker_pid() -> int:
    return os.getpid()


def _run_in_worker(response: Response) -> ParseResult:
    assert _worker_spider is not None, "worker initializer did not run"
    return run_callback(_worker_spider, response)


# -- main process side -----------------------------------------------------------------------
class ParsePool:
    """Runs callbacks: in worker processes, or inline when ``workers == 0``."""

    def __init__(
        self, *, spider: Spider, spider_path: str, spider_args: dict[str, Any], settings: Settings
    ) -> None:
        self.workers = settings.PARSE_WORKERS
        self._spider = spider
        self._executor: ProcessPoolExecutor | None = None
        if self.workers:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context(settings.PARSE_START_METHOD),
                initializer=_init_worker,
                # Pipelines run in the main process only, and may be classes of the spider
                # module, which a worker cannot unpickle before its initializer imports it.
                initargs=(
                    spider_path,
                    spider_args,
                    dataclasses.replace(settings, ITEM_PIPELINES={}),
                ),
            )

    def start(self) -> set[int]:
        """Start every worker now, from the calling thread; returns their pids."""
        if self._executor is None:
            return set()
        # All submitted before any can finish, so the executor spawns one worker per job.
        jobs = [self._executor.submit(_worker_pid) for _ in range(self.workers)]
        try:
            return {job.result() for job in jobs}
        except BrokenProcessPool as exc:
            raise SpiderLoadError(
                f"parse workers failed to start (spider import or __init__ failed in a worker: "
                f"{exc})"
            ) from exc

    @property
    def capacity(self) -> int:
        """How many jobs may be outstanding: enough to keep every worker fed, no more."""
        return max(1, 2 * self.workers)

    def submit(self, response: Response) -> Future[ParseResult]:
        if self._executor is None:
            future: Future[ParseResult] = Future()
            future.set_result(run_callback(self._spider, response))
            return future
        return self._executor.submit(_run_in_worker, response)

    def shutdown(self, wait: bool = True) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=not wait)
