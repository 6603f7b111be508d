from scraper.exceptions import IgnoreRequest


class ShopDownloaderMiddleware:
    """As the project template generates it, plus one rule: product 12 is withdrawn."""

    @classmethod
    def from_crawler(cls, crawler):
        return cls()

    def process_request(self, request, spider):
        if request.url.endswith("/product/12"):
            raise IgnoreRequest("withdrawn")
        return None

    def process_response(self, request, response, spider):
        return response
