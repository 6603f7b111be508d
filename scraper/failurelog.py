"""The failures file: one line per request that ended without a page to parse.

Flow position: beside the output (``output/news.jsonl`` -> ``output/news.failures.jsonl``). Every
stage that gives up on a request (fetch, robots.txt, redirects, parse workers, hosts given up)
records it here, and the summary counts it here, so the file and the summary always agree.
Passwords in URLs, and any credential a detail quotes, are masked (``redact.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from .errors import OutputError
from .export import JsonLinesExporter
from .models import Request
from .redact import redact_text, redact_url
from .stats import Stats

PARSE_FAILURES = frozenset({"worker_died", "worker_memory", "parse_timeout", "parse_error"})


def failures_path(output: Path) -> Path:
    """``output/news.jsonl`` -> ``output/news.failures.jsonl``."""
    return output.with_name(f"{output.stem}.failures.jsonl")


def attempts(request: Request, kind: str) -> int:
    """How often the step that failed was tried: parse runs, robots.txt checks, or fetches."""
    if kind in PARSE_FAILURES:
        return int(request.meta.get("parse_attempts", 1))
    if kind.startswith("robots_"):  # never fetched: asked robots.txt, waited, asked again
        return int(request.meta.get("robots_waits", 0)) + 1
    return request.attempts


class FailureLog:
    """Thread-safe. A file that cannot be written is fatal (``on_fatal`` with the error)."""

    def __init__(
        self, output: Path, *, append: bool, stats: Stats, on_fatal: Callable[[str], None]
    ) -> None:
        self.path = failures_path(output)
        self._file = JsonLinesExporter(self.path, append=append)
        self._lock = threading.Lock()
        self._stats = stats
        self._on_fatal = on_fatal

    def record(self, request: Request, kind: str, detail: str) -> None:
        self._stats.error(kind)
        referer = request.meta.get("referer")
        line = {
            "url": redact_url(request.url),
            "reason": kind,
            "detail": redact_text(detail[:500]),
            "attempts": attempts(request, kind),
            "referer": redact_url(referer) if isinstance(referer, str) else referer,
        }
        if "redirect_urls" in request.meta:  # where the chain began
            line["redirected_from"] = [redact_url(u) for u in request.meta["redirect_urls"]]
        if "retry_after" in request.meta:  # the server's last Retry-After, as it sent it
            line["retry_after"] = request.meta["retry_after"]
        with self._lock:
            try:
                self._file.write([line])
            except OutputError as exc:
                self._on_fatal(str(exc))

    def close(self) -> None:
        self._file.close()
