from scraper import Request, Spider


class TwiceSpider(Spider):
    name = "dont_filter_twice"
    start_urls = ["http://__SITE__/product/5"]

    async def start(self):
        # Not dont_filter: Scrapy does not record a dont_filter request as seen (we do), so
        # the duplicate below would be fetched there and not here.
        yield Request(self.start_urls[0])

    def parse(self, response):
        yield {"visit": response.url, "again": response.meta.get("again", False)}
        if not response.meta.get("again"):
            yield Request(response.url, meta={"again": True}, dont_filter=True)
            yield Request(response.url, meta={"again": True})  # a duplicate: filtered
