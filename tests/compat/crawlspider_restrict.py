from scraper.linkextractors import LinkExtractor
from scraper.spiders import CrawlSpider, Rule


class RestrictSpider(CrawlSpider):
    name = "crawlspider_restrict"
    start_urls = ["http://__SITE__/cat/1"]
    rules = (
        Rule(
            LinkExtractor(restrict_css="li.product"),
            callback="parse_product",
            cb_kwargs={"source": "listing"},
            process_links="every_fourth",
            follow=False,
        ),
        Rule(LinkExtractor(restrict_xpaths="//a[@class='next']")),
    )

    def every_fourth(self, links):
        return [link for link in links if int(link.url.rsplit("/", 1)[1]) % 4 == 0]

    def parse_product(self, response, source):
        yield {"url": response.url, "source": source}
