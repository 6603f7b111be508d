class ShopDownloaderMiddleware:
    """As the project template generates it: passes everything through."""

    @classmethod
    def from_crawler(cls, crawler):
        return cls()

    def process_request(self, request, spider):
        return None

    def process_response(self, request, response, spider):
        return response
