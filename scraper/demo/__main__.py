"""Run the demo site as a process: ``python -m scraper.demo [options]``.

Prints one JSON line ``{"hosts": [...], "pid": N}`` once every host is listening, then serves
until SIGTERM/SIGINT or until stdin reaches EOF, so a parent that dies takes the site with it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from types import FrameType

from scraper.demo.server import DemoSite

POLL_INTERVAL = 0.2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scraper.demo", description=__doc__)
    parser.add_argument("--hosts", type=int, default=3, help="number of hosts (default 3)")
    parser.add_argument(
        "--articles-per-host", type=int, default=20, help="articles on each host (default 20)"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s per host, 0 = off")
    parser.add_argument(
        "--burst", type=float, default=1.0, help="requests that may arrive early (default 1)"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each response")
    parser.add_argument("--log", default=None, help="append a JSON line per request to this file")
    parser.add_argument("--seed", type=int, default=7, help="content seed (default 7)")
    parser.add_argument("--fanout", type=int, default=50, help="children per /fanout/ node")
    parser.add_argument("--fanout-total", type=int, default=0, help="number of /fanout/ nodes")
    parser.add_argument(
        "--ignore-stdin",
        action="store_true",
        help="do not stop at stdin EOF (for running in the background of a shell)",
    )
    return parser.parse_args(argv)


def _watch_stdin(eof: threading.Event) -> None:
    try:
        fd = sys.stdin.fileno()
        while os.read(fd, 65536):
            pass
    except (OSError, ValueError, AttributeError):
        pass  # no usable stdin counts as EOF
    eof.set()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    site = DemoSite(
        hosts=args.hosts,
        articles_per_host=args.articles_per_host,
        rate=args.rate,
        burst=args.burst,
        latency=args.latency,
        seed=args.seed,
        fanout=args.fanout,
        fanout_total=args.fanout_total,
        log_path=args.log,
    )
    # The signal handler only flips a flag: taking a lock there could deadlock the main thread.
    signalled: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signalled.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    eof = threading.Event()
    with site:
        print(json.dumps({"hosts": site.base_urls, "pid": os.getpid()}), flush=True)
        if not args.ignore_stdin:
            threading.Thread(target=_watch_stdin, args=(eof,), daemon=True).start()
        while not signalled and not eof.wait(POLL_INTERVAL):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
