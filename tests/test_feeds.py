"""Feeds: every format read back by its standard reader, after a normal run and after a
SIGKILL and a resume; ``-o PATH:FORMAT``; the FEEDS setting's options."""

from __future__ import annotations

import csv
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import TEST_SPIDERS, popen_cli, read_jsonl, run_cli

from scraper.feeds import URIParams, job_start_time

SPIDER = str(TEST_SPIDERS / "feed_items.py")
TOTAL = 30
FORMATS = ["jsonl", "json", "csv", "xml", "parquet"]


def read_back(path: Path, fmt: str) -> list[dict]:
    """The items as the format's standard reader sees them."""
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "json":
        return json.loads(path.read_text(encoding="utf-8"))
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    if fmt == "xml":
        root = ET.parse(path).getroot()
        assert root.tag == "items"
        return [{child.tag: child for child in item} for item in root]
    return pq.read_table(path).to_pylist()


def text_of(value: object) -> str:
    return value.text if isinstance(value, ET.Element) else str(value)  # type: ignore[return-value]


def crawl_args(site, out: str, *extra: str) -> list[str]:
    starts = ",".join(f"{base}/fanout/0" for base in site.base_urls)
    return [SPIDER, "-a", f"start_urls={starts}", "-s", "PARSE_WORKERS=1", "-O", out, *extra]


def expected_urls(site) -> set[str]:
    return {f"{base}/fanout/{i}" for base in site.base_urls for i in range(TOTAL)}


def assert_each_url_once(items: list[dict], site) -> None:
    urls = [text_of(item["url"]) for item in items]
    assert len(urls) == len(set(urls)), "duplicate items"
    assert set(urls) == expected_urls(site)


@pytest.fixture
def site(demo_site):
    return demo_site(hosts=2, rate=0, latency=0.005, fanout=3, fanout_total=TOTAL)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_with_its_standard_reader(tmp_path, site, fmt):
    out = tmp_path / f"items.{fmt}"
    result = run_cli(*crawl_args(site, str(out)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    items = read_back(out, fmt)
    assert_each_url_once(items, site)
    node4 = next(item for item in items if text_of(item["url"]).endswith("/fanout/4"))
    odd = next(item for item in items if text_of(item["url"]).endswith("/fanout/5"))
    if fmt in ("jsonl", "json", "parquet"):  # typed formats keep the types
        assert node4 == {
            "url": node4["url"],
            "node": 4,
            "tags": ["t1", "<&>"],
            "note": 'even, "quoted" 4',
            "score": 1.0,
        }
        assert odd["note"] is None
    elif fmt == "csv":
        assert list(node4) == ["url", "node", "tags", "note", "score"]
        assert (node4["node"], node4["tags"], node4["note"]) == (
            "4",
            '["t1", "<&>"]',
            node4["note"],
        )
        assert node4["note"] == 'even, "quoted" 4' and odd["note"] == ""
    else:
        assert [value.text for value in node4["tags"]] == ["t1", "<&>"]
        assert node4["note"].text == 'even, "quoted" 4'
        assert node4["score"].text == "1.0" and odd["note"].text is None
    assert not list(tmp_path.glob(".items*")), "a staging or temporary file was left"


def _journal_lines(job: Path) -> int:
    journal = job / "items.jsonl"
    return journal.read_bytes().count(b"\n") if journal.exists() else 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_is_whole_and_exactly_once_after_sigkill_and_resume(tmp_path, demo_site, fmt):
    # Slow enough that the kill lands mid-crawl: one request at a time per host.
    site = demo_site(hosts=2, rate=0, latency=0.05, fanout=3, fanout_total=TOTAL)
    out, job = tmp_path / f"items.{fmt}", tmp_path / "job"
    args = crawl_args(
        site, str(out), "--jobdir", str(job), "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"
    )
    process = popen_cli(*args, cwd=tmp_path)
    deadline = time.monotonic() + 30
    while _journal_lines(job) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the crawl ended before it could be killed"
    process.kill()
    process.communicate(timeout=30)
    assert not out.exists()  # assembled only at the end of a run: never half a file
    # A page written to the journal but not acknowledged when killed is done again: its items
    # come twice under the same keys. Make sure this run has one such page.
    journal = job / "items.jsonl"
    with open(journal, "rb+") as fh:
        first = fh.readline()
        fh.seek(0, 2)
        fh.write(first)
    resumed = run_cli(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr
    assert_each_url_once(read_back(out, fmt), site)


def test_a_killed_run_without_a_job_folder_leaves_the_previous_file_whole(tmp_path, demo_site):
    site = demo_site(hosts=2, rate=0, latency=0.05, fanout=3, fanout_total=TOTAL)
    out = tmp_path / "items.json"
    out.write_text('[{"earlier": 1}]\n')
    process = popen_cli(
        *crawl_args(site, str(out), "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"), cwd=tmp_path
    )
    staging = tmp_path / ".items.json.staging.jsonl"
    deadline = time.monotonic() + 30
    while (not staging.exists() or staging.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None
    process.kill()
    process.communicate(timeout=30)
    assert json.loads(out.read_text()) == [{"earlier": 1}]
    assert read_jsonl(staging)  # the items fetched are kept, whole lines


def test_path_colon_format_overrides_the_extension(tmp_path, site):
    out = tmp_path / "items.txt"
    result = run_cli(*crawl_args(site, f"{out}:csv"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open(out, newline="") as fh:
        assert_each_url_once(list(csv.DictReader(fh)), site)


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_o_adds_to_an_existing_file_of_any_format(tmp_path, site, fmt):
    out = tmp_path / f"items.{fmt}"
    for _ in range(2):
        args = [a if a != "-O" else "-o" for a in crawl_args(site, str(out))]
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    urls = [text_of(item["url"]) for item in read_back(out, fmt)]
    assert sorted(urls) == sorted(list(expected_urls(site)) * 2)


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_o_with_a_job_folder_keeps_what_the_file_held_once_across_runs(tmp_path, site, fmt):
    """-o --jobdir: each run rewrites the feed from the journal after what the file held when
    the job began (a copy in the job folder), so a rerun of the job neither loses that nor
    repeats it, in every format."""
    out = tmp_path / f"items.{fmt}"
    first = [a if a != "-O" else "-o" for a in crawl_args(site, str(out))]
    assert run_cli(*first, cwd=tmp_path).returncode == 0  # what the file holds before the job
    job = [*first, "--jobdir", str(tmp_path / "job")]
    for _ in range(2):  # the job, then the same command again once it is done
        result = run_cli(*job, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        urls = [text_of(item["url"]) for item in read_back(out, fmt)]
        assert sorted(urls) == sorted(list(expected_urls(site)) * 2)


def test_feeds_setting_writes_several_outputs_with_their_options(tmp_path, site):
    feeds = {
        "out/%(name)s.csv": {"fields": ["node", "url"], "encoding": "latin-1"},
        "out/%(name)s-%(batch_id)d.json": {"batch_item_count": 25, "indent": 2},
        "out/typed.parquet": {"row_group_size": 10, "fields": ["url", "node", "score"]},
        "out/all.data": {"format": "xml"},
    }
    starts = ",".join(f"{base}/fanout/0" for base in site.base_urls)
    result = run_cli(
        SPIDER,
        "-a",
        f"start_urls={starts}",
        "-s",
        "PARSE_WORKERS=1",
        "-s",
        f"FEEDS={json.dumps(feeds)}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert not (tmp_path / "output").exists()  # FEEDS alone: no default output
    with open(out / "feed_items.csv", encoding="latin-1", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["node", "url"]
    assert_each_url_once(rows, site)
    batches = sorted(out.glob("feed_items-*.json"))
    assert [p.name for p in batches] == [
        "feed_items-1.json",
        "feed_items-2.json",
        "feed_items-3.json",
    ]
    sizes = [len(json.loads(p.read_text())) for p in batches]
    assert sizes == [25, 25, 10]
    assert batches[0].read_text().startswith('[\n{\n  "url"')  # indent 2
    assert_each_url_once([i for p in batches for i in json.loads(p.read_text())], site)
    parquet = pq.ParquetFile(out / "typed.parquet")
    assert parquet.metadata.num_row_groups == 6  # 60 rows in groups of 10: memory bounded
    assert parquet.schema_arrow.names == ["url", "node", "score"]
    assert_each_url_once(read_back(out / "typed.parquet", "parquet"), site)
    assert_each_url_once(read_back(out / "all.data", "xml"), site)


def test_a_missing_pyarrow_is_one_line_naming_the_install_command(tmp_path, site):
    blocker = tmp_path / "no_pyarrow"
    (blocker / "pyarrow").mkdir(parents=True)
    (blocker / "pyarrow" / "__init__.py").write_text("raise ImportError('no pyarrow here')\n")
    result = run_cli(
        *crawl_args(site, str(tmp_path / "items.parquet")),
        cwd=tmp_path,
        env={"PYTHONPATH": str(blocker)},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "crawl: error: the parquet format needs pyarrow: pip install 'scraper[parquet]'"
    ]
    assert site.requests() == []  # said before the crawl, not after it


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ({"a.json": {"colour": 1}}, "FEEDS['a.json']: unknown option 'colour'"),
        ({"a.json": {"format": "yaml"}}, "FEEDS['a.json']: unknown format 'yaml'"),
        ({"a.json": {"batch_item_count": 5}}, "batch_item_count needs %(batch_id)d"),
        ({"a.json": {"encoding": "nope"}}, "unknown encoding 'nope'"),
        ({"s3://bucket/a.json": {}}, "only local files are supported"),
        ({"%(nothing)s.json": {}}, "the spider has no nothing"),
        ({"a.json": {"item_classes": ["nowhere.Item"]}}, "cannot import a class 'nowhere.Item'"),
    ],
)
def test_a_bad_feed_is_one_clear_line(tmp_path, feeds, message):
    result = run_cli(SPIDER, "-s", f"FEEDS={json.dumps(feeds)}", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("crawl: error: ") and message in lines[0]


def test_o_onto_a_file_not_in_its_format_is_refused_before_the_crawl(tmp_path, site):
    out = tmp_path / "items.json"
    out.write_text('{"not": "an array"')
    args = [a if a != "-O" else "-o" for a in crawl_args(site, str(out))]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"crawl: error: cannot add to {out}: it is not a valid json file"
    ]
    assert site.requests() == []
    assert out.read_text() == '{"not": "an array"'


def test_uri_parameters_and_a_jobs_start_time_that_holds_across_its_runs(tmp_path):
    class Shop:
        name = "shop"
        region = "eu"

    params = URIParams(Shop(), 0.0)
    rendered = params.render("file://out/%(name)s-%(region)s-%(time)s-%(batch_id)03d.csv", 7)
    assert rendered == Path("out/shop-eu-1970-01-01T00-00-00-007.csv")
    job = tmp_path / "job"
    first = job_start_time(job)
    assert job_start_time(job) == first  # a resumed job writes the same %(time)s files


SHOP_ITEMS = """from scraper import Field, Item


class Product(Item):
    url = Field()


class Offer(Product):  # a Product too: a feed of Products takes it
    price = Field()


class Review(Item):
    url = Field()
"""

SHOP_SPIDER = """from shop_items import Offer, Product, Review

from scraper import Spider


class Shop(Spider):
    name = "shop"
    start_urls = []
    custom_settings = {
        "FEEDS": {
            "products.jsonl": {"item_classes": [Product]},
            "reviews.csv": {"item_classes": ["shop_items.Review"]},
            "everything.json": {},
        }
    }

    def parse(self, response):
        yield Product(url=response.url)
        yield Offer(url=response.url, price=3)
        yield Review(url=response.url)
"""


@pytest.mark.parametrize("jobdir", [False, True])
def test_item_classes_send_each_feed_only_its_classes_and_their_subclasses(tmp_path, site, jobdir):
    (tmp_path / "shop_items.py").write_text(SHOP_ITEMS)
    (tmp_path / "shop.py").write_text(SHOP_SPIDER)
    start = site.base_urls[0] + "/fanout/0"
    args = ["shop.py", "-a", f"start_urls={start}"]
    result = run_cli(*args, *(["--jobdir", "job"] if jobdir else []), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_jsonl(tmp_path / "products.jsonl") == [
        {"url": start},
        {"url": start, "price": 3},
    ]
    assert read_back(tmp_path / "reviews.csv", "csv") == [{"url": start}]
    assert len(read_back(tmp_path / "everything.json", "json")) == 3
