from scraper.spiders import SitemapSpider


class RobotsSitemapSpider(SitemapSpider):
    name = "sitemap_robots"
    sitemap_urls = ["http://__SITE__/robots.txt"]
    sitemap_rules = [(r"/product/", "parse_product"), (r"/cat/", "parse_cat")]
    sitemap_follow = [r"products", r"pages"]

    def parse_product(self, response):
        yield {"product": response.css("h2.name::text").get()}

    def parse_cat(self, response):
        yield {"cat": response.css("h1::text").get()}
