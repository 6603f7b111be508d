from itemadapter import ItemAdapter


class PricePipeline:
    def __init__(self, factor, currency):
        self.factor = factor
        self.currency = currency

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getfloat("PRICE_FACTOR"), crawler.settings.get("CURRENCY"))

    def process_item(self, item, spider):
        adapter = ItemAdapter(item)
        if adapter.get("price") is None:  # the project's other spiders' items
            return item
        adapter["price"] = round(float(adapter["price"]) * self.factor, 2)
        adapter["currency"] = self.currency
        return item
