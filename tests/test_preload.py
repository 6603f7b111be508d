"""What the fork server imports for a spider's callbacks: the imports in the code reachable from
the spider (its methods, the functions its instance holds, the functions of its own code those
name), read from the compiled code; not the framework's or installed libraries' own."""

from __future__ import annotations

import sys

from scraper.preload import callback_imports
from scraper.spider import load_spider_class

SPIDER = """import json

from scraper import Spider


def parse_page(response):
    return [_title(response)]


def _title(response):
    import colorsys
    from email import utils

    return {"title": response.css("title::text").get(), "at": utils.format_datetime}


def never_named():
    import decimal


PARSERS = {"page": parse_page}


class Lazy(Spider):
    name = "lazy"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.page = PARSERS["page"]  # a function the instance holds, named by no code

    def start_requests(self):
        from scraper.demo import DemoSite  # the framework's: for the main process

        yield from ()

    def parse(self, response):
        yield from self.page(response)
        yield {"sorted": json.dumps(sorted([3, 1]))}
"""


def test_the_imports_of_the_code_a_spiders_callbacks_reach_are_found(tmp_path):
    path = tmp_path / "lazy_spider.py"
    path.write_text(SPIDER)
    spider = load_spider_class(path, "lazy")()
    try:
        found = callback_imports(spider)
    finally:
        sys.modules.pop(type(spider).__module__, None)
    # Through the instance's function and the helper it names; response.css brings parsel.
    assert {"colorsys", "email", "email.utils", "parsel", "scraper.htmltree"} <= found
    assert "decimal" not in found  # no callback reaches it
    assert not any(name.startswith("scraper.demo") for name in found)
    assert not any(name.startswith("json.") for name in found)  # json's own code is not read
