import datetime
import decimal

import scraper


class Inner(scraper.Item):
    label = scraper.Field()


class ValuesSpider(scraper.Spider):
    name = "export_values"
    start_urls = ["http://__SITE__/about"]

    def parse(self, response):
        yield {
            "when": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
            "day": datetime.date(2024, 5, 6),
            "at": datetime.time(7, 8, 9),
            "price": decimal.Decimal("3.50"),
            "inner": Inner(label=response.css("h1::text").get()),
            "pair": (1, 2),
        }
