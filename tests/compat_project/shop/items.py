import scraper


class Product(scraper.Item):
    name = scraper.Field()
    price = scraper.Field()
    currency = scraper.Field()
    url = scraper.Field()
