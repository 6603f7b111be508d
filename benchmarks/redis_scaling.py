"""Scaling out: 1, 2 and 3 ``crawl`` processes sharing one Redis frontier on a slow site.

    python -m benchmarks.redis_scaling [--workers 1,2,3] [--pages-per-host 40] [--threads 8]

The site is the demo site on 20 loopback hosts (127.0.0.2..21), every response delayed 200 ms,
no rate limit; each worker runs ``--threads`` fetch threads, so one worker is bound by its own
threads (threads / 0.2 s pages per second) and more workers should add up until the hosts'
concurrency (20 x CONCURRENT_REQUESTS_PER_DOMAIN in flight) or the CPU runs out. Reported per
worker count: pages/s (from the site's own log: pages over the span from first to last
request), wall time of the slowest worker (start-up included), and the bytes Redis holds per
seen URL for dedup (``MEMORY USAGE`` of every bucket). A last line measures dedup bytes per URL
at a larger scale by adding ``--dedup-urls`` URLs straight through the store.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scraper.demo import DemoSite
from scraper.distributed import RedisFrontier
from scraper.distributed.status import dedup_bytes
from scraper.models import Request
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
SPIDER = ROOT / "tests" / "spiders" / "fanout.py"
HOSTS = 20
LATENCY = 0.2


def crawl(site: DemoSite, server: RedisServer, workers: int, threads: int, out: Path) -> dict:
    name = f"scaling-{workers}-{time.monotonic_ns()}"
    starts = ",".join(f"{base}/fanout/0" for base in site.base_urls)
    args = [sys.executable, "-m", "scraper", str(SPIDER), "-O", str(out / f"{name}.jsonl")]
    args += ["-a", f"start_urls={starts}", "--frontier", server.url, "--crawl-name", name]
    for setting in (f"CONCURRENT_REQUESTS={threads}", "PARSE_WORKERS=0", "LOG_LEVEL=WARNING"):
        args += ["-s", setting]
    site.clear_log()
    began = time.monotonic()
    processes = [
        subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(workers)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        if process.returncode != 0:
            raise SystemExit(f"worker failed:\n{stderr.decode()[-2000:]}")
    wall = time.monotonic() - began
    pages = [r for r in site.requests() if r.path.startswith("/fanout/")]
    span = max(r.end for r in pages) - min(r.start for r in pages)
    client = server.client()
    seen = int(client.hget(f"{{{name}}}:state", "seen") or 0)
    return {
        "workers": workers,
        "pages": len(pages),
        "pages_per_s": len(pages) / span,
        "wall_s": wall,
        "dedup_bytes_per_url": dedup_bytes(client, name) / max(seen, 1),
    }


def dedup_at_scale(server: RedisServer, count: int) -> float:
    name = f"dedup-{time.monotonic_ns()}"
    frontier = RedisFrontier(server.url, name)
    for start in range(0, count, 1000):
        frontier.add_many(
            [Request(f"http://h{i % 97}.test/p/{i}") for i in range(start, start + 1000)]
        )
    frontier.shutdown()
    return dedup_bytes(server.client(), name) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,3", help="worker counts to run, comma-separated")
    parser.add_argument("--pages-per-host", type=int, default=40)
    parser.add_argument("--threads", type=int, default=8, help="fetch threads per worker")
    parser.add_argument("--dedup-urls", type=int, default=100_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder) / "redis").start()
        site = DemoSite(
            hosts=HOSTS, rate=0, latency=LATENCY, fanout=4, fanout_total=options.pages_per_host
        ).start()
        try:
            results = [
                crawl(site, server, int(n), options.threads, Path(folder))
                for n in options.workers.split(",")
            ]
            at_scale = dedup_at_scale(server, options.dedup_urls) if options.dedup_urls else None
        finally:
            site.stop()
            server.stop()
    base = results[0]["pages_per_s"] / results[0]["workers"]
    print(
        f"{HOSTS} hosts, {LATENCY * 1000:.0f} ms per response, {options.threads} fetch threads "
        f"per worker, {options.pages_per_host} pages per host"
    )
    print("workers  pages  pages/s  speed-up  wall s  dedup B/URL")
    for r in results:
        print(
            f"{r['workers']:>7}  {r['pages']:>5}  {r['pages_per_s']:>7.1f}  "
            f"{r['pages_per_s'] / base:>7.2f}x  {r['wall_s']:>6.1f}  "
            f"{r['dedup_bytes_per_url']:>11.1f}"
        )
    if at_scale is not None:
        print(f"dedup at {options.dedup_urls} URLs: {at_scale:.1f} bytes per URL")


if __name__ == "__main__":
    main()
