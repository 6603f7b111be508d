import scraper
from scraper.linkextractors import LinkExtractor
from scraper.spiders import CrawlSpider, Rule


class FollowCallbackSpider(CrawlSpider):
    name = "crawlspider_follow_callback"
    allowed_domains = ["127.0.0.1"]
    start_urls = ["http://__SITE__/cat/1"]
    rules = [
        Rule(
            LinkExtractor(allow=[r"/product/(2|4|6)$"], restrict_css="div.related, ul"),
            callback="parse_product",
            follow=True,
        ),
    ]

    def parse_product(self, response):
        item = {"url": response.url, "rule": response.meta["rule"]}
        return [item, scraper.Request(response.urljoin("/about"), callback=self.about)]

    def about(self, response):
        yield {"about": response.css("p::text").get()}
