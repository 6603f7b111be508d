from scraper.spiders import XMLFeedSpider


class FeedSpider(XMLFeedSpider):
    name = "xmlfeed"
    start_urls = ["http://__SITE__/feed.xml"]
    itertag = "item"

    def parse_node(self, response, node):
        yield {
            "title": node.xpath("title/text()").get(),
            "link": node.xpath("link/text()").get(),
            "category": node.xpath("category/text()").get(),
        }
