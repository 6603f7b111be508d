"""Offline demo news site on loopback hosts, for the README crawl, the tests and benchmarks."""

from scraper.demo.content import Article
from scraper.demo.server import DemoSite, RequestRecord, serves_demo_site

__all__ = ["Article", "DemoSite", "RequestRecord", "serves_demo_site"]
