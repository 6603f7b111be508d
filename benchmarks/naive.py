"""The naive baseline: one thread, one httpx.Client, a FIFO of URLs, a seen-set, the shared
callback, one JSON line per item. No concurrency; ``--rate`` paces each host (polite scenario);
failed fetches are retried at once up to ``--retries`` times. Bounded: stops after
``--max-seconds`` (the result then says ``partial``) or ``--max-pages``.

    python -m benchmarks.naive --work light --out out.jsonl --start-urls URL,URL [--rate 5]
        [--insecure]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque

import httpx

from benchmarks.workload import CALLBACKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="light", choices=sorted(CALLBACKS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--start-urls", required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s per host")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--insecure", action="store_true", help="check no TLS certificate")
    parser.add_argument("--max-pages", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    callback = CALLBACKS[args.work]
    queue = deque(u for u in args.start_urls.split(",") if u)
    seen = set(queue)
    next_ok: dict[str, float] = {}
    spacing = 1.0 / args.rate if args.rate else 0.0
    started = time.monotonic()
    pages = failed = 0
    partial = False
    client = httpx.Client(timeout=args.timeout, verify=not args.insecure)
    with client, open(args.out, "w") as out:
        while queue:
            if time.monotonic() - started > args.max_seconds or pages >= args.max_pages:
                partial = True
                break
            url = queue.popleft()
            host = httpx.URL(url).host
            response = None
            for _ in range(args.retries + 1):
                if spacing:
                    wait = next_ok.get(host, 0.0) - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    next_ok[host] = time.monotonic() + spacing
                try:
                    response = client.get(url)
                except httpx.HTTPError:
                    response = None
                    continue
                if response.status_code in (500, 502, 503, 504, 408, 429):
                    continue
                break
            if response is None or response.status_code != 200:
                failed += 1
                continue
            pages += 1
            item, links = callback(url, response.text)
            if item is not None:
                out.write(json.dumps(item) + "\n")
            for link in links:
                if link not in seen:
                    seen.add(link)
                    queue.append(link)
    summary = {"pages": pages, "failed": failed, "partial": partial, "seen": len(seen)}
    sys.stderr.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
