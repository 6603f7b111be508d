import scraper


class Product(scraper.Item):
    name = scraper.Field()
    price = scraper.Field()
    url = scraper.Field()


class ItemsClassSpider(scraper.Spider):
    name = "items_class"
    allowed_domains = ["127.0.0.1"]
    start_urls = ["http://__SITE__/cat/1"]

    def parse(self, response):
        for href in response.css("li.product a::attr(href)").getall():
            yield response.follow(href, callback=self.parse_product)
        yield from response.follow_all(css="a.next", callback=self.parse)

    def parse_product(self, response):
        item = Product()
        item["name"] = response.css("h2.name::text").get()
        item["price"] = response.css("p.price::text").re_first(r"[\d.]+")
        item["url"] = response.url
        yield item
