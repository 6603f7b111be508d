"""``STATS_DUMP_FILE``: the end-of-crawl summary as JSON, for scripts that monitor or compare
crawls.

Flow position: after the crawl, beside the printed summary (``cli.py`` writes both from the same
figures). The file is written to a temporary name and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .export import replacing
from .stats import QueueStatsLike, Stats


def stats_record(stats: Stats, summary: str, figures: Mapping[str, Any]) -> dict[str, Any]:
    """Every figure the summary shows, by name: ``figures`` are ``render_summary``'s keyword
    arguments (reason, output, fetch_threads, per_host, parse_workers, queues, queued_left,
    outages) and ``summary`` the text it printed."""
    elapsed = stats.elapsed
    lines = summary.splitlines()
    verdict = next((line.split("verdict: ", 1)[1] for line in lines if "verdict: " in line), "")
    return {
        "reason": figures["reason"],
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_seconds": round(elapsed, 3),
        "output": figures["output"],
        "pages": stats.counters["pages"],
        "items": stats.counters["items"],
        "pages_per_second": round(stats.counters["pages"] / elapsed, 3) if elapsed else 0.0,
        "counters": dict(sorted(stats.counters.items())),
        "http_statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "errors": dict(sorted(stats.errors.items())),
        "requests_per_host": dict(stats.hosts.most_common()),
        "queued_left": figures["queued_left"],
        "queues": {
            name: {field: getattr(q, field) for field in _QUEUE_FIELDS}
            for name, q in figures["queues"].items()
        },
        "fetch_threads": figures["fetch_threads"],
        "fetch_busy_seconds": round(stats.fetch_busy, 3),
        # Fetch-thread time spent idle while requests were queued for hosts at their limit.
        "polite_wait_seconds": round(stats.polite_wait, 3),
        "parse_workers": figures["parse_workers"],
        "parse_busy_seconds": round(stats.parse_busy, 3),
        "inline_busy_seconds": round(stats.inline_busy, 3),
        "main_process_cpu_seconds": round(time.process_time() - stats.cpu_started, 3),
        # Of the main process and its parse workers, at the largest sample (memory.py).
        "memory_peak_bytes": stats.memory_peak.bytes if stats.memory_peak else None,
        "memory_kind": stats.memory_peak.kind if stats.memory_peak else None,
        "host_outages": [dataclasses.asdict(o) for o in figures.get("outages", ())],
        "verdict": verdict,
        "summary": lines,
    }


_QUEUE_FIELDS = tuple(QueueStatsLike.__annotations__)


def write_stats(path: Path, record: dict[str, Any]) -> None:
    with replacing(path, "stats file") as temp:
        temp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
