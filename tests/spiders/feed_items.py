"""Test spider for the feed formats: walks the demo site's /fanout/ tree; each node's item has
a number, a list, a value that is sometimes missing and text that needs escaping."""

from scraper import Spider


class FeedItemsSpider(Spider):
    name = "feed_items"

    def parse(self, response):
        node = response.css("h1::text").get() or ""
        number = int(node.split()[-1]) if node else -1
        yield {
            "url": response.url,
            "node": number,
            "tags": [f"t{number % 3}", "<&>"],
            "note": None if number % 2 else f'even, "quoted" {number}',
            "score": number / 4,
        }
        yield from response.follow_all(css="a")
