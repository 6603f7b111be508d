from scraper import Spider


class TokenMiddleware:
    """Rewrites each request: the members page wants a header, which the site checks."""

    def process_request(self, request, spider):
        if request.url.endswith("/members"):
            request.headers["X-Token"] = "sesame"


class HeaderSpider(Spider):
    name = "dmw_header"
    start_urls = ["http://__SITE__/members", "http://__SITE__/about"]
    custom_settings = {"DOWNLOADER_MIDDLEWARES": {TokenMiddleware: 543}}

    def parse(self, response):
        yield {
            "url": response.url,
            "status": response.status,
            "text": response.css("p::text").get(),
        }
