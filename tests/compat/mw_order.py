from scraper import Spider


def downloader(tag):
    class Recorder:
        def process_request(self, request, spider):
            request.meta.setdefault("order", []).append(f"request {tag}")

        def process_response(self, request, response, spider):
            request.meta.setdefault("order", []).append(f"response {tag}")
            return response

    Recorder.__name__ = Recorder.__qualname__ = f"Downloader{tag}"
    return Recorder


def spider_side(tag):
    class Recorder:
        async def process_start(self, start):
            async for request in start:
                request.meta.setdefault("start", []).append(tag)
                yield request

        def process_spider_input(self, response, spider):
            response.meta.setdefault("input", []).append(tag)

        def process_spider_output(self, response, result, spider):
            for item in result:  # the sync form, beside Scrapy 2.13's async one
                item["output"] = [*item.get("output", []), tag]
                yield item

        async def process_spider_output_async(self, response, result, spider):
            async for item in result:
                item["output"] = [*item.get("output", []), tag]
                yield item

    Recorder.__name__ = Recorder.__qualname__ = f"SpiderSide{tag}"
    return Recorder


DownloaderA, DownloaderB, DownloaderC = downloader("A"), downloader("B"), downloader("C")
SpiderSideA, SpiderSideB, SpiderSideC = spider_side("A"), spider_side("B"), spider_side("C")


class OrderSpider(Spider):
    name = "mw_order"
    start_urls = ["http://__SITE__/about"]
    custom_settings = {
        "DOWNLOADER_MIDDLEWARES": {DownloaderB: 300, DownloaderA: 100, DownloaderC: 200},
        "SPIDER_MIDDLEWARES": {SpiderSideC: 20, SpiderSideA: 700, SpiderSideB: 300},
    }

    def parse(self, response):
        yield {
            "order": response.meta["order"],
            "input": response.meta["input"],
            "start": response.meta["start"],
        }
