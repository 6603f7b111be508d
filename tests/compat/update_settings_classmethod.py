from scraper import Spider


class UpdateSettingsSpider(Spider):
    name = "update_settings_classmethod"
    start_urls = ["http://__SITE__/"]

    @classmethod
    def update_settings(cls, settings):
        super().update_settings(settings)
        settings.set("DEPTH_LIMIT", 1, priority="spider")

    def parse(self, response):
        yield {"url": response.url, "depth": response.meta.get("depth", 0)}
        yield from response.follow_all(css="ul.cats a, a.next")
