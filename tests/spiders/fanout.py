"""Test spider for the demo site's /fanout/ tree: one item per node, follows every link.

Spider arguments: start_urls; work_ms (CPU burned per page, to make parsing the bottleneck);
fail_on (comma list of node ids whose callback raises).
"""

import os
import time

from scraper import Spider


class FanoutSpider(Spider):
    name = "fanout"
    work_ms = "0"
    fail_on = ""

    def parse(self, response):
        parsed_at = time.monotonic()  # system-wide clock: comparable with the site's log
        deadline = time.process_time() + float(self.work_ms) / 1000
        while time.process_time() < deadline:
            pass
        node = response.css("h1::text").get()
        if node and node.split()[-1] in self.fail_on.split(","):
            raise ValueError(f"boom on {node}")
        yield {"url": response.url, "node": node, "pid": os.getpid(), "parsed_at": parsed_at}
        yield from response.follow_all(css="a")
