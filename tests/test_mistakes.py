"""A user's and a spider's mistakes, through the real command against the fault server: each
is one failure line or one warning, and costs nothing else (issue 11, items 4, 5, 8, 12, 13).

One crawl serves several tests: its start URLs are an upper-case ``HTTP://`` page, an
``ftp://`` URL and one with a port out of range; its callback yields a stray string between
its items, an item holding NaN and infinity, and follows a page of links one of which is not a
URL and one of which has a port out of range.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import read_jsonl, run_cli
from mockserver import MockServer

SPIDER = """
import math
from scraper import Spider

class Mistakes(Spider):
    name = "mistakes"

    def parse(self, response):
        yield {"url": response.url, "n": 1}
        yield "a string yielded by mistake"
        yield {"url": response.url, "n": 2, "price": math.nan, "ratios": [math.inf, 0.5]}
        yield from response.follow_all(css="a")
"""


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mistakes")
    (tmp / "mistakes.py").write_text(SPIDER)
    with MockServer(hosts=1) as server:
        base = server.hosts[0]
        links = ["/page/two", "http://[::1/x", base.replace(base.rsplit(":", 1)[1], "99999/far")]
        start = (
            "HTTP://"
            + base.removeprefix("http://")
            + "/page/start?to="
            + quote(",".join(links), safe="/")
        )
        starts = [start, "ftp://127.0.0.2/file", base.rsplit(":", 1)[0] + ":99999/start"]
        result = run_cli(
            "mistakes.py",
            *("-O", str(tmp / "out.jsonl"), "-a", "start_urls=" + ",".join(starts)),
            *("-s", "PARSE_WORKERS=1"),
            cwd=tmp,
        )
        served = [r["path"] for r in server.log()]
    return {
        "result": result,
        "stderr": result.stderr,
        "served": served,
        "output": tmp / "out.jsonl",
        "failures": read_jsonl(tmp / "out.failures.jsonl"),
        "starts": starts,
        "links": links,
    }


def _summary_errors(stderr: str) -> Counter[str]:
    line = next(line for line in stderr.splitlines() if line.startswith("  errors: "))
    text = line.removeprefix("  errors: ")
    if text == "none":
        return Counter()
    return Counter({kind: int(n) for kind, n in (part.split() for part in text.split(", "))})


def test_the_crawl_ends_cleanly_and_the_summary_counts_the_failures_file(mistakes):
    assert mistakes["result"].returncode == 0, mistakes["stderr"]
    assert "Traceback" not in mistakes["stderr"]
    reasons = Counter(f["reason"] for f in mistakes["failures"])
    assert _summary_errors(mistakes["stderr"]) == reasons
    assert reasons == {"unsupported_scheme": 1, "invalid_url": 2}


def test_an_upper_case_scheme_start_url_is_crawled(mistakes):
    """Item 5: ``HTTP://`` start URLs were filtered as another scheme."""
    assert sorted(p.split("?")[0] for p in mistakes["served"] if p.startswith("/page/")) == [
        "/page/start",
        "/page/two",
    ]


def test_a_start_url_of_another_scheme_is_a_failure_and_a_warning(mistakes):
    """Item 5: ``ftp://`` start URLs vanished, counted only as scheme_filtered."""
    (ftp,) = [f for f in mistakes["failures"] if f["url"].startswith("ftp:")]
    assert ftp["reason"] == "unsupported_scheme" and "'ftp'" in ftp["detail"]
    assert "WARNING: not crawling ftp://127.0.0.2/file: unsupported_scheme" in mistakes["stderr"]


def test_urls_no_request_can_go_to_are_failures_not_tracebacks(mistakes):
    """Item 8: a port out of range (a start URL, a link) is invalid_url; an href that is no
    URL at all is skipped with one warning, and the page's other links are followed."""
    invalid = {f["url"]: f for f in mistakes["failures"] if f["reason"] == "invalid_url"}
    start, link = mistakes["starts"][2], mistakes["links"][2]
    assert set(invalid) == {start, link}
    assert invalid[link]["detail"] == "Port out of range 0-65535"
    assert invalid[link]["referer"].endswith(
        "/page/start?to=" + quote(",".join(mistakes["links"]), safe="/")
    )
    assert mistakes["stderr"].count("skipped 1 link(s) that are not valid URLs") == 1


def test_items_after_a_stray_value_are_kept_and_the_value_counted(mistakes):
    """Item 13: a string yielded by mistake lost every item after it."""
    items = read_jsonl(mistakes["output"])
    assert sorted((i["url"].split("?")[0].rsplit("/", 1)[1], i["n"]) for i in items) == [
        ("start", 1),
        ("start", 2),
        ("two", 1),
        ("two", 2),
    ]
    stderr = mistakes["stderr"]
    assert stderr.count("callback yielded a str from parse") == 1  # two pages, said once
    assert (
        "values yielded that are neither items nor requests (ignored): 2 (str from parse: 2)"
        in stderr
    )


def test_nan_and_infinity_are_written_as_null_with_the_field_named_once(mistakes):
    """Item 4: a bare NaN token made the line invalid for strict JSON readers."""

    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    lines = mistakes["output"].read_text().splitlines()
    items = [json.loads(line, parse_constant=refuse) for line in lines]
    second = [i for i in items if i["n"] == 2]
    assert len(second) == 2
    assert all(i["price"] is None and i["ratios"] == [None, 0.5] for i in second)
    stderr = mistakes["stderr"]
    assert stderr.count("item field price is NaN or infinite: written as null") == 1
    assert stderr.count("item field ratios[0] is NaN or infinite: written as null") == 1


def test_the_exporter_writes_strict_json_lines(tmp_path: Path):
    """Item 4, at the exporter: nested NaN and infinities too, and the rest as it was."""
    from scraper.export import JsonLinesExporter

    exporter = JsonLinesExporter(tmp_path / "out.jsonl")
    exporter.write([{"a": float("-inf"), "b": {"c": [1.5, float("nan")]}, "d": "NaN"}])
    exporter.close()
    text = (tmp_path / "out.jsonl").read_text()
    assert text == '{"a": null, "b": {"c": [1.5, null]}, "d": "NaN"}\n'
