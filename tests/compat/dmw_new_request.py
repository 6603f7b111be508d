from scraper import Request, Spider


class RetryBusyMiddleware:
    """A retry of its own: a page that answers "busy" is asked again (a new Request)."""

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getint("SHOP_BUSY_LIMIT"))

    def __init__(self, retries):
        self.retries = retries

    def process_response(self, request, response, spider):
        tries = request.meta.get("busy_tries", 0)
        if b"busy" in response.body and tries < self.retries:
            retry = request.replace(dont_filter=True)
            retry.meta["busy_tries"] = tries + 1
            return retry
        return response


class MovedMiddleware:
    """Old product URLs go to the new ones before anything is downloaded."""

    def process_request(self, request, spider):
        if "/old/" in request.url:
            return Request(request.url.replace("/old/", "/product/"), callback=request.callback)
        return None


class NewRequestSpider(Spider):
    name = "dmw_new_request"
    custom_settings = {
        "DOWNLOADER_MIDDLEWARES": {MovedMiddleware: 100, RetryBusyMiddleware: 200},
        "SHOP_BUSY_LIMIT": 2,
    }

    async def start(self):
        for path in ("/busy/a", "/busy/b", "/old/3", "/old/4"):
            yield Request(f"http://__SITE__{path}", callback=self.parse)

    def parse(self, response):
        yield {
            "url": response.url,
            "state": response.css("p.state::text").get() or response.css("h2::text").get(),
            "tries": response.meta.get("busy_tries", 0),
        }
