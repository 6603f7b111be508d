from scraper import Selector, Spider
from scraper.selector import Selector as Selector2


class SelectorSpider(Spider):
    name = "selector_standalone"
    start_urls = ["http://__SITE__/product/7"]

    def parse(self, response):
        sel = Selector(response=response)
        text_sel = Selector2(text=response.text)
        yield {
            "name": sel.css("h2.name::text").get(),
            "same": text_sel.xpath("//h2/text()").get() == sel.xpath("//h2/text()").get(),
            "tags": sel.css("li.tag::text").re(r"x\d+"),
        }
