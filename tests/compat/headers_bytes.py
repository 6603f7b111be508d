from scraper import Spider


class HeadersSpider(Spider):
    name = "headers_bytes"
    start_urls = ["http://__SITE__/headers"]

    def parse(self, response):
        yield {
            "type": response.headers.get(b"Content-Type").decode(),
            "multi": [v.decode() for v in response.headers.getlist(b"X-Multi")],
            "last": response.headers[b"X-Multi"].decode(),
            "status": response.status,
        }
