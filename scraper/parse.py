"""The parse workers: spider callbacks, run in a pool of worker processes.

Flow position: response queue -> parse stage (``parse_stage.py``) -> **parse workers** -> the
page's items and new requests, back to the parse stage.

Parsing is CPU work, and the GIL lets one process run Python on one core only, so callbacks run
in ``PARSE_WORKERS`` processes (default: one per core). The pool is created once and reused; it
starts workers from a fork server (or with spawn), never with plain fork, because fetch threads
are already running. The fork server is one process that has imported this module, the
modules the spider is made of and those its callbacks import (``preload.py``) before the
crawl's threads exist: a worker forked from it starts in milliseconds and shares those pages
with the other workers instead of holding a copy of its own. Each worker loads the spider from
its file once, in its initializer (cheap once its imports are preloaded). ``start()`` begins
bringing every worker up while the crawl starts fetching, and ``wait_started()`` surfaces a
start-up error. A worker ends with the crawl process however the crawl ends, even on SIGKILL
(``_exit_with_crawl``).
Only plain data crosses the boundary: Responses go in (callback by name), ParseResults come
out, each pickled on its own so one that cannot cross costs its page only. ``submit`` sends a
batch of pages in one executor job and returns a ``ParseBatch`` (one future for its results):
the executor's per-job cost (a future, its manager thread's wake-ups, a pipe message each way)
is paid per batch. The workers post the page they run on a shared ``WorkerBoard``, which tells
the main process which page a dead or overdue worker held: only that page is charged.

``PARSE_WORKERS = 0`` runs callbacks in the main process (for debugging). With workers, a
callback measured to cost less than the trip to a worker (``PARSE_INLINE_BELOW``) runs in the
main process too: see ``InlinePolicy``. In the main process the engine runs them in the fetch
thread that fetched the page, one at a time (``runs_inline``, ``run_inline``).

Why one module of this length: the worker side (initialiser, alarm, board writes) and the
pool side (start, recovery, overdue kills) read and write the same shared board and lifeline;
kept together so the two halves of the process boundary are read side by side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import itertools
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import threading
import time
import traceback
import weakref
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from .crawler import Crawler, spider_raw_settings
from .errors import CloseSpider, QueueClosed, SpiderLoadError
from .item import is_item
from .models import Request, Response
from .preload import preload_modules
from .project import load_project
from .redact import redact_logs
from .settings import Settings
from .spider import Spider, iterate_callback_output, load_spider_class
from .spidermw import SpiderMiddlewares, worker_settings

log = logging.getLogger("scraper.parse")

EXIT_OUT_OF_MEMORY = 70  # a worker's exit status after a callback raised MemoryError


class ParseTimeout(Exception):
    """The callback ran past PARSE_TIMEOUT (raised inside the worker by SIGALRM)."""


@dataclass(slots=True)
class ParseResult:
    """What one callback produced, as plain data."""

    url: str
    items: list[Any] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    error: str | None = None  # formatted traceback when the callback raised
    close_reason: str | None = None  # set when the callback raised CloseSpider
    timed_out: bool = False  # the callback ran past PARSE_TIMEOUT
    replaced_chars: int = 0  # undecodable bytes turned into U+FFFD in response.text
    ignored: list[str] = field(default_factory=list)  # types yielded that are neither
    pid: int = 0
    seconds: float = 0.0  # CPU time of the callback in the worker
    # Time in the callback on the wall clock: CPU plus waiting for a core the machine shares.
    # A worker starved of CPU is busy, not idle: the summary's shares use this.
    wall: float = 0.0
    state_changed: list[str] = field(default_factory=list)  # spider attributes it rebound
    send_error: str | None = None  # the result could not cross the process boundary


def to_item(obj: Any) -> Any:
    """Items may be of any type itemadapter knows (dicts, Items, dataclasses, attrs, pydantic);
    they travel pickled as they are, and become dicts only in the exporter."""
    if is_item(obj):
        return obj
    raise TypeError(
        f"callback yielded {type(obj).__name__}; expected a dict, a dataclass or a Request "
        "(or another item type: Item, attrs, pydantic)"
    )


def run_callback(
    spider: Spider,
    response: Response,
    fatal: tuple[type[BaseException], ...] = (),
    watch_state: bool = False,
    middlewares: SpiderMiddlewares | None = None,
) -> ParseResult:
    """Call the response's callback on ``spider`` and collect its output, through the spider
    ``middlewares`` if any. Never raises, but for the ``fatal`` exceptions. ``watch_state`` (in
    a worker): report the spider attributes the callback rebound, which the static check
    (state.py) missed."""
    before = dict(vars(spider)) if watch_state else None
    # This thread's CPU time: in the main process other threads run meanwhile.
    started = time.thread_time()
    began = time.monotonic()
    result = ParseResult(url=response.url, pid=os.getpid())
    name = response.request.callback or "parse"
    try:
        callback = getattr(spider, name, None)
        if not callable(callback):
            raise AttributeError(f"spider {spider.name!r} has no callback {name!r}")

        def call() -> Iterator[Any]:
            return iterate_callback_output(callback(response, **response.request.cb_kwargs))

        unhandled = None
        if middlewares is None:
            output: Iterable[Any] = call()
        else:
            output, unhandled = middlewares.run(response, call)
        for obj in output:
            if isinstance(obj, Request):
                result.requests.append(obj)
            elif obj is not None:
                try:
                    result.items.append(to_item(obj))
                except TypeError:  # a stray value (a string, say) must not cost the items after it
                    result.ignored.append(type(obj).__name__)
        if unhandled is not None:  # raised here, for its traceback and CloseSpider alike
            raise unhandled
    except CloseSpider as exc:
        result.close_reason = exc.reason
    except ParseTimeout:
        result.timed_out = True
        result.error = traceback.format_exc()
    except fatal:
        raise
    except Exception:
        result.error = traceback.format_exc()
    if "text" in vars(response):  # only if the callback decoded the body
        result.replaced_chars = response.text.count("\ufffd") - response.body.count(
            "\ufffd".encode()
        )
    if before is not None:
        result.state_changed = [
            name for name, value in vars(spider).items() if before.get(name, before) is not value
        ]
    result.seconds = time.thread_time() - started
    result.wall = time.monotonic() - began
    return result


# -- the shared worker table ----------------------------------------------------------------
class WorkerBoard:
    """What each worker is doing, in memory shared by the main process and the workers of one
    pool generation: per worker slot, its pid, the job it runs (0: none; negated: the worker is
    dying of MemoryError) and when that job started. Workers write their own slot; the main
    process reads the board to tell which job a dead worker held and which job ran too long."""

    _FIELDS = 3  # pid, job, started (monotonic ms, one clock for every process on the machine)

    def __init__(self, context: BaseContext, slots: int) -> None:
        self.slots = slots
        self._cells = context.Array("q", self._FIELDS * slots, lock=False)
        self._taken = context.Value("i", 0)
        self._everyone_up = context.Barrier(slots)

    # in a worker
    def join(self, pid: int) -> int:
        """Take the next free slot for the worker ``pid``; returns it."""
        with self._taken.get_lock():
            slot = self._taken.value
            self._taken.value += 1
        self._cells[self._FIELDS * slot] = pid
        return slot

    def wait_for_everyone(self, timeout: float) -> None:
        """Block until a worker has come here from every slot. The start-up probes wait here:
        a worker that finished its probe early would take the next one, and the executor
        would start one worker fewer than asked (it starts a worker per job only while none
        is idle). Raises threading.BrokenBarrierError after ``timeout`` seconds."""
        self._everyone_up.wait(timeout)

    def start(self, slot: int, job: int) -> None:
        base = self._FIELDS * slot
        # The time first: a job posted beside the previous job's start would look overdue.
        self._cells[base + 2] = int(time.monotonic() * 1000)
        self._cells[base + 1] = job

    def finish(self, slot: int) -> None:
        self._cells[self._FIELDS * slot + 1] = 0

    def dying_of_memory(self, slot: int, job: int) -> None:
        self._cells[self._FIELDS * slot + 1] = -job

    # in the main process
    def pids(self) -> list[int]:
        return [pid for pid in self._cells[0 :: self._FIELDS] if pid]

    def dead_jobs(self) -> tuple[set[int], set[int]]:
        """The jobs whose worker is gone, and those of them that died of MemoryError."""
        dead: set[int] = set()
        out_of_memory: set[int] = set()
        for pid, job, _ in self._rows():
            if job and not _alive(pid):
                dead.add(abs(job))
                if job < 0:
                    out_of_memory.add(-job)
        return dead, out_of_memory

    def overdue(self, limit: float) -> list[tuple[int, int]]:
        """(pid, job) of every worker whose job has run longer than ``limit`` seconds."""
        now_ms = time.monotonic() * 1000
        return [
            (pid, job)
            for pid, job, started in self._rows()
            if job > 0 and pid and now_ms - started > limit * 1000
        ]

    def _rows(self) -> list[tuple[int, int, int]]:
        cells = self._cells[:]
        return [tuple(cells[i : i + self._FIELDS]) for i in range(0, len(cells), self._FIELDS)]


# -- worker process side ---------------------------------------------------------------------
@dataclass(slots=True)
class _WorkerState:
    spider: Spider
    board: WorkerBoard
    slot: int
    timeout: float
    middlewares: SpiderMiddlewares | None


_worker: _WorkerState | None = None
# How long the start-up probes wait for every worker of a generation; reached only when a worker
# hangs while starting (a spider __init__ that never returns) or the machine is far overloaded.
_START_TIMEOUT = 120.0
_board: WorkerBoard | None = None  # set before the spider loads, which may fail
_start_error: str | None = None  # why this worker could not load the spider


def _exit_with_crawl(lifeline: Connection) -> None:
    """End this worker when the crawl process ends, however it ends (SIGKILL too): only the
    crawl holds the write end of the lifeline pipe, and when the last write end of a pipe
    closes the kernel sends SIGIO to its readers that asked for it; SIGIO's default action
    ends the process. The kernel does it, so it works whoever forked the worker (the fork
    server is not the crawl) and while a callback holds the GIL in C code."""
    try:
        # An open file of our own: SIGIO goes to one owner per open file, and the one inherited
        # is shared by every worker.
        fd = os.open(f"/proc/self/fd/{lifeline.fileno()}", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:  # no /proc (not Linux): the worker ends when the executor's pipe closes
        return
    finally:
        lifeline.close()
    fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
    try:
        os.read(fd, 1)  # EOF: the crawl died before the signal was armed
    except BlockingIOError:
        return  # the crawl holds its end
    os._exit(1)


def _on_alarm(signum: int, frame: Any) -> None:
    raise ParseTimeout("callback ran past PARSE_TIMEOUT")


def _init_worker(
    spider_path: str,
    spider_name: str,
    spider_args: dict[str, Any],
    settings: Settings,
    lifeline: Connection,
    board: WorkerBoard,
) -> None:
    global _worker, _board, _start_error
    _exit_with_crawl(lifeline)
    if settings.PARSE_MEMORY_LIMIT:
        # Address space, not resident memory: an allocation over it fails at once with
        # MemoryError (handled in _run_in_worker), before it can take the machine's memory.
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        limit = settings.PARSE_MEMORY_LIMIT
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    # Ctrl-C reaches the whole process group; the engine decides how the workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_alarm)
    logging.basicConfig(
        level=settings.LOG_LEVEL.upper(), format="%(asctime)s [%(name)s] %(levelname)s: %(message)s"
    )
    redact_logs()
    slot = board.join(os.getpid())
    _board = board
    try:
        # As in the main process: built by its crawler (``self.crawler`` in callbacks, with
        # the settings), then the spider middlewares, whose ``from_crawler`` may need it.
        spider_cls = load_spider_class(spider_path, spider_name)
        crawler = Crawler(settings, spider_raw_settings(spider_cls, load_project()))
        spider = spider_cls.from_crawler(crawler, **spider_args)
        spider.settings = crawler.settings
        middlewares = SpiderMiddlewares.from_settings(settings, spider)
    except Exception as exc:
        # Kept for the start-up probe to report in one line; an initializer that raises only
        # breaks the pool, and the reason is lost in the worker's stderr.
        _start_error = (
            str(exc) if isinstance(exc, SpiderLoadError) else f"{type(exc).__name__}: {exc}"
        )
        return
    _worker = _WorkerState(spider, board, slot, settings.PARSE_TIMEOUT, middlewares)


def _worker_pid() -> int:
    """The start-up probe: this worker's pid once every worker is up, or why it could not load
    the spider."""
    assert _board is not None
    try:
        _board.wait_for_everyone(_START_TIMEOUT)
    except threading.BrokenBarrierError:
        raise SpiderLoadError(
            f"not every parse worker started within {_START_TIMEOUT:.0f}s"
        ) from None
    if _start_error is not None:
        raise SpiderLoadError(_start_error)
    return os.getpid()


def _run_batch(batch: list[tuple[int, Response]]) -> list[bytes]:
    """Run a batch's callbacks one after the other; each result pickled on its own, so a
    result that cannot cross the boundary (an item that does not pickle, or one the main
    process cannot unpickle) costs its own page only, not the batch's."""
    out = []
    for job, response in batch:
        result = _run_in_worker(job, response)
        for request in result.requests:
            # The main process de-duplicates on it: made here, on the workers' cores, it
            # crosses with the request. One that fails is left for the main process to report.
            with contextlib.suppress(Exception):
                request.fingerprint()
        try:
            out.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as exc:
            unsendable = ParseResult(url=result.url, pid=result.pid, seconds=result.seconds)
            unsendable.send_error = f"{type(exc).__name__}: {exc}"
            out.append(pickle.dumps(unsendable, protocol=pickle.HIGHEST_PROTOCOL))
    return out


def _run_in_worker(job: int, response: Response) -> ParseResult:
    state = _worker
    assert state is not None, "worker initializer did not run"
    # Posted before the callback runs, so the engine can tell which page of a batch a dead
    # worker held: only that page is charged, the rest of its batch runs again.
    state.board.start(state.slot, job)
    if state.timeout:
        signal.setitimer(signal.ITIMER_REAL, state.timeout)
    try:
        return run_callback(
            state.spider,
            response,
            fatal=(MemoryError,),
            watch_state=True,
            middlewares=state.middlewares,
        )
    except MemoryError:
        # Handled as the worker dying of it: the page is tried again in a fresh worker (a clean
        # heap, and memory maybe freed elsewhere by then), and recorded as failed after
        # PARSE_RETRY_TIMES; the pages of the other workers are not charged. Posted on the
        # board: the engine tells a worker out of memory from one that crashed.
        state.board.dying_of_memory(state.slot, job)
        os._exit(EXIT_OUT_OF_MEMORY)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        state.board.finish(state.slot)


# -- main process side -----------------------------------------------------------------------
class InlinePolicy:
    """Which callbacks are cheap enough to run in the main process, by measurement.

    Sending a response to a worker and its result back costs the main process pickling and a
    hand-off between threads, about as much CPU as a light callback itself, so a callback
    cheaper than that is better run where the response already is. Every callback starts in the
    workers; once WARMUP runs of it average less than ``below`` seconds of CPU it runs inline,
    and it goes back to the workers as soon as its running mean (inline runs count too) rises
    above ``below``. Only a worker can be interrupted or killed, so a spider whose callback ever
    crashed or stalled a worker keeps every callback in the workers from then on.
    """

    WARMUP = 20
    WEIGHT = 0.1  # of the newest run in the running mean

    def __init__(self, below: float) -> None:
        self.below = below
        self._means: dict[str, tuple[int, float]] = {}  # callback -> (runs, mean CPU seconds)
        self._trusted = below > 0
        self._lock = threading.Lock()

    def inline(self, callback: str) -> bool:
        runs, mean = self._means.get(callback, (0, 0.0))
        return self._trusted and runs >= self.WARMUP and mean < self.below

    def observe(self, callback: str, seconds: float) -> None:
        with self._lock:
            runs, mean = self._means.get(callback, (0, 0.0))
            weight = max(self.WEIGHT, 1 / (runs + 1))  # a plain mean over the warm-up
            self._means[callback] = (runs + 1, mean + weight * (seconds - mean))

    def distrust(self) -> None:
        self._trusted = False


@dataclass(slots=True, eq=False)
class PoolGeneration:
    """One executor and its worker board; replaced when a worker dies."""

    executor: ProcessPoolExecutor
    board: WorkerBoard
    dead_jobs: set[int] | None = None  # filled when this generation broke
    replaced: bool = False


# Most pages in one trip to a worker. A batch is what is waiting when a worker slot frees up,
# never held back to fill: a batch of 8 costs the main process about a seventh of 8 single
# trips; more would only let one worker take pages another could start on.
BATCH_PAGES = 8
# Most body bytes in one trip (a single larger page travels alone). The batch saves a fixed
# cost per trip, which a large page's callback dwarfs, while a worker holds its whole batch:
# on 90 KB pages, batches of two instead of eight kept the same speed with less memory.
BATCH_BYTES = 256 * 1024
# While the workers keep up, the feeder waits this long for more pages before it sends what it
# has: a page sent alone cost 190 us of main-process CPU, one of 8 together 55 us
# (``benchmarks.handoff``), and on light pages the main process is what limits the crawl. A
# page waits at most this, a hundredth of a fast network round trip.
BATCH_LINGER = 0.002


@dataclass(slots=True, eq=False)
class ParseJob:
    """One page handed to the workers; ``id`` is what the worker posts on the board while it
    runs the page's callback."""

    response: Response
    id: int


@dataclass(slots=True, eq=False, weakref_slot=True)
class ParseBatch:
    """Pages sent to the workers in one trip, and their results, in the same order, in one
    future: the executor's per-job machinery (a future, a wake-up of its manager thread, a
    pipe message each way) is paid once per batch instead of once per page.

    The batch holds its future; a done callback of that future must not hold the batch (a
    weak reference, or through something the callback releases), or the two make a cycle
    that keeps the pages' bodies in memory after they are handed on, until a full garbage
    collection: 150 pages of 90 KB at once on the heavy benchmark."""

    jobs: list[ParseJob]
    future: Future[list[bytes]]
    generation: PoolGeneration
    _results: list[ParseResult] | None = None

    def results(self) -> list[ParseResult]:
        """The pages' results (the future must have ended without an error). A result the
        main process cannot unpickle comes back with ``send_error`` set."""
        if self._results is None:
            self._results = [
                _load_result(job, data)
                for job, data in zip(self.jobs, self.future.result(), strict=True)
            ]
        return self._results


def _load_result(job: ParseJob, data: bytes) -> ParseResult:
    try:
        result = pickle.loads(data)
    except Exception as exc:
        return ParseResult(url=job.response.url, send_error=f"{type(exc).__name__}: {exc}")
    assert isinstance(result, ParseResult)
    return result


class ParsePool:
    """Runs callbacks: in worker processes, or inline when ``workers == 0``.

    A worker that dies (segfault, ``os._exit``, out of memory, killed for running past the
    hard timeout) breaks the executor; ``recover()`` builds a new one and says whether a job
    was the one the dead worker was running, so only that page is charged an attempt.
    """

    def __init__(
        self,
        *,
        spider: Spider,
        spider_path: str,
        spider_args: dict[str, Any],
        settings: Settings,
        middlewares: SpiderMiddlewares | None = None,
    ) -> None:
        self.workers = settings.PARSE_WORKERS
        self._spider = spider
        self._middlewares = middlewares  # the main process's chain, for inline callbacks
        self.inline = InlinePolicy(settings.PARSE_INLINE_BELOW if self.workers else 0.0)
        self._context = multiprocessing.get_context(settings.PARSE_START_METHOD)
        if settings.PARSE_START_METHOD == "forkserver":
            # For the whole process, and read when the fork server starts: the first pool's
            # spider is the one preloaded (a crawl from the command line has one).
            self._context.set_forkserver_preload(preload_modules(spider))
        # Only this process holds the write end: closed when it ends, the workers end.
        self._lifeline_reader, self._lifeline = self._context.Pipe(duplex=False)
        # Pipelines and downloader middlewares run in the main process only, and may be
        # classes of the spider module, which a worker cannot unpickle before its initializer
        # imports it: its spider middlewares go by dotted path.
        self._worker_args = (
            spider_path,
            type(spider).name,
            spider_args,
            dataclasses.replace(
                settings,
                ITEM_PIPELINES={},
                DOWNLOADER_MIDDLEWARES={},
                SPIDER_MIDDLEWARES=worker_settings(settings),
            ),
            self._lifeline_reader,
        )
        self._timeout = settings.PARSE_TIMEOUT
        self._job_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False  # shut down: no more jobs, and no new generation after a crash
        self._current: PoolGeneration | None = None
        self._first_start: Future[tuple[PoolGeneration, set[int]]] | None = None
        self._inline_lock = threading.Lock()
        self.serial = self._inline_lock  # held by whatever runs spider code in this process
        # Starts the first workers while the crawl begins fetching.
        self._starter = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse-starter")
            if self.workers
            else None
        )
        self.restarts = 0
        self._killed_overdue: set[int] = set()  # jobs whose worker kill_overdue killed
        self._out_of_memory: set[int] = set()  # jobs whose worker died of MemoryError

    def start(self) -> None:
        """Begin starting every worker; ``wait_started`` waits for them."""
        if self._starter is not None:
            self._first_start = self._starter.submit(self._start_generation)

    def wait_started(self) -> set[int]:
        """Wait until every worker of ``start()`` runs; their pids. Raises SpiderLoadError if
        they could not start."""
        if self._first_start is None:
            return set()
        generation, pids = self._first_start.result()
        with self._lock:
            if self._current is None:
                self._current = generation
        return pids

    def _start_generation(self) -> tuple[PoolGeneration, set[int]]:
        """A new executor with its workers running, and their pids."""
        board = WorkerBoard(self._context, self.workers)
        executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(*self._worker_args, board),
        )
        # All submitted before any can finish, so the executor starts one worker per job.
        probes = [executor.submit(_worker_pid) for _ in range(self.workers)]
        try:
            pids = {probe.result() for probe in probes}
        except SpiderLoadError as exc:
            executor.shutdown(wait=True, cancel_futures=True)
            raise SpiderLoadError(f"parse workers failed to start: {exc}") from None
        except BrokenProcessPool as exc:
            raise SpiderLoadError(
                f"parse workers failed to start (spider import or __init__ failed in a worker: "
                f"{exc})"
            ) from exc
        return PoolGeneration(executor, board), pids

    @property
    def capacity(self) -> int:
        """How many batches may be outstanding: one running and one waiting per worker, enough
        to keep every worker fed, no more."""
        return max(1, 2 * self.workers)

    def runs_inline(self, response: Response) -> bool:
        """Whether the response's callback runs in the main process (``run_inline``)."""
        return self._starter is None or self.inline.inline(response.request.callback or "parse")

    def run_inline(self, response: Response) -> ParseResult:
        """Run the callback in the calling thread. Callbacks in the main process run one at a
        time, whichever thread calls, as in Scrapy (and in a worker): spider code need not be
        thread-safe."""
        with self._inline_lock:
            result = run_callback(self._spider, response, middlewares=self._middlewares)
        if self._starter is not None:  # measured only where it may go back to a worker
            self.inline.observe(response.request.callback or "parse", result.seconds)
        return result

    def submit(self, responses: list[Response]) -> ParseBatch:
        """Send the responses to one worker, to run their callbacks one after the other.
        Raises QueueClosed once the pool is shut down."""
        assert self._starter is not None, "no workers: callbacks run inline"
        with self._lock:
            generation = self._current
        if generation is None:  # the first pages for the workers: they may be starting still
            self.wait_started()
            with self._lock:
                generation = self._current
        assert generation is not None, "submit before start"
        jobs = [ParseJob(response, next(self._job_ids)) for response in responses]
        try:
            future = generation.executor.submit(
                _run_batch, [(job.id, job.response) for job in jobs]
            )
        except BrokenProcessPool as exc:
            future = Future()
            future.set_exception(exc)
            return ParseBatch(jobs, future, generation)
        except RuntimeError:  # shut down: a broken generation raises BrokenProcessPool instead
            raise QueueClosed("the parse pool is shut down") from None
        batch = ParseBatch(jobs, future, generation)
        # Registered before the caller's callback, so it runs first (in the executor's thread).
        future.add_done_callback(functools.partial(self._batch_ended, weakref.ref(batch)))
        return batch

    def _batch_ended(self, batch_ref: weakref.ref[ParseBatch], future: Future[list[bytes]]) -> None:
        """A batch in a worker ended (called in the executor's own thread)."""
        batch = batch_ref()
        if batch is None or future.cancelled():  # gone: its caller no longer waits for it
            return
        error = future.exception()
        if error is None:
            if not self.inline.below:  # nothing to measure for: leave the unpickling to the stage
                return
            for job, result in zip(batch.jobs, batch.results(), strict=True):
                if result.timed_out:
                    self.inline.distrust()
                self.inline.observe(job.response.request.callback or "parse", result.seconds)
        elif isinstance(error, BrokenProcessPool):
            self.inline.distrust()
            # The executor fails its futures before it terminates the workers that survived
            # the one that died: the one moment when the dead can be told from the innocent.
            with self._lock:
                self._read_dead_jobs(batch.generation)

    def _read_dead_jobs(self, generation: PoolGeneration) -> None:
        if generation.dead_jobs is None:
            generation.dead_jobs, out_of_memory = generation.board.dead_jobs()
            self._out_of_memory |= out_of_memory

    def recover(self, batch: ParseBatch) -> set[int]:
        """After ``batch``'s generation broke: make sure a fresh pool runs. Returns the ids of
        the batch's pages that were running in a worker that died; the others (not started,
        done with, or on another worker) are innocent bystanders. Raises QueueClosed once the
        pool is shut down."""
        generation = batch.generation
        with self._lock:
            if self._closed:  # a hard stop ended the workers, not a crash
                raise QueueClosed("the parse pool is shut down")
            self._read_dead_jobs(generation)
            if not generation.replaced:
                generation.replaced = True
                generation.executor.shutdown(wait=False, cancel_futures=True)
                self._current, _ = self._start_generation()
                self.restarts += 1
                log.warning("a parse worker died; parse pool restarted (%d so far)", self.restarts)
            assert generation.dead_jobs is not None
            return {job.id for job in batch.jobs} & generation.dead_jobs

    def pids(self) -> list[int]:
        """The current workers' pids."""
        return [] if self._current is None else self._current.board.pids()

    def kill_overdue(self, limit: float) -> int:
        """Kill workers whose callback has run longer than ``limit`` seconds (stuck in C code,
        where the in-worker alarm cannot interrupt it). Returns how many were killed."""
        if self._current is None or not limit:
            return 0
        killed = 0
        for pid, job_id in self._current.board.overdue(limit):
            # A killed worker keeps its slot until the executor notices: kill it once only.
            if job_id in self._killed_overdue:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed += 1
            self._killed_overdue.add(job_id)
        return killed

    def died_of_memory(self, job: ParseJob) -> bool:
        """Whether ``job``'s worker died of MemoryError (over PARSE_MEMORY_LIMIT, or the
        machine's memory)."""
        return job.id in self._out_of_memory

    def killed_overdue(self, job: ParseJob) -> bool:
        """Whether ``job``'s worker died because ``kill_overdue`` killed it (a timeout, not a
        crash)."""
        return job.id in self._killed_overdue

    def shutdown(self, wait: bool = True) -> None:
        if self._first_start is not None:
            # Workers still starting are shut down once they run.
            with contextlib.suppress(Exception):
                self.wait_started()
        with self._lock:
            self._closed = True
            if self._current is not None:
                self._current.executor.shutdown(wait=wait, cancel_futures=not wait)
            if self._starter is not None:
                self._starter.shutdown(wait=False)
        # Workers still running (a hard stop) end now, as they would with this process.
        self._lifeline.close()


_PF_EXITING = 0x4  # Linux's task flag: the process is in exit()


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # reaped since kill(0)
        return not os.path.isdir("/proc/self")  # without /proc, kill(0) is all there is
    except OSError:
        return True
    # A dead child not yet reaped is a zombie, which kill(0) still reaches. One still exiting
    # (PF_EXITING) has already closed its pipes, which is how the executor of a spawned worker
    # hears of its death: the worker board is read in that moment.
    return fields[0] not in ("Z", "X") and not int(fields[6]) & _PF_EXITING
