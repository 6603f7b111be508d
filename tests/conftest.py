"""Shared fixtures: the demo site on loopback (in this process), and ways to run a crawl:
in this process (to read its result object) or as the real ``crawl`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.cli import build_crawl
from scraper.demo import DemoSite
from scraper.engine import CrawlResult

ROOT = Path(__file__).resolve().parent.parent
TEST_SPIDERS = Path(__file__).resolve().parent / "spiders"


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
