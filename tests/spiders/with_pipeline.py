"""A spider whose pipelines are classes defined in the spider module itself (main process)."""

import os

from scraper import DropItem, Spider


class TagPipeline:
    def open_spider(self, spider):
        self.count = 0

    def process_item(self, item, spider):
        if item["node"].split()[-1] in spider.pipeline_fails_on.split(","):
            raise ValueError(f"pipeline bug on {item['node']}")
        self.count += 1
        item["order"] = self.count
        item["pipeline_pid"] = os.getpid()
        return item


class DropOddPipeline:
    def process_item(self, item, spider):
        if int(item["node"].split()[-1]) % 2:
            raise DropItem("odd node")
        return item


class PipelineSpider(Spider):
    name = "with_pipeline"
    custom_settings = {"ITEM_PIPELINES": {DropOddPipeline: 100, TagPipeline: 200}}
    pipeline_fails_on = ""  # node ids whose item TagPipeline raises on

    def parse(self, response):
        yield {"node": response.css("h1::text").get(), "pid": os.getpid()}
        yield from response.follow_all(css="a")
