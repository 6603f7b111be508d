from scraper import Spider, signals


class SignalsSpider(Spider):
    name = "signals_handlers"
    start_urls = ["http://__SITE__/cat/1"]

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.scraped, signal=signals.item_scraped)
        spider.seen_names = []
        return spider

    def opened(self, spider):
        spider.logger.info("opened %s", spider.name)

    def scraped(self, item, response, spider):
        self.crawler.stats.inc_value("my_items")

    def parse(self, response):
        for name in response.css("li.product a::text").getall():
            yield {"name": name, "bot": self.settings.get("BOT_NAME", "scrapybot") is not None}
