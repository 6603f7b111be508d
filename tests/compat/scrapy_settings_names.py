from scraper import Spider


class SettingsNamesSpider(Spider):
    name = "scrapy_settings_names"
    start_urls = ["http://__SITE__/about"]
    custom_settings = {
        "FEED_EXPORT_ENCODING": "utf-8",
        "HTTPCACHE_ENABLED": False,
        "COOKIES_ENABLED": True,
        "DOWNLOAD_TIMEOUT": 20,
    }

    def parse(self, response):
        yield {
            "text": response.css("p.about::text").get(),
            "timeout": self.settings.getint("DOWNLOAD_TIMEOUT"),
            "encoding": self.settings.get("FEED_EXPORT_ENCODING"),
        }
