"""Signal names, as Scrapy's ``scrapy.signals``: connect handlers with
``crawler.signals.connect(handler, signal=signals.spider_closed)``.

Flow position: sent from the main process (see crawler.py for which stage sends which), never
in a parse worker.
"""

spider_opened = object()
spider_closed = object()
item_scraped = object()
item_dropped = object()
request_scheduled = object()
response_received = object()
spider_idle = object()
