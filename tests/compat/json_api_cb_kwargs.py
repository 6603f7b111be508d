from scraper import Request, Spider


class ApiKwargsSpider(Spider):
    name = "json_api_cb_kwargs"
    start_urls = ["http://__SITE__/api/items?page=1"]

    def parse(self, response, page=1):
        data = response.json()
        for entry in data["items"]:
            yield {**entry, "page": page}
        if data["has_next"]:
            yield Request(
                response.urljoin(f"?page={page + 1}"),
                callback=self.parse,
                cb_kwargs={"page": page + 1},
            )
