from scraper import Request, Spider


class MetaSpider(Spider):
    name = "meta_chain"
    start_urls = ["http://__SITE__/cat/2?page=2"]

    def parse(self, response):
        for href in response.xpath("//li[@class='product']/a/@href").getall():
            yield Request(
                response.urljoin(href),
                callback=self.product,
                meta={"listing": response.url, "price": None},
                priority=5,
            )

    def product(self, response):
        yield {
            "listing": response.meta["listing"],
            "name": response.css("h2::text").get(),
            "price": response.css("p.price::text").get().split()[-1],
        }
