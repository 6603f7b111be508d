"""Test spider: one item per page (url, title, body text), following every link on the site."""

from scraper import Spider


class FollowSpider(Spider):
    name = "follow"

    def parse(self, response):
        yield {
            "url": response.url,
            "title": response.css("title::text").get(),
            "text": response.text,
            "status": response.status,
        }
        yield from response.follow_all(css="a")
