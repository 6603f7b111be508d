"""Test spider for the demo site's /fanout/ tree: one item per node, follows every link.

Spider arguments: start_urls; work_ms (CPU burned per page, to make parsing the bottleneck);
fail_on (comma list of node ids whose callback raises); exit_on (node ids whose callback kills
its worker process); stall_on (node ids whose callback loops forever); sleep_ms (time each
callback waits, GIL released, so callbacks running at once in one process would overlap; each
item says how many other callbacks of its process were running when its own began).
"""

import os
import time

from scraper import Spider


class FanoutSpider(Spider):
    name = "fanout"
    work_ms = "0"
    fail_on = ""
    exit_on = ""
    stall_on = ""
    sleep_ms = "0"
    running = 0

    def parse(self, response):
        parsed_at = time.monotonic()  # system-wide clock: comparable with the site's log
        overlap = self.running
        self.running += 1
        try:
            time.sleep(float(self.sleep_ms) / 1000)
        finally:
            self.running -= 1
        deadline = time.process_time() + float(self.work_ms) / 1000
        while time.process_time() < deadline:
            pass
        node = response.css("h1::text").get()
        number = node.split()[-1] if node else ""
        if number in self.fail_on.split(","):
            raise ValueError(f"boom on {node}")
        if number in self.exit_on.split(","):
            os._exit(3)
        while number in self.stall_on.split(","):
            pass
        yield {
            "url": response.url,
            "node": node,
            "pid": os.getpid(),
            "parsed_at": parsed_at,
            "overlap": overlap,
        }
        yield from response.follow_all(css="a")
