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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .outages import OutageReport

# Requests the engine refuses before the frontier: never fetched, and not failures either.
FILTERED = ("offsite_filtered", "scheme_filtered", "url_too_long")


class QueueStatsLike(Protocol):
    max_items: int
    max_bytes: int
    high_water_items: int
    high_water_bytes: int
    put_wait_seconds: float


@dataclass(slots=True)
class WorkCounts:
    """Open work, updated under one lock so the engine never sees a false zero.

    A request is *open* from the moment the frontier accepts it until it is acknowledged: its
    fetch failed for good, or its callback's new requests are in the frontier and its items are
    written. A stage always opens the next unit of work before it closes its own, so
    ``open_requests == 0`` means the crawl is done. ``parsing`` and ``exporting`` say where the
    open requests are, for a graceful stop and for the progress line.
    """

    open_requests: int = 0
    parsing: int = 0  # responses queued for, or being handled by, the parse stage
    exporting: int = 0  # parsed pages whose items wait for pipelines and the exporter
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def change(self, requests: int = 0, parsing: int = 0, exporting: int = 0) -> None:
        with self._lock:
            self.open_requests += requests
            self.parsing += parsing
            self.exporting += exporting
            if self.open_requests == 0:
                self._lock.notify_all()

    def finished(self) -> bool:
        with self._lock:
            return self.open_requests == 0

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
        # Failed requests by kind, one per failures-file line; and pipeline_error (items).
        self.errors: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        # Requests sent per host, robots.txt included: what the servers see.
        self.hosts: Counter[str] = Counter()
        self.fetch_busy = 0.0  # thread-seconds spent waiting on the network
        self.parse_busy = 0.0  # worker-seconds spent in callbacks
        self.worker_pids: set[int] = set()
        self.inline_busy = 0.0  # main-process seconds spent in callbacks
        self._pid = os.getpid()

    def inc(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] += n

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
    if stats.counters["items_dropped"]:
        lines.append(f"  items dropped by pipelines: {stats.counters['items_dropped']}")
    if stats.counters["decode_replacements"]:
        lines.append(
            f"  undecodable bytes replaced with U+FFFD: {stats.counters['decode_replacements']}"
        )
    if queued_left:
        lines.append(f"  not crawled: {queued_left} requests still queued")
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
    fetch_share = stats.fetch_busy / (fetch_threads * elapsed) if elapsed else 0.0
    fetch_busy = _percent(stats.fetch_busy, fetch_threads * elapsed)
    lines.append(f"  fetch threads: {fetch_threads}, busy {fetch_busy} on the network")
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
    main_share = (time.process_time() - stats.cpu_started) / elapsed if elapsed else 0.0
    lines.append(
        f"  main process: {100 * main_share:.0f}% of a core (fetching, hand-off, export"
        + (", cheap callbacks)" if inline and parse_workers else ")")
    )
    response_q = queues.get("response")
    # Time the average fetch thread spent blocked on a full response queue.
    blocked = response_q.put_wait_seconds / fetch_threads if response_q else 0.0
    parse_busy = stats.parse_busy if parse_workers else stats.inline_busy
    parse_share = parse_busy / (max(parse_workers, 1) * elapsed) if elapsed else 0.0
    if parse_share > 0.7 or blocked > 0.25 * elapsed:
        verdict = "CPU-bound: parsing is the bottleneck (more cores / PARSE_WORKERS would help)"
    elif main_share > 0.85:
        verdict = (
            "bound by the main process: fetching and hand-off fill a core (fewer fetch "
            "threads cost less; cheap callbacks already run there)"
            if inline and parse_workers
            else "bound by the main process: fetching and hand-off fill a core (fewer fetch "
            "threads cost less)"
        )
    elif fetch_share > 0.7:
        verdict = "IO-bound: the fetch threads are saturated (raise CONCURRENT_REQUESTS)"
    else:
        verdict = (
            "IO-bound, limited by politeness: per-host delay and concurrency set the pace"
            if pages
            else "nothing parsed"
        )
    lines.append(f"  verdict: {verdict}")
    return "\n".join(lines)
