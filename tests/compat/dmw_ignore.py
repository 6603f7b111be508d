import re

from scraper import Spider
from scraper.exceptions import IgnoreRequest


class SkipOddMiddleware:
    """Odd products are not fetched at all; even ones answered 404 are dropped after."""

    def process_request(self, request, spider):
        match = re.search(r"/product/(\d+)$", request.url)
        if match and int(match.group(1)) % 2:
            raise IgnoreRequest(f"odd product {match.group(1)}")

    def process_response(self, request, response, spider):
        if "/cat/2" in response.url and "page=2" in response.url:
            raise IgnoreRequest("second page of category 2")
        return response


class IgnoreSpider(Spider):
    name = "dmw_ignore"
    start_urls = ["http://__SITE__/cat/1", "http://__SITE__/cat/2"]
    custom_settings = {"DOWNLOADER_MIDDLEWARES": {SkipOddMiddleware: 543}}

    def parse(self, response):
        yield {"page": response.url}
        for href in response.css("li.product a::attr(href)").getall():
            yield response.follow(href, callback=self.parse_product, errback=self.skipped)
        yield from response.follow_all(css="a.next", callback=self.parse, errback=self.skipped)

    def parse_product(self, response):
        yield {"product": response.css("h2.name::text").get()}

    def skipped(self, failure):
        if failure.check(IgnoreRequest):
            yield {"ignored": failure.request.url}
