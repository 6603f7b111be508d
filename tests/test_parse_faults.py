"""Parse-pool faults beyond a plain crash: a segfault, a MemoryError, a callback stuck where
PARSE_TIMEOUT's alarm cannot reach it, and cheap callbacks under the default settings. Each
faulty page ends in the failures file after PARSE_RETRY_TIMES retries; every other page is
exported."""

from __future__ import annotations

import pytest
from conftest import read_jsonl, run_in_process


def crawl_with_fault(tmp_path, site, settings, **spider_args):
    output = tmp_path / "out.jsonl"
    result = run_in_process(
        "fanout",
        output,
        {"PARSE_RETRY_TIMES": 1, "ROBOTSTXT_OBEY": False, **settings},
        start_urls=f"{site.base_urls[0]}/fanout/0",
        **spider_args,
    )
    nodes = sorted(int(item["node"].split()[-1]) for item in read_jsonl(output))
    failures = [(f["url"].rsplit("/", 1)[1], f["reason"]) for f in read_jsonl(result.failures)]
    return result, nodes, failures


@pytest.mark.parametrize(
    "fault, settings, kind",
    [
        ("segv_on", {}, "worker_died"),
        ("oom_on", {}, "worker_memory"),  # an allocation no machine has
        # Issue 11, item 14: 2 GiB, refused only by the worker's memory cap.
        ("hog_on", {"PARSE_MEMORY_LIMIT": 512 << 20}, "worker_memory"),
    ],
)
def test_a_page_that_crashes_its_worker_is_retried_then_recorded(
    tmp_path, demo_site, fault, settings, kind
):
    site = demo_site(hosts=1, rate=0, fanout=3, fanout_total=13)  # 4..12 are leaves
    result, nodes, failures = crawl_with_fault(
        tmp_path, site, {"PARSE_WORKERS": 1, **settings}, **{fault: "6"}
    )
    assert nodes == [n for n in range(13) if n != 6]
    assert failures == [("6", kind)]
    assert result.stats.counters["parse_retries"] == 1
    assert result.stats.errors == {kind: 1}


def test_a_callback_stuck_beyond_the_alarm_has_its_worker_killed(tmp_path, demo_site):
    """SIGALRM ignored, as in C code: past twice PARSE_TIMEOUT the worker is killed, the pool
    rebuilt, and the page recorded as a timeout."""
    site = demo_site(hosts=1, rate=0, fanout=3, fanout_total=13)
    result, nodes, failures = crawl_with_fault(
        tmp_path, site, {"PARSE_WORKERS": 1, "PARSE_TIMEOUT": 0.5}, hang_on="7"
    )
    assert nodes == [n for n in range(13) if n != 7]
    assert failures == [("7", "parse_timeout")]
    # The first try and the retry (on a loaded machine, a slow first callback may be too).
    assert result.stats.counters["parse_workers_killed"] >= 2


@pytest.mark.parametrize("fault", ["exit_on", "stall_on"])
def test_cheap_callbacks_keep_their_isolation_under_the_default_settings(
    tmp_path, demo_site, fault
):
    """Many cheap pages, then one whose callback kills its process or never returns: with the
    default settings it is still a worker that dies or is interrupted, not the crawl."""
    site = demo_site(hosts=1, rate=0, fanout=10, fanout_total=101)
    result, nodes, failures = crawl_with_fault(
        tmp_path, site, {"PARSE_WORKERS": 2, "PARSE_TIMEOUT": 0.5}, **{fault: "95"}
    )
    assert nodes == [n for n in range(101) if n != 95]
    assert failures == [("95", "worker_died" if fault == "exit_on" else "parse_timeout")]
    assert result.stats.counters["parsed_inline"] == 0
