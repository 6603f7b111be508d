from itemadapter import ItemAdapter

import scraper


class Page(scraper.Item):
    title = scraper.Field()
    length = scraper.Field()


class LengthPipeline:
    def process_item(self, item, spider):
        adapter = ItemAdapter(item)
        adapter["length"] = len(adapter["title"])
        assert isinstance(item, Page)
        return item


class AdapterSpider(scraper.Spider):
    name = "item_adapter_pipeline"
    start_urls = ["http://__SITE__/about", "http://__SITE__/map"]
    custom_settings = {"ITEM_PIPELINES": {LengthPipeline: 10}}

    def parse(self, response):
        yield Page(title=response.css("title::text").get())
