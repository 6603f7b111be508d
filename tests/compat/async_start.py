import scraper


class StartSpider(scraper.Spider):
    name = "async_start"

    async def start(self):
        for n in (10, 11):
            yield scraper.Request(f"http://__SITE__/product/{n}")

    def parse(self, response):
        yield {"name": response.css("h2.name::text").get()}
