from scraper import Spider


class StrSpider(Spider):
    name = "callback_returns_str"
    start_urls = ["http://__SITE__/about", "http://__SITE__/map"]

    def parse(self, response):
        if response.url.endswith("/map"):
            return "not an item"
        return {"title": response.css("title::text").get()}
