"""Test spider: one item per page (url, title, body text), following every link on the site."""

from scraper import Request, Spider


class FollowSpider(Spider):
    name = "follow"
    auth_url = ""  # fetched with credentials, to check they do not follow a redirect off-host

    def start_requests(self):
        yield from super().start_requests()
        if self.auth_url:
            yield Request(
                self.auth_url,
                headers={"Authorization": "Bearer secret", "Cookie": "session=secret"},
            )

    def parse(self, response):
        yield {
            "url": response.url,
            "title": response.css("title::text").get(),
            "text": response.text,
            "status": response.status,
        }
        yield from response.follow_all(css="a")
