from scraper import Request, Spider


class CookiesSpider(Spider):
    name = "cookies_request"

    async def start(self):
        yield Request("http://__SITE__/account", cookies={"session": "abc"}, callback=self.parse)

    def parse(self, response):
        yield {"who": response.css("p.who::text").get()}
