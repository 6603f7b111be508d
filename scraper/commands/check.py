"""``crawl check [SPIDER]``: run the contracts in the spiders' callback docstrings.

Flow position: outside the crawl. For each callback whose docstring has ``@url``, the page is
fetched as a crawl would (``pages.py``), the callback runs here on it, and what it yielded is
held against the contracts (Scrapy's):

- ``@url URL``: the page to try the callback on;
- ``@cb_kwargs {"name": value}``: keyword arguments for the callback (JSON);
- ``@returns items|requests [MIN [MAX]]``: how many it yields (MIN alone: at least MIN);
- ``@scrapes FIELD ...``: fields every item must have.

Each failure is one line naming the spider, the callback and the contract; exit status 1 if any.
SPIDER is a spider file, or the name of one in the project's ``spiders/`` (all of them when
omitted).
"""

from __future__ import annotations

import argparse
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ScraperError
from ..models import Request
from ..parse import to_item
from ..spider import Spider, iterate_callback_output, load_spider_class
from .arguments import key_value
from .pages import PageFetcher, load_settings
from .project import spiders_folder


@dataclass
class Contracts:
    """The contracts of one callback, from its docstring."""

    url: str
    cb_kwargs: dict[str, Any] = field(default_factory=dict)
    returns: list[tuple[str, int, float]] = field(default_factory=list)  # (kind, min, max)
    scrapes: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, doc: str | None, where: str) -> Contracts | None:
        lines = [line.strip() for line in (doc or "").splitlines()]
        directives = [line[1:].split(None, 1) for line in lines if line.startswith("@")]
        found = {name: (rest[0] if rest else "") for name, *rest in directives}
        if "url" not in found:
            return None
        contracts = cls(url=found["url"])
        for name, *rest in directives:
            args = rest[0] if rest else ""
            if name == "cb_kwargs":
                try:
                    contracts.cb_kwargs = json.loads(args)
                except ValueError as exc:
                    raise ScraperError(f"{where}: @cb_kwargs is not JSON: {exc}") from None
            elif name == "returns":
                words = args.split()
                if not words or words[0] not in ("items", "requests") or len(words) > 3:
                    raise ScraperError(f"{where}: expected @returns items|requests [MIN [MAX]]")
                low = int(words[1]) if len(words) > 1 else 1
                high = float(words[2]) if len(words) > 2 else float("inf")
                contracts.returns.append((words[0], low, high))
            elif name == "scrapes":
                contracts.scrapes.extend(args.split())
            elif name != "url":
                raise ScraperError(f"{where}: unknown contract @{name}")
        return contracts


def check_callback(
    spider: Spider, name: str, contracts: Contracts, fetcher: PageFetcher
) -> list[str]:
    """The failures of one callback's contracts (empty: it passed)."""
    request = Request(contracts.url, callback=name, cb_kwargs=contracts.cb_kwargs)
    try:
        response = fetcher.fetch(request)
        output = list(
            iterate_callback_output(getattr(spider, name)(response, **contracts.cb_kwargs))
        )
    except Exception as exc:  # the spider's error is the report, not a crash of the command
        return [f"error: {type(exc).__name__}: {exc}"]
    requests = [obj for obj in output if isinstance(obj, Request)]
    items = [to_item(obj) for obj in output if not isinstance(obj, Request)]
    failures = []
    for kind, low, high in contracts.returns:
        count = len(items if kind == "items" else requests)
        if not low <= count <= high:
            bound = f"{low}..{high:g}" if high != float("inf") else f"at least {low}"
            failures.append(f"@returns {kind} {bound}: got {count}")
    for number, item in enumerate(items, 1):
        missing = [f for f in contracts.scrapes if f not in item or item[f] in (None, "")]
        if missing:
            failures.append(f"@scrapes: item {number} has no {', '.join(missing)}")
    return failures


def _spider_files(target: str | None) -> list[Path]:
    if target and Path(target).is_file():
        return [Path(target)]
    folder = spiders_folder()
    if folder is None:
        raise ScraperError(
            "not in a project: name a spider file (crawl check SPIDER_FILE)"
            if not target
            else f"spider file not found: {target}"
        )
    if target:
        path = folder / f"{target}.py"
        if not path.is_file():
            raise ScraperError(f"no spider {target!r} in {folder}")
        return [path]
    return sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="crawl check", description="Run spider contracts.")
    parser.add_argument("spider", metavar="SPIDER", nargs="?", help="spider file or name")
    parser.add_argument(
        "-s",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=key_value,
    )
    args = parser.parse_args(argv)
    callbacks = failed = 0
    for path in _spider_files(args.spider):
        spider_cls = load_spider_class(path)
        settings = load_settings(dict(args.settings), spider_cls.name, spider_cls.custom_settings)
        spider = spider_cls()
        spider.settings = settings
        fetcher = PageFetcher(settings, spider_cls.name)
        try:
            for name, method in inspect.getmembers(spider_cls, inspect.isfunction):
                where = f"{spider_cls.name}.{name}"
                contracts = Contracts.parse(method.__doc__, where)
                if contracts is None:
                    continue
                callbacks += 1
                failures = check_callback(spider, name, contracts, fetcher)
                failed += bool(failures)
                for failure in failures:
                    print(f"FAIL {where}: {failure}")
                if not failures:
                    print(f"ok   {where}")
        finally:
            fetcher.close()
    print(f"{callbacks} callbacks checked, {failed} failed")
    return 1 if failed else 0
