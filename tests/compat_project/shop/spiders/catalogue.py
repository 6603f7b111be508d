from scraper import Spider
from scraper.loader import ItemLoader

from ..items import Product
from .helpers import price_of


class ProductsSpider(Spider):
    name = "products"
    allowed_domains = ["127.0.0.1"]
    start_urls = ["http://__SITE__/cat/1"]
    custom_settings = {"PRICE_FACTOR": 2}

    def parse(self, response):
        yield from response.follow_all(css="li.product a", callback=self.parse_product)
        yield from response.follow_all(css="a.next", callback=self.parse)

    def parse_product(self, response):
        loader = ItemLoader(item=Product(), response=response)
        loader.add_css("name", "h2.name::text")
        loader.add_value("price", price_of(response))
        loader.add_value("url", response.url)
        item = loader.load_item()
        item["name"] = item["name"][0]
        item["price"] = item["price"][0]
        item["url"] = item["url"][0]
        yield item


class AboutSpider(Spider):
    name = "about"
    start_urls = ["http://__SITE__/about"]

    def parse(self, response):
        yield {"about": response.css("p.about::text").get()}
