from scraper import Spider


class AuthSpider(Spider):
    name = "http_auth"
    http_user = "ann"
    http_pass = "s3cret"
    http_auth_domain = "__SITE__"  # host and port, as Scrapy compares them
    start_urls = ["http://__SITE__/api/echo"]

    def parse(self, response):
        yield {"authorization": response.json()["authorization"]}
