from scraper import Request, Spider


class PriceFilterMiddleware:
    """Drops cheap products, marks the others, and follows no link to category 2."""

    async def process_spider_output(self, response, result, spider):
        async for obj in result:
            if isinstance(obj, Request):
                if "/cat/2" not in obj.url:
                    yield obj
            elif float(obj["price"]) >= 10:
                obj["checked"] = True
                yield obj


class RecoverMiddleware:
    """A callback that fails yields one item saying so."""

    def process_spider_exception(self, response, exception, spider):
        return [{"name": "recovered", "price": "99", "error": type(exception).__name__}]


class StartMiddleware:
    """One more start page, and a mark on each."""

    async def process_start(self, start):
        async for request in start:
            request.meta["from_start"] = True
            yield request
        yield Request("http://__SITE__/cat/2", meta={"from_start": True})


class OutputSpider(Spider):
    name = "spmw_output"
    start_urls = ["http://__SITE__/cat/1"]
    custom_settings = {
        "SPIDER_MIDDLEWARES": {
            PriceFilterMiddleware: 500,
            RecoverMiddleware: 600,
            StartMiddleware: 700,
        },
    }

    def parse(self, response):
        if response.url.endswith("/cat/2"):
            raise ValueError("category 2 is broken")
        for product in response.css("li.product"):
            yield {
                "name": product.css("a::text").get(),
                "price": product.css("span.price::text").get(),
            }
        yield from response.follow_all(css="a.next", callback=self.parse)
        yield response.follow("/cat/2?page=2", callback=self.parse)
