from scraper.spiders import SitemapSpider


class AlternateSpider(SitemapSpider):
    name = "sitemap_alternate"
    sitemap_urls = ["http://__SITE__/sitemap_products.xml"]
    sitemap_alternate_links = True

    def sitemap_filter(self, entries):
        for entry in entries:
            if entry.get("lastmod", "") >= "2024-01-02":
                yield entry

    def parse(self, response):
        yield {"url": response.url}
