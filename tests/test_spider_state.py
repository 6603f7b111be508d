"""Spiders that keep state on ``self`` across callbacks run their callbacks in one process
(the main one), so their output is Scrapy's every time; others keep the worker pool."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from compat_site import CompatSite
from conftest import read_jsonl, run_in_process

from scraper import Spider
from scraper.state import stateful_methods

COMPAT = Path(__file__).resolve().parent / "compat"


class Paginating(Spider):
    name = "paginating"
    page = 1

    def parse(self, response):
        self.page += 1


class Collecting(Spider):
    name = "collecting"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = set()  # __init__ runs once, in the main process: not a write in a callback

    def parse(self, response):
        self.seen.add(response.url)

    def parse_item(self, response):
        self.totals["x"] = 1


class Stateless(Spider):
    name = "stateless"

    def start_requests(self):
        self.started = True  # start_requests runs once, in the main process
        return []

    def parse(self, response):
        page = response.meta.get("page", 1)
        item = {"page": page}
        item["next"] = page + 1
        yield item


class SetUpByAHelper(Stateless):
    """Helpers only start_requests calls run once too; one a callback also calls does not."""

    name = "helpers"

    def start_requests(self):
        self.urls = self._prepare()
        return []

    def _prepare(self):
        self._cache = {}  # only ever reached from start_requests
        return self._more()

    def _more(self):
        self.extra = 1
        return []

    def parse(self, response):
        yield from self._note(response)

    def _note(self, response):
        self.count = getattr(self, "count", 0) + 1  # reached from a callback: state
        yield {"n": self.count}


class Declared(Paginating):
    name = "declared"
    stateless = True


def test_callbacks_that_write_to_self_are_found():
    assert stateful_methods(Paginating) == ["parse"]
    assert stateful_methods(Collecting) == ["parse", "parse_item"]
    assert stateful_methods(Stateless) == []
    assert stateful_methods(SetUpByAHelper) == ["_note"]
    assert stateful_methods(Declared) == []  # the spider's own word opts it back into the pool
    assert stateful_methods(type("Told", (Stateless,), {"stateless": False})) == [
        "declared stateless = False"
    ]


@pytest.mark.longest
def test_a_paginating_spider_gives_scrapys_output_every_time(tmp_path, caplog):
    """``self.page += 1`` across callbacks: 4 pages of 3 items in 20 runs of 20 with two parse
    workers asked for (the callbacks run in the main process, said once per run)."""
    source = (COMPAT / "json_api_self_page.py").read_text()
    with CompatSite() as site:
        spider = tmp_path / "paginating.py"
        spider.write_text(source.replace("__SITE__", site.base.removeprefix("http://")))
        outputs = []
        for run in range(20):
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="scraper.state"):
                result = run_in_process(spider, tmp_path / f"{run}.jsonl", {"PARSE_WORKERS": 2})
            said = [r for r in caplog.records if "keeps state on self (parse)" in r.message]
            assert len(said) == 1
            assert result.stats.worker_pids == set()  # no worker ever ran a callback
            outputs.append(
                sorted((i["page"], i["id"]) for i in read_jsonl(tmp_path / f"{run}.jsonl"))
            )
    expected = [(page, page * 10 + i) for page in range(1, 5) for i in range(3)]
    assert outputs == [expected] * 20


def test_a_worker_reports_state_the_reading_missed(tmp_path, caplog):
    """A callback that rebinds a spider attribute through a helper the check does not read
    (``vars(self).update``) is reported by its worker, and the crawl warns once."""
    source = (
        (COMPAT / "json_api_cb_kwargs.py")
        .read_text()
        .replace(
            "        data = response.json()",
            "        vars(self).update(last=response.url)\n        data = response.json()",
        )
    )
    with CompatSite() as site:
        spider = tmp_path / "hidden.py"
        spider.write_text(source.replace("__SITE__", site.base.removeprefix("http://")))
        with caplog.at_level(logging.WARNING, logger="scraper.engine"):
            run_in_process(spider, tmp_path / "out.jsonl", {"PARSE_WORKERS": 1})
    said = [r.getMessage() for r in caplog.records if "in a parse worker" in r.getMessage()]
    assert len(said) == 1 and "self.last" in said[0]
