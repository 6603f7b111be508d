import scraper


class DelaySpider(scraper.Spider):
    name = "download_delay_attr"
    download_delay = 0.05
    start_urls = ["http://__SITE__/product/8", "http://__SITE__/product/9"]

    def parse(self, response):
        yield {"name": response.xpath("//h2/text()").get()}
