import json

import scraper


class ApiSpider(scraper.Spider):
    name = "json_api_self_page"
    page = 1

    async def start(self):
        yield scraper.Request(f"http://__SITE__/api/items?page={self.page}")

    def parse(self, response):
        data = json.loads(response.text)
        for entry in data["items"]:
            yield {"id": entry["id"], "label": entry["label"], "page": self.page}
        if data["has_next"]:
            self.page += 1
            yield scraper.Request(
                f"http://__SITE__/api/items?page={self.page}", callback=self.parse
            )
