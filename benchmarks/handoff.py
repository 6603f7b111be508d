"""The hand-off alone: main-process CPU per page to send pages to the parse workers and take
their results back, by batch size. Real workers and the real light callback; no fetching, no
network, no other threads, so a difference of a few microseconds per page shows.

    python -m benchmarks.handoff                      # batches of 1, 2, 4, 8, 16; 4,000 pages
    python -m benchmarks.handoff --batches 1,8 --pages 8000

Pages are the fast scenario's articles (generated under the work folder if missing), built into
Responses before the clock starts; the pool keeps ``ParsePool.capacity`` batches outstanding, as
the parse stage does. "main CPU" is this process's CPU time (every thread: the executor's
manager and queue-feeder threads too) over pages; "wall" shows whether the workers kept up.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path

from scraper.models import Headers, Request, Response
from scraper.parse import ParseBatch, ParsePool
from scraper.settings import Settings
from scraper.spider import load_spider_class

from .run import DEFAULT_WORKDIR
from .scenarios import build
from .sites import generate

HERE = Path(__file__).resolve().parent


def responses(count: int, workdir: Path) -> list[Response]:
    # A tenth of the fast site: 500 distinct article bodies, reused round-robin.
    site = generate(build(0.1)["fast"].site, workdir / "sites" / "fast-0.1")
    bodies = [path.read_bytes() for path in sorted((site.root / site.addrs[0] / "a").iterdir())]
    headers = [("Content-Type", "text/html"), ("Content-Length", "10000"), ("Server", "nginx")]
    out = []
    for i in range(count):
        url = f"http://{site.addrs[0]}:8080/a/{i}.html"
        request = Request(url, callback="parse", meta={"depth": 2})
        out.append(Response(url, 200, Headers(headers), bodies[i % len(bodies)], request))
    return out


def measure(pool: ParsePool, pages: list[Response], size: int) -> tuple[float, float]:
    """(main CPU, wall) seconds per page to run ``pages`` through ``pool`` in batches of
    ``size``."""
    outstanding: dict[Future[list[bytes]], ParseBatch] = {}
    sent = done = 0
    cpu, began = time.process_time(), time.monotonic()
    while done < len(pages):
        while len(outstanding) < pool.capacity and sent < len(pages):
            batch = pool.submit(pages[sent : sent + size])
            outstanding[batch.future] = batch
            sent += len(batch.jobs)
        finished, _ = wait(list(outstanding), return_when=FIRST_COMPLETED)
        for future in finished:
            done += len(outstanding.pop(future).results())
    return (time.process_time() - cpu) / done, (time.monotonic() - began) / done


def main(argv: list[str] | None = None) -> dict[int, tuple[float, float]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.handoff", description=__doc__)
    parser.add_argument("--batches", default="1,2,4,8,16", help="batch sizes to measure")
    parser.add_argument("--pages", type=int, default=4000)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    path = str(HERE / "spider_ours.py")
    spider = load_spider_class(path, "bench")(work="light")
    settings = Settings()
    settings.update({"PARSE_WORKERS": 2}, "benchmarks.handoff")
    pool = ParsePool(spider=spider, spider_path=path, spider_args={"work": "light"},
                     settings=settings)  # fmt: skip
    pool.start()
    pool.wait_started()
    pages = responses(args.pages, args.workdir)
    measured = {}
    try:
        measure(pool, pages[:200], 1)  # warm-up: imports and first-use caches in the workers
        for size in (int(s) for s in args.batches.split(",")):
            cpu, wall = measured[size] = measure(pool, pages, size)
            per_page = f"main CPU {cpu * 1e6:6.1f} µs/page, wall {wall * 1e6:6.1f} µs/page"
            print(f"batch {size:3d}: {per_page}")
    finally:
        pool.shutdown()
    return measured


if __name__ == "__main__":
    main()
