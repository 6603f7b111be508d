from scraper import Request, Spider


class CounterSpider(Spider):
    name = "closed_stateful_counter"
    start_urls = ["http://__SITE__/api/items?page=1"]
    pages_seen = 0

    def parse(self, response):
        self.pages_seen += 1
        data = response.json()
        yield {"page": data["page"], "seen_so_far": self.pages_seen}
        if data["has_next"] and self.pages_seen < 3:
            yield Request(response.urljoin(f"?page={data['page'] + 1}"))

    def closed(self, reason):
        self.logger.info("saw %d pages", self.pages_seen)
