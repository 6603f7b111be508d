BOT_NAME = "shop"
SPIDER_MODULES = ["shop.spiders"]
NEWSPIDER_MODULE = "shop.spiders"

ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOADER_MIDDLEWARES = {"shop.middlewares.ShopDownloaderMiddleware": 543}
ITEM_PIPELINES = {"shop.pipelines.PricePipeline": 300}
PRICE_FACTOR = 3
CURRENCY = "EUR"
FEED_EXPORT_ENCODING = "utf-8"
