from itemloaders.processors import Identity, MapCompose, TakeFirst

import scraper
from scraper.loader import ItemLoader


class Product(scraper.Item):
    name = scraper.Field()
    tags = scraper.Field(output_processor=Identity())
    related = scraper.Field()


class ProductLoader(ItemLoader):
    default_item_class = Product
    default_output_processor = TakeFirst()
    name_in = MapCompose(str.upper)


class LoaderSubclassSpider(scraper.Spider):
    name = "loader_subclass"
    start_urls = ["http://__SITE__/product/3"]

    def parse(self, response):
        loader = ProductLoader(response=response)
        loader.add_css("name", "h2.name::text")
        loader.add_css("tags", "li.tag::text", MapCompose(str.strip))
        related = loader.nested_css("div.related")
        related.add_css("related", "a::attr(href)")
        yield loader.load_item()
