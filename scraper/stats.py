"""Crawl statistics and the work counts that decide when a crawl is finished.

Every stage reports here: fetch threads (requests, statuses, retries, busy time), robots.txt
requests, the parse dispatch (worker busy time, worker pids), the engine (failures by kind, as
written to the failures file; requests filtered before the frontier), the exporter (items).
``WorkCounts`` is the one place that knows how much work is still open; the engine ends the
crawl when it reaches zero, and tests assert on it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .memory import TreeMemory

if TYPE_CHECKING:
    from .outages import OutageReport

# Requests dropped on purpose, not failures: refused by the engine before the frontier, or
# by a downloader middleware's IgnoreRequest (ignored_request).
FILTERED = ("offsite_filtered", "scheme_filtered", "url_too_long", "ignored_request")


class QueueStatsLike(Protocol):
    max_items: int
    max_bytes: int
    high_water_items: int
    high_water_bytes: int
    put_wait_seconds: float


@dataclass(slots=True)
class WorkCounts:
    """Pages between the fetch threads and the store's acknowledgement, by stage, under one
    lock: ``parsing`` (queued for or in the parse stage) and ``exporting`` (waiting for
    pipelines and the exporter). A stage opens the next unit of work before it closes its own.

    Whether the crawl is done is the store's to say (``CrawlStore.finished``); these counts
    say whether this process still holds a page, for a graceful stop and the progress line,
    and wake the engine's main thread each time this process may have become idle.
    """

    parsing: int = 0
    exporting: int = 0
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def change(self, parsing: int = 0, exporting: int = 0) -> None:
        """Move pages between stages; with no arguments, only say that a request was settled
        (it may have been the last)."""
        with self._lock:
            self.parsing += parsing
            self.exporting += exporting
            if self.parsing == 0 and self.exporting == 0:
                self._lock.notify_all()

    def idle(self) -> bool:
        with self._lock:
            return self.parsing == 0 and self.exporting == 0

    def wait(self, timeout: float) -> None:
        with self._lock:
            self._lock.wait(timeout)


class Stats:
    """Thread-safe counters for the summary. Cheap: one lock, plain dict updates."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.cpu_started = time.process_time()  # CPU of this (the main) process, all threads
        self.finished: float | None = None
        self.counters: Counter[str] = Counter()
        # Failed requests by kind, one per failures-file line, so the two always agree.
        self.errors: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        # Requests sent per host, robots.txt included: what the servers see.
        self.hosts: Counter[str] = Counter()
        self.fetch_busy = 0.0  # thread-seconds spent waiting on the network
        # Thread-seconds idle while requests were queued but no host could take one yet.
        self.polite_wait = 0.0
        self.parse_busy = 0.0  # worker-seconds spent in callbacks (wall clock)
        self.worker_pids: set[int] = set()
        self.inline_busy = 0.0  # main-process seconds spent in callbacks
        # The largest memory of the crawl's process tree sampled (memory.py): PSS if readable.
        self.memory_peak: TreeMemory | None = None
        # Repeated events by what they were, e.g. callback_errors by exception and line: the
        # log shows each one once, the summary counts them.
        self.repeats: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._pid = os.getpid()

    def observe_memory(self, sample: TreeMemory) -> None:
        with self._lock:
            if self.memory_peak is None or sample.bytes > self.memory_peak.bytes:
                self.memory_peak = sample

    def inc(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] += n

    def count(self, event: str, what: str) -> int:
        """Count one more ``event`` of this ``what``; returns how many there have been."""
        with self._lock:
            self.repeats[event][what] += 1
            return self.repeats[event][what]

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def fetched(self, host: str, status: int, seconds: float) -> None:
        with self._lock:
            self.hosts[host] += 1
            self.statuses[status] += 1
            self.fetch_busy += seconds
            self.counters["responses"] += 1

    def fetch_failed(self, host: str, seconds: float) -> None:
        with self._lock:
            self.hosts[host] += 1
            self.fetch_busy += seconds

    def held_by_politeness(self, seconds: float) -> None:
        with self._lock:
            self.polite_wait += seconds

    def robots_requested(self, host: str) -> None:
        with self._lock:
            self.hosts[host] += 1
            self.counters["robots_requests"] += 1

    def parsed(self, pid: int, seconds: float) -> None:
        with self._lock:
            if pid == self._pid:  # a cheap callback run inline (or PARSE_WORKERS=0)
                self.inline_busy += seconds
                self.counters["parsed_inline"] += 1
            else:
                self.worker_pids.add(pid)
                self.parse_busy += seconds
            self.counters["pages"] += 1

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started


def _percent(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.0f}%" if whole > 0 else "-"


@dataclass(frozen=True, slots=True)
class Load:
    """Where a crawl's time went, as shares of what each stage could have done.

    Every share is 0..1 of the stage's capacity over the whole crawl: ``fetch`` of the fetch
    threads' time spent on the network, ``polite`` of their time spent waiting while requests
    were queued but no host might take one yet, ``blocked`` of their time spent waiting for room
    in the full response queue, ``parse`` of the parse workers' time (or the main process's,
    with PARSE_WORKERS=0) spent in callbacks, ``main`` of one core used by the main process.
    ``host_slots`` is how many requests the hosts crawled could have had out at once (hosts ×
    CONCURRENT_REQUESTS_PER_DOMAIN; 0 when not known), ``threads`` the fetch threads.
    """

    fetch: float
    polite: float
    blocked: float
    parse: float
    main: float
    host_slots: int = 0
    threads: int = 0

    @classmethod
    def measure(
        cls,
        stats: Stats,
        fetch_threads: int,
        parse_workers: int,
        response_queue: QueueStatsLike | None,
        per_host: int = 0,
    ) -> Load:
        elapsed = stats.elapsed
        host_slots = len(stats.hosts) * per_host
        if elapsed <= 0:
            return cls(0.0, 0.0, 0.0, 0.0, 0.0, host_slots, fetch_threads)
        thread_time = fetch_threads * elapsed
        parse_busy = stats.parse_busy if parse_workers else stats.inline_busy
        return cls(
            fetch=stats.fetch_busy / thread_time,
            polite=stats.polite_wait / thread_time,
            blocked=(response_queue.put_wait_seconds if response_queue else 0.0) / thread_time,
            parse=parse_busy / (max(parse_workers, 1) * elapsed),
            main=(time.process_time() - stats.cpu_started) / elapsed,
            host_slots=host_slots,
            threads=fetch_threads,
        )

    def verdict(self) -> str:
        """The stage that set the crawl's pace, and the knob that would move it.

        The thresholds are coarse on purpose (a stage at 70 % of its capacity over a whole
        crawl, start and end included, is its limit; a quarter of the fetch threads' time
        blocked is far past a passing burst): the verdict names a regime, it is not a benchmark.
        The main process's limit is lower than a core (MAIN_LIMIT): its threads hand the GIL
        to each other, and on the light-page benchmark, where it fetched as fast as a
        single-threaded loop does alone, it used 80 % of a core over the crawl. Fetch threads
        busy or held back add up to the fetch side's limit; then a tenth of their time held
        back (POLITE_SHARE) says the hosts' limits set the pace, not the number of threads.
        """
        if self.blocked > 0.25:
            # The response queue was full: the parse side could not keep up. Busy workers mean
            # the callbacks cost that much; idle ones mean pages reached them too slowly.
            if self.parse > 0.6:
                return CPU_BOUND
            if self.main > MAIN_LIMIT:
                return MAIN_BOUND
            return (
                f"hand-off-bound: the response queue was full while the parse workers spent "
                f"{100 * self.parse:.0f}% of their time in callbacks: passing pages to them is "
                f"the limit (fewer CONCURRENT_REQUESTS leave the main process more of its core; "
                f"PARSE_INLINE_BELOW runs cheap callbacks without the trip)"
            )
        if self.parse > 0.7:
            return CPU_BOUND
        if self.main > MAIN_LIMIT:
            return MAIN_BOUND
        if self.fetch + self.polite > 0.7 or self.polite > 0.5:
            # Threads idle while requests were queued: more of them would idle too. On 20 hosts
            # taking 8 each, 160 threads waited 2-3 % of their time, 200 waited 19 % and 320 43 %,
            # all three crawls equally fast (benchmarks/README.md).
            if self.polite > POLITE_SHARE:
                return POLITENESS_BOUND
            if self.host_slots and self.threads >= self.host_slots:
                return NETWORK_AT_HOST_LIMITS
            return NETWORK_BOUND
        return (
            "latency-bound: the fetch threads were mostly idle with nothing queued: each page's "
            "links are found only once it is fetched and parsed (a site discovered a few pages "
            "at a time)"
        )


MAIN_LIMIT = 0.75  # of a core, over the whole crawl: see Load.verdict
CPU_BOUND = "CPU-bound: parsing is the bottleneck (more cores / PARSE_WORKERS would help)"
MAIN_BOUND = (
    "main-process-bound: fetching, hand-off, pipelines and export fill its core (fewer "
    "CONCURRENT_REQUESTS cost less; heavy pipelines belong in callbacks)"
)
POLITE_SHARE = 0.1  # of the fetch threads' time idle with requests queued: see Load.verdict
NETWORK_BOUND = "network-bound: the fetch threads were saturated (raise CONCURRENT_REQUESTS)"
NETWORK_AT_HOST_LIMITS = (
    "network-bound at the hosts' limits: every fetch thread was busy, and there are no more "
    "threads than the hosts take at once (hosts × CONCURRENT_REQUESTS_PER_DOMAIN), so more "
    "threads alone would wait: the sites' latency and their concurrency limits set the pace"
)
POLITENESS_BOUND = (
    "politeness-bound: requests waited for their host's delay or concurrency limit "
    "(DOWNLOAD_DELAY, CONCURRENT_REQUESTS_PER_DOMAIN, Crawl-delay, Retry-After set the pace)"
)


def render_summary(
    stats: Stats,
    *,
    reason: str,
    output: str,
    fetch_threads: int,
    parse_workers: int,
    queues: dict[str, QueueStatsLike],
    queued_left: int,
    outages: Sequence[OutageReport] = (),
    per_host: int = 0,
) -> str:
    """The end-of-crawl report: what was done, what went wrong, and where the time went."""
    elapsed = stats.elapsed
    pages = stats.counters["pages"]
    lines = [
        f"Crawl {reason} in {elapsed:.1f}s: {pages} pages, {stats.counters['items']} items "
        f"-> {output}",
        f"  pages/s: {pages / elapsed if elapsed else 0:.1f}   responses: "
        f"{stats.counters['responses']}   retries: {stats.counters['retries']}   "
        f"429s seen: {stats.counters['http_429']}",
    ]
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(stats.statuses.items())) or "none"
    lines.append(f"  HTTP statuses: {statuses}")
    errors = ", ".join(f"{k} {v}" for k, v in sorted(stats.errors.items())) or "none"
    lines.append(f"  errors: {errors}")
    filtered = ", ".join(f"{k} {stats.counters[k]}" for k in FILTERED if stats.counters[k])
    lines.append(f"  filtered before fetching: {filtered or 'none'}")
    for event, label in (
        ("callback_errors", "callback errors (each traceback logged once)"),
        ("ignored_values", "values yielded that are neither items nor requests (ignored)"),
        ("retry_after", "Retry-After answers by host (each host logged once)"),
    ):
        repeats = stats.repeats.get(event)
        if repeats:
            shown = "; ".join(f"{what}: {n}" for what, n in repeats.most_common(3))
            more = len(repeats) - 3
            shown += f"; +{more} more kinds" if more > 0 else ""
            lines.append(f"  {label}: {sum(repeats.values())} ({shown})")
    if stats.counters["items_dropped"]:
        lines.append(f"  items dropped by pipelines: {stats.counters['items_dropped']}")
    if stats.counters["pipeline_errors"]:
        lines.append(
            f"  items lost to pipeline errors: {stats.counters['pipeline_errors']} "
            "(tracebacks in the log)"
        )
    if stats.counters["decode_replacements"]:
        lines.append(
            f"  undecodable bytes replaced with U+FFFD: {stats.counters['decode_replacements']}"
        )
    if queued_left:
        lines.append(f"  not crawled: {queued_left} requests still queued")
    cache = {k: stats.counters[f"httpcache_{k}"] for k in ("hits", "misses", "revalidated")}
    if any(cache.values()):
        lines.append(
            f"  HTTP cache: {cache['hits']} hits, {cache['revalidated']} revalidated (304), "
            f"{cache['misses']} misses"
        )
    for outage in outages:
        if outage.given_up:
            state = "given up" + (f", {outage.left} requests not fetched" if outage.left else "")
        else:
            state = "back" if outage.recovered else "still down"
        lines.append(
            f"  host unreachable: {outage.host} for {outage.seconds:.1f}s, {state} ({outage.cause})"
        )
    hosts = ", ".join(f"{h} {n}" for h, n in stats.hosts.most_common(10)) or "none"
    more = len(stats.hosts) - 10
    robots = stats.counters["robots_requests"]
    label = f"requests per host (incl. {robots} robots.txt)" if robots else "requests per host"
    lines.append(f"  {label}: {hosts}" + (f" (+{more} more hosts)" if more > 0 else ""))
    for name, q in queues.items():
        size = f", {q.high_water_bytes} B" if q.max_bytes else ""
        bound = f"{q.max_items}" + (f" / {q.max_bytes} B" if q.max_bytes else "")
        lines.append(
            f"  {name} queue high-water: {q.high_water_items}{size} (bound {bound}); "
            f"producers blocked {q.put_wait_seconds:.1f}s"
        )
    fetch_busy = _percent(stats.fetch_busy, fetch_threads * elapsed)
    held = _percent(stats.polite_wait, fetch_threads * elapsed)
    lines.append(
        f"  fetch threads: {fetch_threads}, busy {fetch_busy} on the network, {held} held "
        "back by per-host limits"
    )
    if parse_workers:
        lines.append(
            f"  parse workers: {parse_workers} processes, busy "
            f"{_percent(stats.parse_busy, parse_workers * elapsed)} in callbacks"
        )
    inline = stats.counters["parsed_inline"]
    if inline:
        lines.append(
            f"  parsed in the main process: {inline} pages, {stats.inline_busy:.1f}s in callbacks"
            + (" (cheaper than the trip to a worker)" if parse_workers else "")
        )
    if stats.memory_peak is not None:
        peak = stats.memory_peak
        workers = f" and {parse_workers} parse workers" if parse_workers else ""
        lines.append(
            f"  memory: {peak.bytes / 2**20:.0f} MB {peak.kind} at peak (main process{workers}, "
            "with every process they started)"
        )
    load = Load.measure(stats, fetch_threads, parse_workers, queues.get("response"), per_host)
    lines.append(
        f"  main process: {100 * load.main:.0f}% of a core (fetching, hand-off, export"
        + (", cheap callbacks)" if inline and parse_workers else ")")
    )
    verdict = load.verdict() if pages else "nothing parsed"
    lines.append(f"  verdict: {verdict}")
    return "\n".join(lines)
