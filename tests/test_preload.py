"""What the fork server preloads, read from a spider's source: imports inside callbacks and the
Response attributes that import a library on first use; not what only type checkers read."""

from __future__ import annotations

import sys

from scraper.preload import source_imports
from scraper.spider import import_spider_module

SPIDER = """from __future__ import annotations

from typing import TYPE_CHECKING

from scraper import Spider

if TYPE_CHECKING:
    import decimal


class Lazy(Spider):
    name = "lazy"

    def parse(self, response):
        import colorsys
        from email import utils

        yield {"title": response.css("title::text").get(), "hue": colorsys.ONE_THIRD}
"""


def test_a_spiders_lazy_imports_and_response_libraries_are_preloaded(tmp_path):
    path = tmp_path / "lazy_spider.py"
    path.write_text(SPIDER)
    module = import_spider_module(path)
    try:
        found = source_imports(module)
    finally:
        sys.modules.pop(module.__name__, None)
    assert {"colorsys", "email", "email.utils", "parsel", "scraper.htmltree"} <= found
    assert "decimal" not in found  # read by type checkers only
    assert not any(name.startswith(("__future__", "scraper.Spider")) for name in found)
