from scraper import Spider


class SeenSpider(Spider):
    name = "stateful_seen_set"
    start_urls = ["http://__SITE__/cat/1", "http://__SITE__/cat/2"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = set()

    def parse(self, response):
        for href in response.css("a::attr(href)").getall():
            if "/product/" in href and href not in self.seen:
                self.seen.add(href)
                yield response.follow(href, callback=self.product)

    def product(self, response):
        for href in response.css("div.related a::attr(href)").getall():
            if href not in self.seen:
                self.seen.add(href)
                yield {"new_related": href, "from": response.url}
