import scraper
from scraper.linkextractors import LinkExtractor
from scraper.spiders import CrawlSpider, Rule


class ProcessRequestSpider(CrawlSpider):
    name = "crawlspider_process_request"
    allowed_domains = ["127.0.0.1"]
    start_urls = ["http://__SITE__/"]
    rules = (
        Rule(
            LinkExtractor(deny=(r"page=", r"/about"), allow_domains=["127.0.0.1"]),
            callback="parse_page",
            follow=True,
            process_request="tag_request",
        ),
    )

    def tag_request(self, request, response):
        if "/product/1" in request.url:
            return None
        return request.replace(meta={**request.meta, "from": response.url})

    def parse_start_url(self, response):
        return [{"start": response.url}]

    def parse_page(self, response):
        yield {
            "url": response.url,
            "from": response.meta["from"],
            "title": scraper.Selector(response=response).css("title::text").get(),
        }
