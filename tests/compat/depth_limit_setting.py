from scraper.linkextractors import LinkExtractor
from scraper.spiders import Spider


class DepthSpider(Spider):
    name = "depth_limit_setting"
    start_urls = ["http://__SITE__/"]
    custom_settings = {"DEPTH_LIMIT": 2}

    def parse(self, response):
        yield {"url": response.url, "depth": response.meta["depth"]}
        for link in LinkExtractor(allow=r"/(cat|product)/").extract_links(response):
            yield response.follow(link.url)
