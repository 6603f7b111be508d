"""Test spider for the demo site's /fanout/ tree: one item per node, follows every link.

Spider arguments: start_urls; work_ms (CPU burned per page, to make parsing the bottleneck);
fail_on (comma list of node ids whose callback raises); exit_on (node ids whose callback kills
its worker process); segv_on (... crash it with a segmentation fault); oom_on (... raise
MemoryError from a huge allocation); hog_on (... allocate 2 GiB, which only a
PARSE_MEMORY_LIMIT below that refuses); stall_on (node ids whose callback loops forever); hang_on
(... loops forever with SIGALRM ignored, as if stuck in C code where PARSE_TIMEOUT's alarm cannot
interrupt it); sleep_ms (time each callback waits, GIL released, so callbacks running at once in
one process would overlap; each item says how many other callbacks of its process were running
when its own began); mesh (the number of nodes N: node n then links to the `fanout` nodes
(n * fanout + k + 1) mod N instead of its page's links, so every page yields `fanout` requests,
most of them duplicates).
"""

import ctypes
import os
import signal
import time

from scraper import Spider


class FanoutSpider(Spider):
    name = "fanout"
    work_ms = "0"
    fail_on = ""
    exit_on = ""
    stall_on = ""
    hang_on = ""
    segv_on = ""
    oom_on = ""
    hog_on = ""
    sleep_ms = "0"
    mesh = "0"
    fanout = "50"
    running = 0
    stateless = True  # counts overlapping callbacks per process, on purpose

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
        if number in self.segv_on.split(","):
            ctypes.string_at(0)
        if number in self.oom_on.split(","):
            bytearray(1 << 62)
        if number in self.hog_on.split(","):
            bytearray(2 << 30)  # untouched pages: cheap where nothing limits the address space
        if number in self.hang_on.split(","):
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while number in self.stall_on.split(",") or number in self.hang_on.split(","):
            pass
        yield {
            "url": response.url,
            "node": node,
            "pid": os.getpid(),
            "parsed_at": parsed_at,
            "overlap": overlap,
        }
        if int(self.mesh):
            n, width = int(number), int(self.fanout)
            for k in range(width):
                yield response.follow(f"/fanout/{(n * width + k + 1) % int(self.mesh)}")
        else:
            yield from response.follow_all(css="a")
