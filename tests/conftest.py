"""Shared fixtures: the demo site on loopback (in this process), and ways to run a crawl:
in this process (to read its result object) or as the real ``crawl`` command."""

from __future__ import annotations

import compileall
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.build import build_crawl
from scraper.demo import DemoSite
from scraper.engine import CrawlResult
from scraper.models import Request

ROOT = Path(__file__).resolve().parent.parent
TEST_SPIDERS = Path(__file__).resolve().parent / "spiders"


def pytest_configure(config: pytest.Config) -> None:
    """Write the bytecode of the framework and the benchmark spiders once, before the test
    processes start, as ``pip install`` does for an installed package. Where
    PYTHONDONTWRITEBYTECODE is set (as on our machines), every crawl the suite starts, and its
    fork server, compiled the framework again: 0.1 s of CPU each, 263 s of CPU for the whole
    suite against 240 s with the bytecode written first."""
    if not hasattr(config, "workerinput"):  # the controller, not each xdist worker
        # Not benchmarks.run.compile_sources: this file is also loaded by pytest runs a test
        # starts elsewhere, where the benchmarks package cannot be imported.
        for folder in ("scraper", "benchmarks"):
            compileall.compile_dir(ROOT / folder, quiet=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (a stable sort: the rest keep their order). The four test
    processes take tests in this order, so a long one started last would hold up the end of
    the run with the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("longest") is None)


@pytest.fixture
def demo_site() -> Iterator:
    """Factory: ``demo_site(**DemoSite kwargs)`` starts a site, stopped after the test."""
    sites: list[DemoSite] = []

    def start(**kwargs: object) -> DemoSite:
        site = DemoSite(**kwargs).start()  # type: ignore[arg-type]
        sites.append(site)
        return site

    yield start
    for site in sites:
        site.stop()


def run_in_process(
    spider: str | Path, output: Path, settings: dict[str, object] | None = None, **spider_args: str
) -> CrawlResult:
    """Run a crawl in this process (fetch threads here, parse workers as child processes)."""
    spider_path = spider if isinstance(spider, Path) else TEST_SPIDERS / f"{spider}.py"
    values = {k: str(v) for k, v in (settings or {}).items()}
    crawl = build_crawl(
        spider_path, settings=values, spider_args=spider_args, config_path=None, output=output
    )
    return crawl.run()


def run_recording_order(
    spider: str, output: Path, settings: dict[str, object], jobdir: Path | None = None, **args: str
) -> tuple[CrawlResult, list[tuple[str, str]]]:
    """Run a crawl whose store records, in order, each item it wrote (``("write", url)``, once
    the write returned) and each page acknowledged (``("ack", url)``, as the ack began)."""
    values = {k: str(v) for k, v in settings.items()}
    crawl = build_crawl(
        TEST_SPIDERS / f"{spider}.py",
        settings=values,
        spider_args=args,
        output=output,
        jobdir=jobdir,
    )
    events: list[tuple[str, str]] = []
    journal, store = crawl.journal, crawl.store
    assert journal is not None, "a store that writes items before acks: --jobdir or Redis"
    write, ack = journal.write, store.ack

    def recording_write(keyed: list[tuple[str, dict]]) -> None:
        write(keyed)
        events.extend(("write", item["url"]) for _, item in keyed)

    def recording_ack(request: Request, *rest: object) -> object:
        events.append(("ack", request.url))
        return ack(request, *rest)

    journal.write = recording_write  # type: ignore[method-assign]
    store.ack = recording_ack  # type: ignore[method-assign]
    return crawl.run(), events


def assert_written_before_acked(events: list[tuple[str, str]], pages: int) -> None:
    """Every page's item was written before the page was acknowledged, and all ``pages`` were."""
    written: set[str] = set()
    acked: list[str] = []
    for kind, url in events:
        if kind == "write":
            written.add(url)
        else:
            assert url in written, f"{url} acknowledged before its item was written"
            acked.append(url)
    assert len(acked) == len(set(acked)) == len(written) == pages


def run_cli(
    *args: str, cwd: Path, timeout: float = 90, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command, as a user runs it (``python -m scraper`` is the ``crawl`` script)."""
    return subprocess.run(
        [sys.executable, "-m", "scraper", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=timeout,
        env=_env(env),
    )


def popen_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scraper", *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child crawl: ours plus ``extra``, whose PYTHONPATH goes in front of
    the inherited one (a checkout run without installing keeps finding ``scraper``)."""
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    for name, value in (extra or {}).items():
        if name == "PYTHONPATH" and env.get(name):
            value = os.pathsep.join([value, env[name]])
        env[name] = value
    return env


def read_jsonl(path: Path) -> list[dict]:
    """Every line must be one whole JSON object."""
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "torn last line"
    return [json.loads(line) for line in text.splitlines()]
