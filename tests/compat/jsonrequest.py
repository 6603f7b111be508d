from scraper.http import JsonRequest
from scraper.spiders import Spider


class JsonRequestSpider(Spider):
    name = "jsonrequest"

    async def start(self):
        yield JsonRequest("http://__SITE__/api/echo", data={"b": 2, "a": [1, "x"]})

    def parse(self, response):
        data = response.json()
        yield {"method": data["method"], "body": data["body"]}
