"""Pacing, judged by the site: a host's next request goes out at its ready time (the last send
plus DOWNLOAD_DELAY), never before and hardly after, on many hosts at once.

The frontier's own spacing is tested on a clock the test moves (test_frontier.py); this is the
whole crawl (``crawl``, fetch threads, the send hooks) against a site that records when each
request reached it, stamped by the kernel (tests/arrival_server.py), so a busy machine delaying
the site's own thread does not blur what the crawler did.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict

import pytest
from arrival_server import arrival_site
from conftest import TEST_SPIDERS, read_jsonl, run_cli

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="kernel receive timestamps (SO_TIMESTAMPNS) are Linux's"
)

HOSTS = 20
PAGES = 11  # per host: / and /p/1 ... /p/10, after robots.txt
DELAY = 0.2
# The median gap may exceed the delay by this: the time from a host's ready time to its next
# request on the wire (a thread woken, a lease, the request written), which is a fraction of a
# millisecond on an idle machine and a few on one running other tests.
MEDIAN_SLACK = 0.005


def test_each_host_is_paced_at_its_delay_server_side(tmp_path):
    with arrival_site(HOSTS, PAGES) as site:
        result = run_cli(
            str(TEST_SPIDERS / "fanout.py"),
            "-O", str(tmp_path / "out.jsonl"),
            "-a", "start_urls=" + ",".join(f"{base}/" for base in site.base_urls),
            "-s", f"DOWNLOAD_DELAY={DELAY}",
            "-s", "RANDOMIZE_DOWNLOAD_DELAY=False",
            "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1",
            cwd=tmp_path,
        )  # fmt: skip
        arrivals = site.arrivals()
    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(tmp_path / "out.jsonl")) == HOSTS * PAGES
    by_host = defaultdict(list)
    for arrival in arrivals:
        by_host[arrival.host].append(arrival)
    assert len(by_host) == HOSTS
    paced: list[float] = []
    for host, requests in by_host.items():
        requests.sort(key=lambda arrival: arrival.at)
        assert len(requests) == PAGES + 1  # robots.txt, then each page once
        pairs = list(zip(requests, requests[1:], strict=False))
        # Never below the delay, with no allowance: a stamp is taken inside the crawler's
        # write of the request (on loopback the kernel queues the bytes to this socket
        # there), and the host's next request is counted from after that write returned.
        # (The stamps are CLOCK_REALTIME, the crawler's clock CLOCK_MONOTONIC: both run at
        # the rate NTP sets; only a step of the wall clock would show.)
        gaps = [b.at - a.at for a, b in pairs]
        assert min(gaps) >= DELAY, (host, gaps)
        # The gap after / waits for its links to be parsed, not for the host's turn: every
        # other request was queued by its ready time.
        paced += [b.at - a.at for a, b in pairs if a.path != "/"]
    # Over all hosts: a host's few gaps can all fall in a moment when other processes hold
    # both cores.
    assert statistics.median(paced) <= DELAY + MEDIAN_SLACK, sorted(paced)
