from scraper import Request, Spider
from scraper.spidermiddlewares.httperror import HttpError


class ErrbackSpider(Spider):
    name = "errback_failure"

    async def start(self):
        for path in ("/status/404", "/status/410", "/product/1"):
            yield Request(f"http://__SITE__{path}", callback=self.parse, errback=self.failed)

    def parse(self, response):
        yield {"ok": response.url}

    def failed(self, failure):
        if failure.check(HttpError):
            response = failure.value.response
            yield {
                "failed": response.url,
                "status": response.status,
                "request": failure.request.url,
            }
            if response.status == 404:
                yield Request("http://__SITE__/about", callback=self.parse)
