"""The benchmark scenarios: the site, how it is served, and each runner's settings.

Settings are the same for our framework and Scrapy wherever the concept is the same (total
concurrency, per-host concurrency, per-host pacing, timeout, retries, no robots.txt), and
Scrapy's extras that would only cost it time are off (telnet console, cookies, AutoThrottle,
randomized delays). Scrapy keeps its default asyncio reactor. See README.md for the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .sites import SiteSpec, articles_for_pages_per_host, articles_per_host, listings_for

COMMON_OURS = {
    "LOG_LEVEL": "WARNING",
    "ROBOTSTXT_OBEY": "false",
    "DOWNLOAD_TIMEOUT": "10",
    "RETRY_TIMES": "2",
}
# Cheap callbacks in the main process, where Scrapy runs every callback: opt-in, since it gives
# up the workers' isolation (a callback that hangs or kills its process there stops the crawl).
# An extra row ("ours-inline") on the light scenarios, never the headline.
INLINE = {"PARSE_INLINE_BELOW": "0.001"}
COMMON_SCRAPY = {
    "LOG_LEVEL": "WARNING",
    "ROBOTSTXT_OBEY": "False",
    "TELNETCONSOLE_ENABLED": "False",
    "AUTOTHROTTLE_ENABLED": "False",
    "RANDOMIZE_DOWNLOAD_DELAY": "False",
    "COOKIES_ENABLED": "False",
    "DOWNLOAD_TIMEOUT": "10",
    "RETRY_TIMES": "2",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    site: SiteSpec
    work: str  # a name in benchmarks.workload.CALLBACKS
    ours: dict[str, str]
    scrapy: dict[str, str]
    delay: float = 0.0  # server latency per response
    rate: float = 0.0  # server-side per-host limit (requests/s), 429 above it
    burst: int = 0
    faults: bool = False  # served by the Python fault server
    tls: bool = False  # HTTPS only, a self-signed certificate no runner checks
    naive_rate: float = 0.0
    variants: dict[str, dict[str, str]] = field(default_factory=dict)  # extra "ours" runners
    timeout: float = 600.0
    repeat_cap: int = 0  # 0 = as asked; the scale run is long, so once by default
    note: str = ""

    def network_floor(self) -> float:
        """The least time any client can take over the site, in seconds, when every response
        comes ``delay`` late (0 when it does not): a host takes CONCURRENT_REQUESTS_PER_DOMAIN
        requests at once and the crawl CONCURRENT_REQUESTS, and a page is known only once the
        page linking to it has answered (the index, then its listings, then their articles).
        Start-up, transfer and parsing are left out, so it is a floor, not a forecast."""
        if not self.delay:
            return 0.0
        per_host = int(self.ours["CONCURRENT_REQUESTS_PER_DOMAIN"])
        total = int(self.ours["CONCURRENT_REQUESTS"])
        rounds, pages = 0.0, 0
        for articles in articles_per_host(self.site):
            listings = listings_for(articles, self.site.per_listing)
            pages += 1 + listings + articles
            # Round 1 is the index alone; no article goes out before round 3.
            rounds = max(rounds, 2 + math.ceil(articles / per_host),
                         1 + math.ceil((listings + articles) / per_host))  # fmt: skip
        return self.delay * max(rounds, pages / total)


def _both(**kw: str) -> tuple[dict[str, str], dict[str, str]]:
    return {**COMMON_OURS, **kw}, {**COMMON_SCRAPY, **kw}


def build(scale: float = 1.0) -> dict[str, Scenario]:
    def n(x: int, floor: int) -> int:
        return max(floor, round(x * scale))

    ours, scrapy = _both(CONCURRENT_REQUESTS="16", CONCURRENT_REQUESTS_PER_DOMAIN="8")
    heavy = Scenario(
        "heavy",
        SiteSpec(hosts=2, articles=n(1500, 6), page_bytes=90_000, per_listing=100, seed=11),
        "heavy",
        {**ours, "PARSE_WORKERS": "2"},
        scrapy,
        note="CPU-bound: BeautifulSoup(lxml), visible text, top-20 terms, simhash",
    )
    ours, scrapy = _both(CONCURRENT_REQUESTS="16", CONCURRENT_REQUESTS_PER_DOMAIN="16")
    fast = Scenario(
        "fast",
        SiteSpec(hosts=1, articles=n(5000, 6), page_bytes=10_000, per_listing=100, seed=12),
        "light",
        {**ours, "PARSE_WORKERS": "2"},
        scrapy,
        variants={"ours-pw0": {"PARSE_WORKERS": "0"}, "ours-inline": INLINE},
        note="light pages, one host, no delay",
    )
    ours, scrapy = _both(CONCURRENT_REQUESTS="160", CONCURRENT_REQUESTS_PER_DOMAIN="8")
    slow = Scenario(
        "slow",
        SiteSpec(hosts=20, articles=n(2000, 20), page_bytes=10_000, per_listing=100, seed=13),
        "light",
        {**ours, "PARSE_WORKERS": "2"},
        scrapy,
        delay=0.2,
        variants={"ours-pw0": {"PARSE_WORKERS": "0"}, "ours-inline": INLINE},
        note="IO-bound: every response 200 ms late, 20 hosts",
    )
    per_host = articles_for_pages_per_host(n(50, 3), per_listing=100)
    ours, scrapy = _both(CONCURRENT_REQUESTS="40", CONCURRENT_REQUESTS_PER_DOMAIN="2")
    polite = Scenario(
        "polite",
        SiteSpec(hosts=20, articles=20 * per_host, page_bytes=10_000, per_listing=100, seed=14),
        "light",
        # Scrapy's setting for both (as other harnesses give it); our rate limit is an extra row.
        {**ours, "DOWNLOAD_DELAY": "0.2", "PARSE_WORKERS": "2"},
        {**scrapy, "DOWNLOAD_DELAY": "0.2"},
        rate=5.0,
        burst=1,
        naive_rate=5.0,
        variants={"ours-rate": {"DOWNLOAD_DELAY": "0", "DOWNLOAD_RATE": "5"}},
        note="20 hosts, each limited server-side to 5 requests/s (429 above)",
    )
    ours, scrapy = _both(
        CONCURRENT_REQUESTS="32", CONCURRENT_REQUESTS_PER_DOMAIN="8", DOWNLOAD_TIMEOUT="2"
    )
    faults = Scenario(
        "faults",
        SiteSpec(
            hosts=4,
            articles=n(1000, 40),
            page_bytes=10_000,
            per_listing=100,
            seed=15,
            fault_rate=0.01,
        ),
        "light",
        {**ours, "PARSE_WORKERS": "2"},
        scrapy,
        faults=True,
        note="1% of articles each: 500 once, 503+Retry-After:1 for 1 s, reset, hang, truncate",
    )
    scale_ = replace(
        fast,
        name="scale",
        site=replace(fast.site, articles=n(50_000, 60), seed=16),
        variants={},
        timeout=1800.0,
        repeat_cap=1,
        note="the fast site at 10x: memory growth",
    )
    # The same sites with a second callback workload of another CPU profile (workload.py).
    heavy_lxml = replace(
        heavy,
        name="heavy-lxml",
        work="heavy_lxml",
        note="CPU-bound: lxml text, MinHash arithmetic, sentence statistics",
    )
    heavy_numpy = replace(
        heavy,
        name="heavy-numpy",
        work="heavy_numpy",
        note="CPU-bound: lxml text, a 128-permutation MinHash in numpy (imported in the callback)",
    )
    fast_soup = replace(
        fast,
        name="fast-soup",
        work="light_soup",
        variants={},
        note="light pages parsed with BeautifulSoup(lxml)",
    )
    slow_soup = replace(
        slow,
        name="slow-soup",
        work="light_soup",
        variants={},
        note="slow servers, pages parsed with BeautifulSoup(lxml)",
    )
    # The same workloads on sites of other shapes, never tuned on: a figure that holds only on
    # the shape the framework was measured on would not hold on someone else's site either.
    # Run with ``--scenarios shapes``; each keeps its base scenario's target.
    wide = {"CONCURRENT_REQUESTS": "100", "CONCURRENT_REQUESTS_PER_DOMAIN": "4"}
    one_each = {"CONCURRENT_REQUESTS": "16", "CONCURRENT_REQUESTS_PER_DOMAIN": "1"}
    shapes = (
        replace(
            heavy,
            name="heavy-30k",
            site=replace(heavy.site, articles=n(3000, 6), page_bytes=30_000, seed=45),
            note="the heavy workload on 30 KB pages: twice the pages a second to hand off",
        ),
        replace(
            fast,
            name="fast-3k",
            site=replace(
                fast.site, hosts=2, articles=n(6000, 6), page_bytes=3000, per_listing=50, seed=41
            ),
            variants={},
            note="3 KB pages on two hosts, 50 links a listing",
        ),
        replace(
            fast,
            name="fast-40k",
            site=replace(fast.site, articles=n(3000, 6), page_bytes=40_000, seed=42),
            variants={},
            note="40 KB light pages: batches capped by bytes, not pages",
        ),
        replace(
            fast,
            name="fast-links",
            site=replace(fast.site, related=100, seed=48),
            variants={},
            note="100 links to other articles on every article: 500,000 links, nearly all seen",
        ),
        replace(
            slow,
            name="slow-40h",
            site=replace(slow.site, hosts=40, articles=n(2400, 40), seed=43),
            delay=0.1,
            ours={**slow.ours, **wide},
            scrapy={**slow.scrapy, **wide},
            variants={},
            note="40 hosts, every response 100 ms late, 100 at once, 4 a host",
        ),
        replace(
            polite,
            name="polite-1",
            site=replace(polite.site, seed=44),
            ours={**polite.ours, **one_each},
            scrapy={**polite.scrapy, **one_each},
            variants={},
            note="the polite site, one request a host at a time",
        ),
        *(
            replace(
                base,
                name=f"{base.name}-tls",
                site=replace(base.site, seed=seed),
                tls=True,
                variants={},
                note=f"the {base.name} site over HTTPS: {what}",
            )
            for base, seed, what in (
                (fast, 46, "a TLS session per connection, every page encrypted"),
                (slow, 47, "a handshake on each of 160 connections"),
            )
        ),
    )
    return {
        s.name: s
        for s in (
            *shapes,
            heavy,
            heavy_lxml,
            heavy_numpy,
            fast,
            fast_soup,
            slow,
            slow_soup,
            polite,
            faults,
            scale_,
        )
    }


ORDER = ("heavy", "heavy-lxml", "heavy-numpy", "fast", "fast-soup", "slow", "slow-soup", "polite",
         "faults", "scale")  # fmt: skip
# Run with ``--scenarios shapes`` (not by default: the full run is long enough).
SHAPES = ("heavy-30k", "fast-3k", "fast-40k", "fast-links", "slow-40h", "polite-1", "fast-tls",
          "slow-tls")  # fmt: skip
# Every scenario in table order, each shape after its base scenario's twins.
ALL = tuple(sorted((*ORDER, *SHAPES), key=lambda n: ORDER.index(n.split("-")[0])))


def twins(base: str) -> list[str]:
    """``base`` and every scenario held to its target (``heavy``: heavy-lxml, heavy-30k...)."""
    return [n for n in ALL if n.split("-")[0] == base]
