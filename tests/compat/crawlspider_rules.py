from scraper.linkextractors import LinkExtractor
from scraper.spiders import CrawlSpider, Rule


class ShopCrawlSpider(CrawlSpider):
    name = "crawlspider_rules"
    allowed_domains = ["127.0.0.1"]
    start_urls = ["http://__SITE__/"]
    rules = (
        Rule(LinkExtractor(allow=r"/cat/\d+")),
        Rule(LinkExtractor(allow=r"/product/\d+$"), callback="parse_product"),
    )

    def parse_product(self, response):
        yield {
            "name": response.css("h2.name::text").get(),
            "url": response.url,
            "link_text": response.meta.get("link_text"),
        }
