from itemloaders.processors import Join, MapCompose, TakeFirst

from scraper import Field, Item, Spider
from scraper.loader import ItemLoader


class Product(Item):
    name = Field(output_processor=TakeFirst())
    price = Field(
        input_processor=MapCompose(lambda v: v.replace("$", ""), str.strip, float),
        output_processor=TakeFirst(),
    )
    tags = Field(input_processor=MapCompose(str.strip), output_processor=Join("|"))
    url = Field(output_processor=TakeFirst())


class LoaderSpider(Spider):
    name = "loader_processors"
    start_urls = ["http://__SITE__/product/1", "http://__SITE__/product/2"]

    def parse(self, response):
        loader = ItemLoader(item=Product(), response=response)
        loader.add_css("name", "h2.name::text")
        loader.add_xpath("price", "//p[@class='price']/text()")
        loader.add_css("tags", "li.tag::text")
        loader.add_value("url", response.url)
        yield loader.load_item()
