"""The parse stage: spider callbacks, run in a pool of worker processes.

Flow position: response queue -> **parse workers** -> new requests (to the frontier) and items
(to the item queue).

Parsing is CPU work, and the GIL lets one process run Python on one core only, so callbacks run
in ``PARSE_WORKERS`` processes (default: one per core). The pool is created once and reused; it
starts with spawn (or forkserver), never plain fork, because fetch threads are already running.
Each worker imports the spider module from its file once, in its initializer. ``start()`` begins
bringing every worker up while the crawl starts fetching (an interpreter per worker takes a
few tenths of a second), and ``wait_started()`` surfaces a start-up error. Linux ties a
worker's parent-death signal to the thread that started it, so every worker, including those of
a pool rebuilt after a crash, is started by one thread the pool owns, which ends only after the
workers are shut down.
Only plain data crosses the boundary: a Response goes in (callback by name), a ParseResult
comes out.

``PARSE_WORKERS = 0`` runs callbacks in the main process (for debugging). With workers, a
callback measured to cost less than the trip to a worker (``PARSE_INLINE_BELOW``) runs in the
main process too: see ``InlinePolicy``. In the main process the engine runs them in the fetch
thread that fetched the page, one at a time (``runs_inline``, ``run_inline``).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import itertools
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from .crawler import SettingsView, spider_raw_settings
from .errors import CloseSpider, SpiderLoadError
from .item import is_item
from .models import Request, Response
from .project import load_project
from .redact import redact_logs
from .settings import Settings
from .spider import Spider, iterate_callback_output, load_spider_class

log = logging.getLogger("scraper.parse")

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
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
) -> ParseResult:
    """Call the response's callback on ``spider`` and collect its output. Never raises, but for
    the ``fatal`` exceptions. ``watch_state`` (in a worker): report the spider attributes the
    callback rebound, which the static check (state.py) missed."""
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
        output = callback(response, **response.request.cb_kwargs)
        for obj in iterate_callback_output(output):
            if isinstance(obj, Request):
                result.requests.append(obj)
            elif obj is not None:
                try:
                    result.items.append(to_item(obj))
                except TypeError:  # a stray value (a string, say) must not cost the items after it
                    result.ignored.append(type(obj).__name__)
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


# -- worker process side ---------------------------------------------------------------------
@dataclass(slots=True)
class _WorkerState:
    spider: Spider
    board: Any  # shared array: per worker slot, [pid, running job id, start time in ms]
    slot: int
    timeout: float


_worker: _WorkerState | None = None
_start_error: str | None = None  # why this worker could not load the spider


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this worker when the thread that started it goes: a crawl killed hard
    leaves no workers behind. (Under forkserver the parent is the fork server, which outlives
    its workers, so this only helps with spawn, the default.)"""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers exit when their pipe closes
        pass
    if os.getppid() != parent:  # the crawl died while this worker was starting
        os._exit(1)


def _on_alarm(signum: int, frame: Any) -> None:
    raise ParseTimeout("callback ran past PARSE_TIMEOUT")


def _init_worker(
    spider_path: str,
    spider_name: str,
    spider_args: dict[str, Any],
    settings: Settings,
    parent: int,
    board: Any,
    counter: Any,
) -> None:
    global _worker, _start_error
    if settings.PARSE_START_METHOD == "spawn":
        _die_with_parent(parent)
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
    with counter.get_lock():
        slot = counter.value
        counter.value += 1
    board[3 * slot] = os.getpid()
    try:
        spider = load_spider_class(spider_path, spider_name)(**spider_args)
    except Exception as exc:
        # Kept for the start-up probe to report in one line; an initializer that raises only
        # breaks the pool, and the reason is lost in the worker's stderr.
        _start_error = (
            str(exc) if isinstance(exc, SpiderLoadError) else f"{type(exc).__name__}: {exc}"
        )
        return
    spider.settings = SettingsView(settings, spider_raw_settings(type(spider), load_project()))
    _worker = _WorkerState(spider, board, slot, settings.PARSE_TIMEOUT)


def _worker_pid() -> int:
    """The start-up probe: this worker's pid, or why it could not load the spider."""
    if _start_error is not None:
        raise SpiderLoadError(_start_error)
    return os.getpid()


def _run_in_worker(job: int, response: Response) -> ParseResult:
    state = _worker
    assert state is not None, "worker initializer did not run"
    base = 3 * state.slot
    # Posted before the callback runs, so the engine can tell which job a dead worker held.
    state.board[base + 1] = job
    state.board[base + 2] = int(time.monotonic() * 1000)
    if state.timeout:
        signal.setitimer(signal.ITIMER_REAL, state.timeout)
    try:
        return run_callback(state.spider, response, fatal=(MemoryError,), watch_state=True)
    except MemoryError:
        # Handled as the worker dying of it: the page is tried again in a fresh worker (a clean
        # heap, and memory maybe freed elsewhere by then), and recorded as failed after
        # PARSE_RETRY_TIMES; the pages of the other workers are not charged. The job is posted
        # negated: the engine tells a worker out of memory from one that crashed.
        state.board[base + 1] = -job
        os._exit(EXIT_OUT_OF_MEMORY)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        state.board[base + 1] = 0


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


@dataclass(slots=True)
class _Generation:
    """One executor and its shared board; replaced when a worker dies."""

    executor: ProcessPoolExecutor
    board: Any
    dead_jobs: set[int] | None = None  # filled when this generation broke
    replaced: bool = False


class ParsePool:
    """Runs callbacks: in worker processes, or inline when ``workers == 0``.

    A worker that dies (segfault, ``os._exit``, out of memory, killed for running past the
    hard timeout) breaks the executor; ``recover()`` builds a new one and says which job the
    dead worker was running, so only that page is charged an attempt.
    """

    def __init__(
        self, *, spider: Spider, spider_path: str, spider_args: dict[str, Any], settings: Settings
    ) -> None:
        self.workers = settings.PARSE_WORKERS
        self._spider = spider
        self.inline = InlinePolicy(settings.PARSE_INLINE_BELOW if self.workers else 0.0)
        self._context = multiprocessing.get_context(settings.PARSE_START_METHOD)
        # Pipelines run in the main process only, and may be classes of the spider module,
        # which a worker cannot unpickle before its initializer imports it.
        self._initargs = (
            spider_path,
            type(spider).name,
            spider_args,
            dataclasses.replace(settings, ITEM_PIPELINES={}),
            os.getpid(),
        )
        self._timeout = settings.PARSE_TIMEOUT
        self._jobs = itertools.count(1)
        self._lock = threading.Lock()
        self._current: _Generation | None = None
        self._starting: Future[tuple[_Generation, set[int]]] | None = None
        self._inline_lock = threading.Lock()
        self.serial = self._inline_lock  # held by whatever runs spider code in this process
        # A worker dies with the thread that started it (PR_SET_PDEATHSIG), so that thread must
        # outlive the workers: had a fetch or results thread started them, they would be killed
        # when it ends at shutdown, maybe holding the executor's queue lock, hanging the rest.
        self._starter = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse-starter")
            if self.workers
            else None
        )
        self.restarts = 0
        self._overdue: set[int] = set()  # jobs whose worker kill_overdue killed
        self._out_of_memory: set[int] = set()  # jobs whose worker died of MemoryError

    def start(self) -> None:
        """Begin starting every worker; ``wait_started`` waits for them."""
        if self._starter is not None:
            self._starting = self._starter.submit(self._start_generation)

    def wait_started(self) -> set[int]:
        """Wait until every worker of ``start()`` runs; their pids. Raises SpiderLoadError if
        they could not start."""
        if self._starting is None:
            return set()
        generation, pids = self._starting.result()
        with self._lock:
            if self._current is None:
                self._current = generation
        return pids

    def _start_generation(self) -> tuple[_Generation, set[int]]:
        """A new executor with its workers running, and their pids (on the starter thread)."""
        board = self._context.Array("q", 3 * self.workers, lock=False)
        counter = self._context.Value("i", 0)
        executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(*self._initargs, board, counter),
        )
        # All submitted before any can finish, so the executor spawns one worker per job.
        jobs = [executor.submit(_worker_pid) for _ in range(self.workers)]
        try:
            pids = {job.result() for job in jobs}
        except SpiderLoadError as exc:
            executor.shutdown(wait=True, cancel_futures=True)
            raise SpiderLoadError(f"parse workers failed to start: {exc}") from None
        except BrokenProcessPool as exc:
            raise SpiderLoadError(
                f"parse workers failed to start (spider import or __init__ failed in a worker: "
                f"{exc})"
            ) from exc
        return _Generation(executor, board), pids

    @property
    def capacity(self) -> int:
        """How many jobs may be outstanding: enough to keep every worker fed, no more."""
        return max(1, 2 * self.workers)

    def runs_inline(self, response: Response) -> bool:
        """Whether the response's callback runs in the main process (``run_inline``)."""
        return self._starter is None or self.inline.inline(response.request.callback or "parse")

    def run_inline(self, response: Response) -> ParseResult:
        """Run the callback in the calling thread. Callbacks in the main process run one at a
        time, whichever thread calls, as in Scrapy (and in a worker): spider code need not be
        thread-safe."""
        with self._inline_lock:
            result = run_callback(self._spider, response)
        if self._starter is not None:  # measured only where it may go back to a worker
            self.inline.observe(response.request.callback or "parse", result.seconds)
        return result

    def submit(self, response: Response) -> tuple[Future[ParseResult], int, object]:
        """Run the response's callback in a worker (or inline, if ``runs_inline`` says so).
        Returns the future, its job id and its generation."""
        if self.runs_inline(response):
            future: Future[ParseResult] = Future()
            future.set_result(self.run_inline(response))
            return future, 0, None
        callback = response.request.callback or "parse"
        with self._lock:
            generation = self._current
        if generation is None:  # the first page for the workers: they may be starting still
            self.wait_started()
            with self._lock:
                generation = self._current
        assert generation is not None, "submit before start"
        job = next(self._jobs)
        try:
            future = generation.executor.submit(_run_in_worker, job, response)
        except BrokenProcessPool as exc:
            future = Future()
            future.set_exception(exc)
            return future, job, generation
        future.add_done_callback(lambda done: self._ran(callback, generation, done))
        return future, job, generation

    def _ran(self, callback: str, generation: _Generation, future: Future[ParseResult]) -> None:
        """A job in a worker ended (called in the executor's own thread)."""
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            result = future.result()
            if result.timed_out:
                self.inline.distrust()
            self.inline.observe(callback, result.seconds)
        elif isinstance(error, BrokenProcessPool):
            self.inline.distrust()
            # The executor fails its futures before it terminates the workers that survived
            # the one that died: the one moment when the dead can be told from the innocent.
            with self._lock:
                if generation.dead_jobs is None:
                    generation.dead_jobs = self._dead_jobs(generation.board)

    def _dead_jobs(self, board: Any) -> set[int]:
        dead = set()
        for i in range(self.workers):
            job = board[3 * i + 1]
            if job and not _alive(board[3 * i]):
                if job < 0:  # posted by a worker dying of MemoryError
                    job = -job
                    self._out_of_memory.add(job)
                dead.add(job)
        return dead

    def recover(self, generation: object) -> set[int]:
        """After ``generation`` broke: make sure a fresh pool runs, and return the jobs that
        were running in workers that died."""
        assert isinstance(generation, _Generation)
        with self._lock:
            if generation.dead_jobs is None:
                generation.dead_jobs = self._dead_jobs(generation.board)
            if not generation.replaced:
                generation.replaced = True
                generation.executor.shutdown(wait=False, cancel_futures=True)
                assert self._starter is not None
                self._current, _ = self._starter.submit(self._start_generation).result()
                self.restarts += 1
                log.warning("a parse worker died; parse pool restarted (%d so far)", self.restarts)
            return generation.dead_jobs

    def pids(self) -> list[int]:
        """The current workers' pids."""
        if self._current is None:
            return []
        return [pid for pid in self._current.board[0::3] if pid]

    def kill_overdue(self, limit: float) -> int:
        """Kill workers whose callback has run longer than ``limit`` seconds (stuck in C code,
        where the in-worker alarm cannot interrupt it). Returns how many were killed."""
        if self._current is None or not limit:
            return 0
        board, now_ms, killed = self._current.board, time.monotonic() * 1000, 0
        for i in range(self.workers):
            pid, job, started = board[3 * i], board[3 * i + 1], board[3 * i + 2]
            # A killed worker keeps its slot until the executor notices: kill it once only.
            if job and pid and job not in self._overdue and now_ms - started > limit * 1000:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                    self._overdue.add(job)
                except ProcessLookupError:
                    pass
        return killed

    def died_of_memory(self, job: int) -> bool:
        """Whether ``job``'s worker died of MemoryError (over PARSE_MEMORY_LIMIT, or the
        machine's memory)."""
        return job in self._out_of_memory

    def killed_overdue(self, job: int) -> bool:
        """Whether ``job``'s worker died because ``kill_overdue`` killed it (a timeout, not a
        crash)."""
        return job in self._overdue

    def shutdown(self, wait: bool = True) -> None:
        if self._starting is not None:
            # Workers still starting are shut down once they run, not left to the death signal.
            with contextlib.suppress(Exception):
                self.wait_started()
        with self._lock:
            if self._current is not None:
                self._current.executor.shutdown(wait=wait, cancel_futures=not wait)
            if self._starter is not None:
                self._starter.shutdown(wait=False)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a dead child not yet reaped is a zombie, which kill(0) still reaches
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
