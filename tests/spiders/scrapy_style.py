"""A spider written for Scrapy, using only the shared API; only its import line was changed
(from ``from scrapy import Request, Spider``). ``-a sites=URL,URL`` names the start pages (a
plain string in both frameworks). The tests run it under Scrapy too, with that line changed
back."""

from scraper import Request, Spider


class DemoNewsSpider(Spider):
    name = "scrapy_style"
    custom_settings = {"DOWNLOAD_DELAY": 0.12, "CONCURRENT_REQUESTS_PER_DOMAIN": 1}

    async def start(self):
        for url in self.sites.split(","):
            yield Request(url, callback=self.parse, meta={"origin": url})

    def parse(self, response):
        for link in response.css("nav.main-nav a"):
            yield response.follow(
                link,
                callback=self.parse_section,
                cb_kwargs={"section": link.css("::text").get().lower()},
                meta={"origin": response.meta["origin"]},
            )

    def parse_section(self, response, section):
        for href in response.css("li.teaser h2 a::attr(href)").getall():
            yield response.follow(
                href, callback=self.parse_article, cb_kwargs={"section": section}, priority=1
            )
        next_page = response.css("a.next::attr(href)").get()
        if next_page is not None:
            yield response.follow(
                next_page,
                callback=self.parse_section,
                cb_kwargs={"section": section},
                meta=response.meta,
            )

    def parse_article(self, response, section):
        yield {
            "url": response.url,
            "title": response.css("article h1::text").get(),
            "authors": response.xpath("//a[@rel='author']/text()").getall(),
            "published": response.css("time::attr(datetime)").get(),
            "section": section,
            "status": response.status,
        }
