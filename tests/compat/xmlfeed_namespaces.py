from scraper.spiders import XMLFeedSpider


class SitemapFeedSpider(XMLFeedSpider):
    name = "xmlfeed_namespaces"
    start_urls = ["http://__SITE__/sitemap_products.xml"]
    iterator = "xml"
    namespaces = [("s", "http://www.sitemaps.org/schemas/sitemap/0.9")]
    itertag = "s:url"

    def parse_node(self, response, node):
        node.register_namespace("s", "http://www.sitemaps.org/schemas/sitemap/0.9")
        yield {"loc": node.xpath("s:loc/text()").get(), "mod": node.xpath("s:lastmod/text()").get()}
