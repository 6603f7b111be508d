"""The benchmark spider for this framework: a normal spider file.

    python -m scraper benchmarks/spider_ours.py -O out.jsonl \
        -a start_urls=http://127.0.77.1:8080/index.html -a work=heavy -s PARSE_WORKERS=2

Follows every link of every page (the framework de-duplicates) and yields one item per article,
computed by ``benchmarks.workload`` (the same code the Scrapy spider and the naive loop run).
"""

from __future__ import annotations

from benchmarks.workload import CALLBACKS
from scraper import Spider


class BenchSpider(Spider):
    name = "bench"
    work = "light"

    def __init__(self, start_urls: str = "", work: str = "light", **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [u for u in start_urls.split(",") if u]
        self.work = work
        self._callback = CALLBACKS[work]

    def parse(self, response):
        item, links = self._callback(response.url, response.text)
        if item is not None:
            yield item
        yield from response.follow_all(links, callback=self.parse)
