from scraper import Spider


class FollowAllSpider(Spider):
    name = "follow_all_kwargs"
    start_urls = ["http://__SITE__/"]

    def parse(self, response):
        for link in response.css("ul.cats a"):
            yield response.follow(
                link,
                callback=self.category,
                cb_kwargs={"label": link.css("::text").get()},
                meta={"depth_seen": response.meta.get("depth", 0)},
            )

    def category(self, response, label):
        yield {"label": label, "url": response.url}
        yield from response.follow_all(
            response.css("li.product a"), callback=self.product, cb_kwargs={"label": label}
        )

    def product(self, response, label):
        yield {"label": label, "name": response.css("h2.name::text").get()}
