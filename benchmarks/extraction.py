"""Article extraction benchmark: quality on two data sets, then the news spider end to end.

    python -m benchmarks.extraction                     # everything (a few minutes)
    python -m benchmarks.extraction --subset 50 --no-crawl   # a quick look while developing
    python -m benchmarks.extraction --no-crawl --worst 20    # and the pages it gets most wrong
    python -m benchmarks.extraction DATA_DIR --repeat 6 --workers 1,2 --rounds 2

Quality (``extraction_quality``): the body extractor and the article decision, scored apart on
the article-extraction dev pages and on trafilatura's evaluation pages, the k-fold check of
every tunable threshold, and CPU per page against trafilatura. Then the crawl:

The data folder holds the article-extraction-benchmark layout: ``html/<id>.html.gz`` and
``ground-truth.json``. This process serves the pages on 127.0.0.1 (an index page links every
page, each under ``--repeat`` distinct URLs ``/r<k>/<id>.html``), runs ``python -m scraper
spiders/news.py`` (the ``crawl`` command) per worker count and round, a real subprocess restricted
to 127.0.0.1 (the pages keep their original absolute links, which stay off-site), and scores the
``body`` field of the items from the first copy of each page. The ground truth is read here,
by the scorer, and never served: the spider sees only the pages.

Metric, as the benchmark publishes it: tokens are Unicode ``\\w+`` matches, case kept; a text is
the multiset of its runs of 4 consecutive tokens (1-3 tokens: one shingle; none: no shingle).
Per page, precision = overlap / predicted shingles (pages whose prediction has shingles only)
and recall = overlap / true shingles (an empty prediction counts 0); both are averaged over
pages, and F1 is their harmonic mean. trafilatura alone (default settings, ``extract``) is
scored on the same pages in this process, for reference.

Throughput is measured in the steady state of each crawl: this process watches the output file
grow (items are written as they are exported) and takes the window between the moments it held
10% and 90% of the items, which leaves out process start-up, the workers' first imports and the
last drain. Two figures come from that window:

- wall-clock pages/s: items / seconds. What the run delivered, fetching and this server
  included, so two workers show only the speed-up they really get on this machine; other work
  on a shared machine takes cores from them, hence the load average printed beside it.
- CPU capacity pages/s: workers x items / CPU seconds the parse workers used (read from
  /proc), i.e. what the pool extracts when each worker has a core to itself. It shows whether a
  page costs a worker more CPU when two run at once, and does not move with outside load.

Crawls are interleaved over ``--rounds`` (1, 2, 1, 2, ...) and the best figure of each worker
count is compared: load from outside can only slow a crawl down, never speed it up.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks.extraction_quality import DEV, metadata_report, report, score
from scraper.memory import process_tree

ROOT = Path(__file__).resolve().parent.parent
SPIDER = ROOT / "spiders" / "news.py"
WINDOW = (0.1, 0.9)  # share of the items bounding the steady-state window
POLL_SECONDS = 0.02
CRAWL_TIMEOUT = 900.0


# -- the server -------------------------------------------------------------------------------
class PageServer(ThreadingHTTPServer):
    """Serves ``pages`` on 127.0.0.1 under ``repeat`` URLs each, and an index linking them."""

    daemon_threads = True

    def __init__(self, pages: dict[str, bytes], repeat: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages = pages
        links = "".join(
            f'<li><a href="/r{k}/{page}.html">{page}</a></li>'
            for k in range(repeat)
            for page in pages
        )
        self.index = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Pages</title>'
            f"</head><body><h1>Pages</h1><ul>{links}</ul></body></html>"
        ).encode()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: PageServer
    protocol_version = "HTTP/1.1"
    PAGE = re.compile(r"^/r\d+/([0-9a-f]+)\.html$")

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        body = None
        if self.path == "/":
            body = self.server.index
        elif match := self.PAGE.match(self.path):
            body = self.server.pages.get(match.group(1))
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


# -- one crawl --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Mark:
    """One look at a running crawl."""

    seconds: float  # wall clock
    items: int  # lines in the output file
    worker_cpu: float  # CPU seconds used so far by the parse workers (the crawl's children)


@dataclass(frozen=True, slots=True)
class Crawl:
    workers: int
    items: list[dict]
    seconds: float
    pages_per_second: float  # wall clock, steady state
    pages_per_worker_cpu_second: float  # steady state; 0.0 where /proc is missing
    load: float  # the machine's 1-minute load average as the crawl ended: others' work shows


def crawl(base_url: str, workers: int, output: Path) -> Crawl:
    command = [
        sys.executable, "-m", "scraper", str(SPIDER), "-O", str(output),
        "-a", f"start_urls={base_url}/", "-a", "allowed_domains=127.0.0.1",
        "-s", f"PARSE_WORKERS={workers}", "-s", "DOWNLOAD_DELAY=0",
        "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8", "-s", "DEPTH_LIMIT=1", "-s", "LOG_LEVEL=WARNING",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    marks: list[Mark] = []
    counter = _LineCounter(output)
    stderr = ""
    try:
        while process.poll() is None:
            if time.monotonic() - started > CRAWL_TIMEOUT:
                raise TimeoutError(f"crawl with {workers} workers ran over {CRAWL_TIMEOUT}s")
            marks.append(Mark(time.monotonic(), counter.count(), _children_cpu(process.pid)))
            time.sleep(POLL_SECONDS)
        stderr = process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()  # our own child, by its handle
            process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"crawl failed ({process.returncode}):\n{stderr}")
    items = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    first, last = _steady_window(marks, len(items))
    wall = (last.items - first.items) / (last.seconds - first.seconds) if last != first else 0.0
    cpu = last.worker_cpu - first.worker_cpu
    per_cpu = (last.items - first.items) / cpu if cpu > 0 else 0.0
    elapsed = time.monotonic() - started
    return Crawl(workers, items, elapsed, wall, per_cpu, os.getloadavg()[0])


class _LineCounter:
    """Lines in a growing file, reading only what was appended since the last look (the crawl
    shares this machine's cores; rereading megabytes 50 times a second would slow it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lines = 0

    def count(self) -> int:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return self.lines
        self.offset += len(data)
        self.lines += data.count(b"\n")
        return self.lines


def _children_cpu(pid: int) -> float:
    """User and system CPU seconds of the processes below ``pid`` (the parse workers are the
    fork server's children, not the crawl's), from Linux's /proc."""
    total = 0
    for child in process_tree(pid)[1:]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _steady_window(marks: list[Mark], total: int) -> tuple[Mark, Mark]:
    """The first looks at which the output held 10% and 90% of the items."""
    low, high = (max(1, int(total * share)) for share in WINDOW)
    first = next((m for m in marks if m.items >= low), marks[-1])
    last = next((m for m in marks if m.items >= high), marks[-1])
    return first, last


# -- the run ----------------------------------------------------------------------------------
def load(data: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    truth = {
        page: entry["articleBody"]
        for page, entry in json.loads((data / "ground-truth.json").read_text("utf-8")).items()
    }
    pages = {
        page: gzip.decompress((data / "html" / f"{page}.html.gz").read_bytes()) for page in truth
    }
    return pages, truth


def bodies_by_page(items: list[dict]) -> dict[str, str]:
    """Body of the first copy (``/r0/``) of each page, keyed by page id."""
    found = {}
    for item in items:
        match = re.search(r"/r0/([0-9a-f]+)\.html$", item.get("url", ""))
        if match:
            found[match.group(1)] = item.get("body") or ""
    return found


def trafilatura_alone(pages: dict[str, bytes]) -> dict[str, str]:
    import trafilatura

    return {page: trafilatura.extract(html.decode("utf-8")) or "" for page, html in pages.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEV)
    parser.add_argument("--repeat", type=int, default=6, help="URLs per page (default 6)")
    parser.add_argument("--workers", default="1,2", help="PARSE_WORKERS values (default 1,2)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="crawls per worker count, interleaved (default 2)"
    )
    parser.add_argument(
        "--subset", type=int, help="quality on the first N pages of each set only (default all)"
    )
    parser.add_argument("--no-crawl", action="store_true", help="quality figures only")
    parser.add_argument(
        "--worst",
        type=int,
        default=0,
        help="list the N trafilatura-eval pages the body extractor gets most wrong",
    )
    args = parser.parse_args(argv)
    for line in [*report(args.subset, worst=args.worst), "", *metadata_report()]:
        print(line, flush=True)
    if args.no_crawl:
        return 0
    print()
    counts = [int(w) for w in args.workers.split(",")]
    pages, truth = load(args.data)
    server = PageServer(pages, args.repeat)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    crawls: list[Crawl] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for round_number in range(args.rounds):
                for workers in counts:  # interleaved, so a busy spell hits both counts alike
                    output = Path(folder) / f"{round_number}-{workers}.jsonl"
                    crawls.append(crawl(server.base_url, workers, output))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    print(f"{len(pages)} pages x {args.repeat} URLs from {args.data}, {args.rounds} round(s)")
    print(f"{'extractor':<34} {'precision':>9} {'recall':>7} {'F1':>7}")
    first_round = crawls[: len(counts)]
    for name, predicted in [
        *((f"news spider, {c.workers} worker(s)", bodies_by_page(c.items)) for c in first_round),
        ("trafilatura alone (in process)", trafilatura_alone(pages)),
    ]:
        result = score(truth, predicted)
        print(f"{name:<34} {result.precision:9.4f} {result.recall:7.4f} {result.f1:7.4f}")
    print(
        f"{'workers':<8} {'items':>6} {'crawl s':>8} {'pages/s':>8} "
        f"{'pages/worker-CPU-s':>18} {'CPU capacity':>12} {'load':>5}"
    )
    for c in crawls:
        print(
            f"{c.workers:<8} {len(c.items):>6} {c.seconds:8.1f} {c.pages_per_second:8.1f} "
            f"{c.pages_per_worker_cpu_second:18.1f} "
            f"{c.workers * c.pages_per_worker_cpu_second:12.1f} {c.load:5.2f}"
        )
    # Best of the rounds: other load on the machine only ever slows a crawl down.
    for label, rate in (
        ("wall-clock pages/s", lambda c: c.pages_per_second),
        ("CPU capacity pages/s", lambda c: c.workers * c.pages_per_worker_cpu_second),
    ):
        best = {w: max(rate(c) for c in crawls if c.workers == w) for w in counts}
        if len(counts) == 2 and best[counts[0]]:
            print(
                f"best {label}: {counts[0]} worker(s) {best[counts[0]]:.1f}, {counts[1]} "
                f"worker(s) {best[counts[1]]:.1f}; ratio {best[counts[1]] / best[counts[0]]:.2f}x"
            )
    # Round by round (the two crawls of a round ran back to back, under much the same load).
    if len(counts) == 2:
        by_round = [crawls[i : i + 2] for i in range(0, len(crawls), 2)]
        ratios = sorted(b.pages_per_second / a.pages_per_second for a, b in by_round)
        print(
            f"wall-clock ratio per round: median {statistics.median(ratios):.2f}x "
            f"(min {ratios[0]:.2f}x, max {ratios[-1]:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
