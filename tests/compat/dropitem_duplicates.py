from scraper import Spider
from scraper.exceptions import DropItem, NotConfigured


class DedupPipeline:
    def open_spider(self, spider):
        self.names = set()

    def process_item(self, item, spider):
        if item["cat"] in self.names:
            raise DropItem("duplicate")
        self.names.add(item["cat"])
        return item


class Disabled:
    @classmethod
    def from_crawler(cls, crawler):
        raise NotConfigured("off")

    def process_item(self, item, spider):
        raise AssertionError("a pipeline that raised NotConfigured must not run")


class DropSpider(Spider):
    name = "dropitem_duplicates"
    start_urls = ["http://__SITE__/cat/1", "http://__SITE__/cat/1?page=2"]
    custom_settings = {"ITEM_PIPELINES": {DedupPipeline: 1, Disabled: 2}}

    def parse(self, response):
        yield {"cat": response.css("h1::text").re_first(r"Category \d")}
