"""``HttpError`` at Scrapy's path: what an errback's ``failure.value`` is for a response whose
status the spider does not handle (see failure.py)."""

from ..exceptions import HttpError

__all__ = ["HttpError"]
