"""Test spider for the summary's verdict: fetches the given URLs, and each callback burns
``burn`` seconds of CPU (a stand-in for heavy extraction) before it yields one item; with
``follow=1`` it also follows the page's links."""

import time

from scraper import Spider


class VerdictSpider(Spider):
    name = "verdict"
    burn = "0"
    follow = "0"

    def parse(self, response):
        until = time.process_time() + float(self.burn)
        while time.process_time() < until:
            pass
        yield {"url": response.url}
        if self.follow == "1":
            yield from response.follow_all(css="a")
