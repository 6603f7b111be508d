import attrs

from scraper import Spider


@attrs.define
class Tagged:
    url: str
    tags: list


class AttrsSpider(Spider):
    name = "attrs_items"
    start_urls = [f"http://__SITE__/product/{n}" for n in (4, 5, 6)]

    def parse(self, response):
        yield Tagged(
            url=response.url, tags=[t.strip() for t in response.css("li.tag::text").getall()]
        )
