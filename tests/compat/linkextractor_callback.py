from scraper import Spider
from scraper.linkextractors import LinkExtractor


class LinksSpider(Spider):
    name = "linkextractor_callback"
    start_urls = ["http://__SITE__/"]

    def parse(self, response):
        for unique in (True, False):
            for link in LinkExtractor(unique=unique).extract_links(response):
                yield {
                    "unique": unique,
                    "url": link.url,
                    "text": link.text,
                    "nofollow": link.nofollow,
                }
        for link in LinkExtractor(tags=("area",), canonicalize=True).extract_links(response):
            yield {"area": link.url}
        for link in LinkExtractor(
            deny_extensions=[], deny_domains=["other.example"], restrict_text="logo|About"
        ).extract_links(response):
            yield {"restricted": link.url}
