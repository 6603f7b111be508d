from scraper import Request, Spider


class AsyncSpider(Spider):
    name = "async_callbacks"
    start_urls = ["http://__SITE__/cat/2"]

    async def parse(self, response):
        for href in response.css("li.product a::attr(href)").getall()[:2]:
            yield Request(response.urljoin(href), callback=self.product)
        yield {"listing": response.url}

    async def product(self, response):
        return {"name": response.css("h2.name::text").get()}
