from scraper.spiders import SitemapSpider


class GzipSitemapSpider(SitemapSpider):
    name = "sitemap_gzip"
    sitemap_urls = ["http://__SITE__/sitemap_index.xml"]
    sitemap_follow = ["pages"]

    def parse(self, response):
        yield {"title": response.css("title::text").get(), "url": response.url}
