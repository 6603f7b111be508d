from scraper import Spider


class MailtoSpider(Spider):
    name = "mailto_link"
    start_urls = ["http://__SITE__/"]

    def parse(self, response):
        yield {"page": response.url}
        for href in response.css("a::attr(href)").getall():
            try:
                request = response.follow(href, callback=self.other)
            except ValueError as exc:
                yield {"refused": href, "error": type(exc).__name__}
                continue
            if "/about" in href:
                yield request

    def other(self, response):
        yield {"other": response.url}
