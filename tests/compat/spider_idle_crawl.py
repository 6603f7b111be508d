from scraper import Request, Spider, signals


class IdleSpider(Spider):
    name = "spider_idle_crawl"
    start_urls = ["http://__SITE__/cat/1"]
    stateless = True  # the idle handler's bookkeeping is the main process's own

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.pending = ["http://__SITE__/cat/2", "http://__SITE__/about"]
        crawler.signals.connect(spider.idle, signal=signals.spider_idle)
        return spider

    def idle(self, spider):
        if self.pending:  # one more page each time the crawl runs dry
            self.crawler.engine.crawl(Request(self.pending.pop(0), callback=self.parse))

    def parse(self, response):
        yield {"url": response.url, "title": response.css("h1::text").get()}
