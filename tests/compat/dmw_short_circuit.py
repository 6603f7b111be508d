from scraper import Request, Spider
from scraper.http import HtmlResponse


class OfflineMiddleware:
    """Pages under /offline/ come from here: nothing is downloaded for them."""

    def process_request(self, request, spider):
        if "/offline/" in request.url:
            page = request.url.rsplit("/", 1)[1]
            body = f"<html><body><h1>offline {page}</h1><a href='/about'>a</a></body></html>"
            return HtmlResponse(url=request.url, body=body, encoding="utf-8", request=request)
        return None

    def process_response(self, request, response, spider):
        request.meta["seen_by"] = "offline"  # the response is not tied to it yet
        return response


class ShortCircuitSpider(Spider):
    name = "dmw_short_circuit"
    custom_settings = {"DOWNLOADER_MIDDLEWARES": {OfflineMiddleware: 543}}

    async def start(self):
        for page in ("one", "two"):
            yield Request(f"http://__SITE__/offline/{page}")

    def parse(self, response):
        yield {
            "url": response.url,
            "h1": response.css("h1::text").get(),
            "status": response.status,
            "seen_by": response.meta.get("seen_by"),
        }
        yield from response.follow_all(css="a", callback=self.parse_about)

    def parse_about(self, response):
        yield {
            "about": response.css("p.about::text").get(),
            "seen_by": response.meta.get("seen_by"),
        }
