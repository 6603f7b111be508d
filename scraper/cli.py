"""``crawl SPIDER_FILE``: the command line, from arguments to exit code.

Flow position: outside the flow. It loads the spider and the settings, builds the engine, runs
it, prints the summary, and turns every expected failure into one line and a non-zero exit.
Ctrl-C (or SIGTERM) once stops gracefully; twice exits at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from . import __version__
from .build import build_crawl
from .commands import COMMANDS, command
from .commands.arguments import key_value
from .engine import Crawl
from .errors import ScraperError, SettingsError
from .fetch import hand_the_gil_over_less_often
from .memory import use_one_malloc_arena
from .redact import redact_logs
from .settings import ConfigFile, Settings, build_settings, find_config
from .spider import load_spider_class
from .stats import render_summary
from .statsfile import stats_record, write_stats

log = logging.getLogger("scraper.cli")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_HOSTS_UNREACHABLE = 3  # the crawl ended with the requests of unreachable hosts not fetched
EXIT_SIGNAL_BASE = 128


def build_parser() -> argparse.ArgumentParser:
    settings_help = "\n".join(
        f"  {name:<32} {default:<12} {doc}" for name, default, doc in Settings.docs()
    )
    parser = argparse.ArgumentParser(
        prog="crawl",
        description="Crawl with a spider module: threaded fetching, parsing in worker "
        "processes, per-host politeness. Items go to output/<spider>.jsonl.",
        epilog="developing a spider: crawl startproject|genspider|shell|check --help\n\n"
        "settings (-s NAME=VALUE, [settings] in scrapy-like.cfg):\n" + settings_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "spider_file",
        metavar="SPIDER_FILE",
        nargs="?",
        help="path to a spider module (optional with --status and --merge)",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="append items to PATH; the format comes from the extension (.jsonl, .jl, .ndjson, "
        ".json, .csv, .xml, .parquet) or from PATH:FORMAT",
    )
    out.add_argument(
        "-O",
        "--overwrite-output",
        metavar="PATH",
        help="write items to PATH (or PATH:FORMAT), replacing it",
    )
    parser.add_argument(
        "-s",
        "--set",
        dest="settings",
        action="append",
        default=[],
        type=key_value,
        metavar="NAME=VALUE",
        help="set a setting",
    )
    parser.add_argument(
        "-a",
        dest="spider_args",
        action="append",
        default=[],
        type=key_value,
        metavar="NAME=VALUE",
        help="spider argument",
    )
    parser.add_argument(
        "--jobdir",
        metavar="DIR",
        type=Path,
        help="keep the crawl's state in DIR: it survives a crash or Ctrl-C and resumes when "
        "the same command runs again",
    )
    parser.add_argument(
        "--frontier",
        metavar="URL",
        help="redis://HOST:PORT/DB: share the crawl with every process started with the same "
        "URL and crawl name (FRONTIER_URL)",
    )
    parser.add_argument(
        "--crawl-name",
        metavar="NAME",
        help="name of the shared crawl in Redis (CRAWL_NAME; default: the spider name)",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--status",
        action="store_true",
        help="print what the shared crawl (--frontier, --crawl-name) is doing, and exit",
    )
    action.add_argument(
        "--merge",
        action="store_true",
        help="write the output (-O PATH) once from the part files of a shared crawl, and exit",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="settings file (default: the nearest scrapy-like.cfg)",
    )
    parser.add_argument(
        "-L", "--loglevel", metavar="LEVEL", help="log level: DEBUG, INFO, WARNING, ERROR"
    )
    parser.add_argument("--version", action="version", version=f"crawl {__version__}")
    return parser


class _SignalHandler:
    """First signal: graceful stop. Second: exit at once (written output stays whole)."""

    def __init__(self, crawl: Crawl) -> None:
        self.crawl = crawl
        self.received: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            sys.stderr.write("\ncrawl: second interrupt, exiting now\n")
            sys.stderr.flush()
            os._exit(EXIT_SIGNAL_BASE + signum)
        self.received = signum
        sys.stderr.write(
            "\ncrawl: stopping after in-flight requests; press Ctrl-C again to exit at once\n"
        )
        self.crawl.stop("shutdown")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    use_one_malloc_arena()
    hand_the_gil_over_less_often()
    try:
        # crawl shell|startproject|genspider|check ...: unless a spider file has that name.
        if argv and argv[0] in COMMANDS and not Path(argv[0]).is_file():
            return command(argv[0])(argv[1:])
        return _run(build_parser().parse_args(argv))
    except ScraperError as exc:
        sys.stderr.write(f"crawl: error: {exc}\n")
        return EXIT_ERROR


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.LOG_LEVEL.upper(),
        stream=sys.stderr,
        format="%(asctime)s [%(name)s] %(levelname)s: %(message)s",
    )
    redact_logs()
    # httpx logs every request at INFO; our summary says the same once.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    overrides = dict(args.settings)
    if args.loglevel:
        overrides["LOG_LEVEL"] = args.loglevel
    if args.frontier:
        overrides["FRONTIER_URL"] = args.frontier
    if args.crawl_name:
        overrides["CRAWL_NAME"] = args.crawl_name
    return overrides


def _status_or_merge(args: argparse.Namespace) -> int:
    """``--status`` and ``--merge``: the spider file only names the crawl and the output."""
    spider_cls = load_spider_class(args.spider_file) if args.spider_file else None
    name = spider_cls.name if spider_cls else ""
    config = ConfigFile.read(args.config or find_config(), name)
    custom = spider_cls.custom_settings if spider_cls else None
    settings = build_settings(config, custom, _overrides(args))
    # Imported here: the Redis client alone adds 8 MB to every crawl's memory.
    from .distributed import merge_parts, parts_dir
    from .distributed.connection import connect
    from .distributed.status import read_status, render_status

    if args.merge:
        target = args.output or args.overwrite_output or (name and f"output/{name}.jsonl")
        if not target:
            raise SettingsError("--merge needs the output: -O PATH (or a SPIDER_FILE)")
        count = merge_parts(Path(target))
        sys.stderr.write(f"crawl: merged {count} items from {parts_dir(Path(target))}\n")
        return 0
    crawl_name = settings.CRAWL_NAME or name
    if not settings.FRONTIER_URL or not crawl_name:
        raise SettingsError("--status needs --frontier URL and --crawl-name NAME (or SPIDER_FILE)")
    client = connect(settings.FRONTIER_URL, settings.REDIS_SSL_CA_CERTS)
    print(render_status(read_status(client, crawl_name)))
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.status or args.merge:
        return _status_or_merge(args)
    if not args.spider_file:
        raise SettingsError("SPIDER_FILE is required (see crawl --help)")
    overrides = _overrides(args)
    target = args.output or args.overwrite_output
    progress = ProgressLine() if sys.stderr.isatty() else None
    crawl = build_crawl(
        args.spider_file,
        settings=overrides,
        spider_args=dict(args.spider_args),
        config_path=args.config,
        output=Path(target) if target else None,
        append=bool(args.output),
        jobdir=args.jobdir,
        on_tick=progress,
        configure_logging=_configure_logging,
    )
    settings = crawl.settings
    output = crawl.output
    handler = _SignalHandler(crawl)
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = crawl.run()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if progress is not None:
            progress.clear()
    figures: dict[str, Any] = {
        "reason": result.reason,
        "output": str(output),
        "fetch_threads": settings.CONCURRENT_REQUESTS,
        "per_host": settings.CONCURRENT_REQUESTS_PER_DOMAIN,
        "parse_workers": settings.PARSE_WORKERS,
        "queues": {"response": result.response_queue, "parsed-page": result.item_queue},
        "queued_left": result.queued_left,
        "outages": result.outages,
    }
    summary = render_summary(result.stats, **figures)
    sys.stderr.write(summary + "\n")
    if settings.STATS_DUMP_FILE:
        record = stats_record(result.stats, summary, figures)
        write_stats(Path(settings.STATS_DUMP_FILE), record)
    if result.fatal:
        sys.stderr.write(f"crawl: error: {result.fatal}\n")
        return EXIT_ERROR
    if handler.received is not None:
        if crawl.jobdir is not None:
            sys.stderr.write(
                f"crawl: paused; run the same command again to resume from {crawl.jobdir}\n"
            )
        elif settings.FRONTIER_URL:
            sys.stderr.write(
                "crawl: this worker stopped; the crawl's state stays in Redis: run the same "
                "command again to rejoin it\n"
            )
        else:
            sys.stderr.write("crawl: stopped early; use --jobdir DIR to be able to resume\n")
        return EXIT_SIGNAL_BASE + handler.received
    given_up = result.hosts_given_up
    if given_up:
        hosts = ", ".join(outage.host for outage in given_up)
        left = sum(outage.left for outage in given_up)
        if settings.FRONTIER_URL:
            left = result.queued_left
            where = "are still queued in the shared crawl: run a worker again to fetch them"
        elif crawl.jobdir is not None:
            where = f"are still in {crawl.jobdir}: run the same command again to fetch them"
        else:
            where = f"were not fetched (in {result.failures} as host_unreachable)"
        sys.stderr.write(f"crawl: {left} requests of unreachable hosts ({hosts}) {where}\n")
        return EXIT_HOSTS_UNREACHABLE
    return 0


class ProgressLine:
    """One line on a terminal, rewritten at each tick of the engine's main thread."""

    def __call__(self, crawl: Crawl) -> None:
        s = crawl.stats
        rate = s.counters["pages"] / max(s.elapsed, 1e-9)
        sys.stderr.write(
            f"\r\x1b[K{s.counters['pages']} pages, {s.counters['items']} items, "
            f"{sum(s.errors.values())} errors | queued {crawl.store.queued}, "
            f"fetching {crawl.store.leased}, parsing {crawl.work.parsing} | "
            f"{rate:.1f} pages/s"
        )
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\x1b[K")
