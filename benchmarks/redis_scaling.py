"""Scaling out: 1, 2 and 3 ``crawl`` processes sharing one Redis frontier on the 20-host slow site.

    python -m benchmarks.redis_scaling [--workers 1,2,3] [--threads 8] [--scale 1] [--dedup-urls N]

The site and settings are the benchmarks' ``slow`` scenario (``benchmarks/scenarios.py``): 2,000
articles of 10 KB on 20 hosts (at ``--scale 1``), every answer 200 ms late, served by nginx (the
Python server when nginx is missing), crawled by ``benchmarks/spider_ours.py`` (light callbacks,
in each worker's own process: the scenario's ``ours-pw0``), CONCURRENT_REQUESTS_PER_DOMAIN=8,
with ``--threads`` fetch threads per worker. One worker is bound by its threads (threads / 0.2 s
pages per second); more workers add up until the site's concurrency (20 x 8 in flight) or the
machine's CPU runs out.

Reported per worker count, from the server's own log: pages/s over the span from the first
request to the last answer, and the speed-up over one worker; wall time of the slowest worker,
start-up included; the CPU used per page by the workers, the site server and Redis, and how busy
that kept the machine's cores over the wall time (their sum per page bounds pages/s at
cores / CPU per page); and Redis's bytes per seen URL for dedup
(``MEMORY USAGE`` of every bucket). Every run is checked: each page fetched exactly once and each
article once in the merged output. A last line measures dedup bytes per URL at a larger scale by
adding ``--dedup-urls`` URLs straight through the store.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from scraper.distributed import RedisFrontier
from scraper.distributed.status import dedup_bytes
from scraper.models import Request
from tests.redis_server import RedisServer

from .run import DEFAULT_WORKDIR, ROOT, command, count_items, env_for_children
from .scenarios import Scenario, build
from .servers import ServerConfig, make_server, read_log
from .sites import Site, generate


def scenario(scale: float, threads: int) -> Scenario:
    slow = build(scale)["slow"]
    ours = {**slow.ours, **slow.variants["ours-pw0"], "CONCURRENT_REQUESTS": str(threads)}
    return dataclasses.replace(slow, ours=ours)


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children (the workers, once they are done)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def redis_cpu(server: RedisServer) -> float:
    info = server.client().info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def crawl(sc: Scenario, site: Site, redis: RedisServer, workers: int, work: Path, server_kind: str):
    """``workers`` crawl processes on a fresh server and crawl name; checked complete."""
    name = f"scaling-{workers}-{time.monotonic_ns()}"
    rundir = work / name
    server = make_server(
        ServerConfig(root=site.root, addrs=site.addrs, delay=sc.delay), rundir / "server",
        prefer=server_kind,
    )  # fmt: skip
    (rundir / "server").mkdir(parents=True, exist_ok=True)
    out = rundir / "items.jsonl"
    with server:
        args = command("ours", sc, server.urls(), out, naive_budget=0)
        args += ["--frontier", redis.url, "--crawl-name", name]
        cpu = (children_cpu(), server.cpu_seconds(), redis_cpu(redis))
        began = time.monotonic()
        logs = [(rundir / f"worker-{i}.stderr").open("w") for i in range(workers)]
        processes = [
            subprocess.Popen(
                args, cwd=ROOT, env=env_for_children(), stdout=subprocess.DEVNULL, stderr=log
            )  # fmt: skip
            for log in logs
        ]
        for process, log in zip(processes, logs, strict=True):
            process.wait(timeout=sc.timeout)
            log.close()
            if process.returncode != 0:
                raise SystemExit(f"worker failed:\n{Path(log.name).read_text()[-2000:]}")
        wall = time.monotonic() - began
        used = (children_cpu(), server.cpu_seconds(), redis_cpu(redis))
    log = read_log(server.log_path)
    items, unique = count_items(out)
    expected = (site.pages, site.pages, site.articles, site.articles)
    if (log.unique_ok, log.ok_pages, items, unique) != expected:
        raise SystemExit(
            f"{workers} workers: {log.unique_ok} of {site.pages} pages ({log.ok_pages} fetches), "
            f"{items} items ({unique} distinct) of {site.articles} articles: see {rundir}"
        )
    seen = int(redis.client().hget(f"{{{name}}}:state", "seen") or 0)
    cpu_ms = [(b - a) * 1000 / log.unique_ok for a, b in zip(cpu, used, strict=True)]
    return {
        "workers": workers,
        "pages": log.unique_ok,
        "pages_per_s": log.unique_ok / log.span,
        "wall_s": wall,
        "cpu_ms_per_page": dict(zip(("workers", "server", "redis"), cpu_ms, strict=True)),
        "cpu_busy": sum(cpu_ms) * log.unique_ok / 1000 / wall / (os.cpu_count() or 1),
        "server": server.kind,
        "dedup_bytes_per_url": dedup_bytes(redis.client(), name) / max(seen, 1),
    }


def dedup_at_scale(redis: RedisServer, count: int) -> float:
    name = f"dedup-{time.monotonic_ns()}"
    frontier = RedisFrontier(redis.url, name)
    for start in range(0, count, 1000):
        batch = range(start, min(start + 1000, count))
        frontier.add_many([Request(f"http://h{i % 97}.test/p/{i}") for i in batch])
    frontier.shutdown()
    return dedup_bytes(redis.client(), name) / count


def run(
    workers: list[int],
    threads: int,
    scale: float,
    dedup_urls: int,
    work: Path,
    redis: RedisServer,
    server_kind: str = "nginx",
    sites: Path = DEFAULT_WORKDIR / "sites",
) -> dict[str, Any]:
    """Every worker count in turn, on one Redis; the figures ``render`` prints."""
    sc = scenario(scale, threads)
    site = generate(sc.site, sites / f"slow-{scale:g}")  # shared with benchmarks.run
    rows = [crawl(sc, site, redis, n, work, server_kind) for n in workers]
    return {
        "threads": threads,
        "hosts": sc.site.hosts,
        "delay": sc.delay,
        "per_host": sc.ours["CONCURRENT_REQUESTS_PER_DOMAIN"],
        "site_pages": site.pages,
        "rows": rows,
        "dedup_urls": dedup_urls,
        "dedup_at_scale": dedup_at_scale(redis, dedup_urls) if dedup_urls else None,
    }


def render(result: dict[str, Any]) -> str:
    rows = result["rows"]
    base = rows[0]["pages_per_s"] / rows[0]["workers"]
    lines = [
        f"{result['hosts']} hosts, {result['delay'] * 1000:.0f} ms per answer, "
        f"{result['site_pages']} pages, {result['per_host']} per host at once, "
        f"{result['threads']} fetch threads per worker, site server: {rows[0]['server']}, "
        f"{os.cpu_count()} cores",
        "workers  pages/s  speed-up  wall s  CPU ms/page: workers server redis  busy  dedup B/URL",
    ]
    for r in rows:
        cpu = r["cpu_ms_per_page"]
        lines.append(
            f"{r['workers']:>7}  {r['pages_per_s']:>7.1f}  {r['pages_per_s'] / base:>7.2f}x  "
            f"{r['wall_s']:>6.1f}  {cpu['workers']:>20.2f} {cpu['server']:>6.2f} "
            f"{cpu['redis']:>5.2f}  {r['cpu_busy']:>4.0%}  {r['dedup_bytes_per_url']:>11.1f}"
        )
    if result["dedup_at_scale"] is not None:
        lines.append(
            f"dedup at {result['dedup_urls']} URLs: {result['dedup_at_scale']:.1f} bytes per URL"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,3", help="worker counts to run, comma-separated")
    parser.add_argument("--threads", type=int, default=8, help="fetch threads per worker")
    parser.add_argument("--scale", type=float, default=1.0, help="site size (1 = 2,000 articles)")
    parser.add_argument("--dedup-urls", type=int, default=100_000)
    parser.add_argument("--server", choices=("nginx", "python"), default="nginx")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        redis = RedisServer(Path(folder) / "redis").start()
        try:
            result = run(
                [int(n) for n in options.workers.split(",")], options.threads, options.scale,
                options.dedup_urls, Path(folder), redis, options.server,
            )  # fmt: skip
        finally:
            redis.stop()
    print(render(result))
    if options.json:
        options.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
