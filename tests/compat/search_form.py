from scraper import FormRequest, Spider


class SearchSpider(Spider):
    name = "search_form"
    start_urls = ["http://__SITE__/search"]

    def parse(self, response):
        yield FormRequest.from_response(
            response,
            formcss="form",
            formdata={"q": "Product 1"},
            clickdata={"name": "b"},
            callback=self.results,
        )

    def results(self, response):
        yield {
            "title": response.css("h1::text").get(),
            "hits": response.css("ul.res a::text").getall(),
        }
        yield from response.follow_all(css="ul.res a", callback=self.product)

    def product(self, response):
        yield {"product": response.css("h2.name::text").get()}
