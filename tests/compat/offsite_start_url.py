from scraper import Spider


class OffsiteSpider(Spider):
    name = "offsite_start_url"
    allowed_domains = ["example.com"]
    start_urls = ["http://__SITE__/about", "http://__SITE__/cat/1"]
    # Scrapy's offsite check drops its own robots.txt request for a host outside
    # allowed_domains; ours fetches it. Not what this spider is about.
    custom_settings = {"ROBOTSTXT_OBEY": False}

    def parse(self, response):
        yield {"url": response.url}
        yield from response.follow_all(css="li.product a")
