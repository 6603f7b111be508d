"""Spider classes at Scrapy's import path (``scraper.spiders``): the base ``Spider`` and the
generic spiders built on it."""

from ..spider import Spider
from .crawl import CrawlSpider, Rule
from .feed import CSVFeedSpider, XMLFeedSpider
from .sitemap import SitemapSpider

__all__ = ["CSVFeedSpider", "CrawlSpider", "Rule", "SitemapSpider", "Spider", "XMLFeedSpider"]
