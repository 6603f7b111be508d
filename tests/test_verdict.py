"""The end-of-crawl verdict names the stage that set the pace.

Each regime is checked twice: the classifier on the shares that define it, and (for the regimes a
test can put a crawl in whatever the machine's load) a real crawl built to be in that state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.stats import (
    CPU_BOUND,
    MAIN_BOUND,
    NETWORK_AT_HOST_LIMITS,
    NETWORK_BOUND,
    POLITENESS_BOUND,
    Load,
)
from tests.conftest import run_in_process
from tests.mockserver import MockServer

QUIET = {"fetch": 0.05, "polite": 0.0, "blocked": 0.0, "parse": 0.05, "main": 0.1}


def load(**shares: float) -> Load:
    return Load(**{**QUIET, **shares})


def test_workers_busy_behind_a_full_queue_is_cpu_bound() -> None:
    assert load(blocked=0.8, parse=0.95).verdict() == CPU_BOUND
    assert load(parse=0.9).verdict() == CPU_BOUND


def test_a_full_queue_beside_idle_workers_is_the_hand_off() -> None:
    # The slow crawl: queue full, workers 14 % busy, main process at half a core.
    verdict = load(blocked=0.6, parse=0.14, main=0.52, fetch=0.3).verdict()
    assert verdict.startswith("hand-off-bound")
    assert "14%" in verdict


def test_a_full_core_in_the_main_process_is_main_bound() -> None:
    assert load(main=0.95, fetch=0.5).verdict() == MAIN_BOUND
    assert load(main=0.95, blocked=0.5, parse=0.2).verdict() == MAIN_BOUND
    # The light-page benchmark's crawl (benchmarks/README.md): as fast as a single-threaded
    # loop, the main process at 80 % of a core, fetch threads half busy, workers 18 %.
    assert load(main=0.80, fetch=0.48, parse=0.18).verdict() == MAIN_BOUND


def test_saturated_fetch_threads_are_network_bound() -> None:
    assert load(fetch=0.9).verdict() == NETWORK_BOUND
    # slow-40h's crawl (benchmarks/README.md): 100 threads, 40 hosts taking 4 each.
    assert load(fetch=0.9, polite=0.01, host_slots=160, threads=100).verdict() == NETWORK_BOUND


def test_saturated_threads_no_more_than_the_hosts_take_are_at_the_hosts_limits() -> None:
    # The slow benchmark: 160 threads, 20 hosts taking 8 each; more threads gave no more speed.
    verdict = load(fetch=0.82, polite=0.02, host_slots=160, threads=160).verdict()
    assert verdict == NETWORK_AT_HOST_LIMITS


def test_threads_idle_while_requests_wait_for_their_host_are_politeness_bound() -> None:
    # The same crawl with 200 threads: 65 % on the network, 19 % idle with requests queued for
    # hosts at their limit. Neither share alone passes its mark; together they fill the threads.
    assert load(fetch=0.65, polite=0.19, host_slots=160, threads=200).verdict() == (
        POLITENESS_BOUND
    )


def test_threads_waiting_on_host_delays_are_politeness_bound() -> None:
    assert load(polite=0.9, fetch=0.02).verdict() == POLITENESS_BOUND


def test_idle_threads_with_nothing_queued_are_latency_bound() -> None:
    assert load().verdict().startswith("latency-bound")


@pytest.fixture(scope="module")
def server():
    with MockServer(hosts=2) as mock:
        yield mock


def crawl_load(tmp_path: Path, urls: list[str], pages: int = 0, **settings: object) -> Load:
    values = {"ROBOTSTXT_OBEY": False, **settings}
    spider_args = {"burn": str(values.pop("burn", 0)), "follow": "1" if pages else "0"}
    result = run_in_process(
        "verdict", tmp_path / "out.jsonl", values, start_urls=",".join(urls), **spider_args
    )
    assert result.stats.counters["items"] == (pages or len(urls))
    return Load.measure(
        result.stats,
        int(values["CONCURRENT_REQUESTS"]),
        int(values["PARSE_WORKERS"]),
        result.response_queue,
        int(values.get("CONCURRENT_REQUESTS_PER_DOMAIN", 2)),  # the setting's default
    )


def test_a_crawl_with_one_worker_burning_cpu_is_cpu_bound(tmp_path: Path, server) -> None:
    urls = [server.url(f"/page/p{i}") for i in range(60)]
    measured = crawl_load(
        tmp_path, urls, burn=0.05, PARSE_WORKERS=1, CONCURRENT_REQUESTS=4, RESPONSE_QUEUE_SIZE=2
    )
    assert measured.verdict() == CPU_BOUND, measured


def test_a_crawl_of_slow_servers_with_few_threads_is_network_bound(tmp_path: Path, server) -> None:
    urls = [server.url(f"/slow/0.3?n={i}", host=i % 2) for i in range(24)]
    measured = crawl_load(
        tmp_path, urls, PARSE_WORKERS=0, CONCURRENT_REQUESTS=4, CONCURRENT_REQUESTS_PER_DOMAIN=4
    )
    assert measured.verdict() == NETWORK_BOUND, measured


def test_slow_servers_at_their_concurrency_limit_are_not_helped_by_more_threads(
    tmp_path: Path, server
) -> None:
    urls = [server.url(f"/slow/0.3?n={i}", host=i % 2) for i in range(24)]
    # As many threads as the two hosts take (2 each): all busy, and more would only wait.
    measured = crawl_load(tmp_path / "even", urls, PARSE_WORKERS=0, CONCURRENT_REQUESTS=4)
    assert measured.verdict() == NETWORK_AT_HOST_LIMITS, measured
    # Twice as many: half of them idle while the queue waits for the hosts.
    urls = [server.url(f"/slow/0.3?m={i}", host=i % 2) for i in range(24)]
    measured = crawl_load(tmp_path / "more", urls, PARSE_WORKERS=0, CONCURRENT_REQUESTS=8)
    assert measured.polite > 0.3, measured
    assert measured.verdict() == POLITENESS_BOUND, measured


def test_threads_that_waited_for_the_first_page_were_idle_not_held_back(tmp_path, server):
    # Seven of eight threads wait 0.6 s for the start page with nothing queued; its ten links
    # are queued when they wake. That wait was discovery's, not the host's limit.
    links = ",".join(f"d{i}" for i in range(10))
    measured = crawl_load(
        tmp_path, [server.url(f"/slow/0.6?links={links}")], pages=11, PARSE_WORKERS=0,
        CONCURRENT_REQUESTS=8, CONCURRENT_REQUESTS_PER_DOMAIN=8,
    )  # fmt: skip
    assert measured.polite < 0.1, measured
    assert measured.verdict().startswith("latency-bound"), measured


def test_a_crawl_of_one_host_with_a_delay_is_politeness_bound(tmp_path: Path, server) -> None:
    urls = [server.url(f"/page/q{i}") for i in range(8)]
    measured = crawl_load(
        tmp_path, urls, PARSE_WORKERS=0, CONCURRENT_REQUESTS=4, DOWNLOAD_DELAY=0.3
    )
    assert measured.verdict() == POLITENESS_BOUND, measured
