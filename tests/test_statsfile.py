"""STATS_DUMP_FILE: the summary's figures as JSON, matching what the server saw."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import urlsplit

from conftest import TEST_SPIDERS, run_cli


def test_stats_dump_file_holds_the_summary_figures(tmp_path, demo_site):
    site = demo_site(hosts=2, rate=0, latency=0.0, fanout=3, fanout_total=20)
    starts = ",".join(f"{base}/fanout/0" for base in site.base_urls)
    stats_file = tmp_path / "stats" / "crawl.json"
    result = run_cli(
        str(TEST_SPIDERS / "feed_items.py"),
        "-a",
        f"start_urls={starts}",
        "-O",
        str(tmp_path / "items.jsonl"),
        "-s",
        f"STATS_DUMP_FILE={stats_file}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(stats_file.read_text())
    seen = Counter(r.host for r in site.requests())
    by_host = {urlsplit(base).hostname: seen[urlsplit(base).hostname] for base in site.base_urls}
    assert record["reason"] == "finished"
    assert (record["pages"], record["items"]) == (40, 40)
    pages = [r for r in site.requests() if r.path.startswith("/fanout/")]
    assert record["http_statuses"] == {"200": len(pages)}
    assert record["requests_per_host"] == by_host
    assert record["counters"]["robots_requests"] == 2
    assert record["queued_left"] == 0 and record["errors"] == {}
    assert record["queues"]["response"]["max_items"] > 0
    assert record["summary"] == result.stderr.strip().splitlines()[-len(record["summary"]) :]
    assert record["verdict"] and record["verdict"] in record["summary"][-1]
    assert f"{record['pages']} pages, {record['items']} items" in record["summary"][0]
    # The tree's memory as PSS (Linux), in the file and in the summary's own words.
    assert record["memory_kind"] == "PSS" and record["memory_peak_bytes"] > 10 * 2**20
    megabytes = record["memory_peak_bytes"] / 2**20
    line = f"  memory: {megabytes:.0f} MB PSS at peak (main process"
    assert any(shown.startswith(line) for shown in record["summary"]), record["summary"]
