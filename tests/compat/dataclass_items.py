from dataclasses import dataclass, field

from scraper import Spider


@dataclass
class Category:
    title: str
    products: list = field(default_factory=list)
    page: int = 1


class DataclassSpider(Spider):
    name = "dataclass_items"
    start_urls = ["http://__SITE__/cat/2"]

    def parse(self, response):
        yield Category(
            title=response.css("h1::text").get(),
            products=response.css("li.product a::text").getall(),
            page=int(response.url.rsplit("=", 1)[-1]) if "page=" in response.url else 1,
        )
        next_page = response.css("a.next::attr(href)").get()
        if next_page:
            yield response.follow(next_page)
