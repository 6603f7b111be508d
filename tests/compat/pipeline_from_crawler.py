from scraper import Spider
from scraper.exceptions import DropItem


class PricePipeline:
    def __init__(self, factor):
        self.factor = factor

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getfloat("PRICE_FACTOR", 1.0))

    def process_item(self, item, spider):
        item["price"] = round(float(item["price"]) * self.factor, 2)
        return item


class DropCheap:
    def process_item(self, item, spider):
        if item["price"] < 30:
            raise DropItem(f"too cheap: {item['name']}")
        return item


class PipelineSpider(Spider):
    name = "pipeline_from_crawler"
    start_urls = ["http://__SITE__/cat/1", "http://__SITE__/cat/2"]
    custom_settings = {
        "ITEM_PIPELINES": {PricePipeline: 100, DropCheap: 200},
        "PRICE_FACTOR": 2,
    }

    def parse(self, response):
        for product in response.css("li.product"):
            yield {
                "name": product.css("a::text").get(),
                "price": product.css("span.price::text").get(),
            }
