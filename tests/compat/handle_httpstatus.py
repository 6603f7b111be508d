from scraper import Spider


class StatusSpider(Spider):
    name = "handle_httpstatus"
    handle_httpstatus_list = [404]
    start_urls = ["http://__SITE__/status/404", "http://__SITE__/nothing-here"]

    def parse(self, response):
        yield {
            "url": response.url,
            "status": response.status,
            "title": response.css("title::text").get(),
        }
