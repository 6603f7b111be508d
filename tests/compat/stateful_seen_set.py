from scraper import Spider


class SeenSpider(Spider):
    name = "stateful_seen_set"
    start_urls = ["http://__SITE__/cat/1", "http://__SITE__/cat/2"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = set()

    def parse(self, response):
        for href in response.css("li.product a::attr(href), a.next::attr(href)").getall():
            if href not in self.seen:
                self.seen.add(href)
                callback = self.parse if "/cat/" in href else self.product
                yield response.follow(href, callback=callback)

    def product(self, response):
        yield {
            "name": response.css("h2.name::text").get(),
            "seen_it": response.url.split(response.url.split("/product/")[0])[1] in self.seen,
        }
