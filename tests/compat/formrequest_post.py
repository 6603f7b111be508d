from scraper import Spider
from scraper.http import FormRequest


class PostSpider(Spider):
    name = "formrequest_post"

    async def start(self):
        yield FormRequest(
            "http://__SITE__/api/echo", formdata={"q": "a b", "n": "1"}, callback=self.parse
        )
        yield FormRequest(
            "http://__SITE__/api/echo?x=1",
            method="GET",
            formdata=[("tag", "x"), ("tag", "y")],
            callback=self.parse,
        )

    def parse(self, response):
        yield {"url": response.url, **response.json()}
