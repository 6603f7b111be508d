from scraper import Request
from scraper.spiders import XMLFeedSpider


class XmlIteratorSpider(XMLFeedSpider):
    name = "xmlfeed_xml_iterator"
    start_urls = ["http://__SITE__/feed.xml"]
    iterator = "xml"
    itertag = "item"

    def parse_node(self, response, node):
        link = node.xpath("link/text()").get()
        if link.endswith(("/1", "/3")):
            yield Request(link, callback=self.product)

    def product(self, response):
        yield {"name": response.css("h2.name::text").get()}
