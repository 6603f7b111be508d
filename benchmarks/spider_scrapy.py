"""The benchmark spider for Scrapy (run with ``scrapy runspider``): the same pages, the same
links followed, the same items, computed by the same ``benchmarks.workload`` code.

    python -m scrapy runspider benchmarks/spider_scrapy.py -O out.jsonl \
        -a start_urls=http://127.0.77.1:8080/index.html -a work=heavy -s CONCURRENT_REQUESTS=16
"""

from __future__ import annotations

import scrapy

from benchmarks.workload import CALLBACKS


class BenchSpider(scrapy.Spider):
    name = "bench"

    def __init__(self, start_urls: str = "", work: str = "light", **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [u for u in start_urls.split(",") if u]
        self.work = work
        self._callback = CALLBACKS[work]

    def parse(self, response):
        item, links = self._callback(response.url, response.text)
        if item is not None:
            yield item
        for link in links:
            yield scrapy.Request(link, callback=self.parse)

    async def start(self):
        # Filtered like every other request, so a later link to an index is not fetched twice.
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse)
