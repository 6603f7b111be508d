"""Scrapy's spider-middleware module paths, for the names spiders import from them."""
