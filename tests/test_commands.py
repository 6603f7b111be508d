"""The spider developer's commands: shell (scripted), startproject, genspider, check; and the
README's "Developing a spider" walk-through, every command of it, against the demo site."""

from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import ROOT, read_jsonl, run_cli

CONTRACTS_SPIDER = '''
from scraper import Spider


class Contracted(Spider):
    name = "contracted"

    def parse(self, response):
        """@url {url}
        @returns items 2
        @scrapes url title
        """
        yield {{"url": response.url, "title": None}}

    def parse_page(self, response, kind):
        """Checks cb_kwargs reach the callback.

        @url {url}
        @cb_kwargs {{"kind": "front"}}
        @returns items 1 1
        @returns requests 0 0
        @scrapes url kind
        """
        yield {{"url": response.url, "kind": kind}}
'''


def test_shell_runs_code_on_the_fetched_page_and_prints_it(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0)
    base = site.base_urls[0]
    result = run_cli("shell", f"{base}/", "-c", 'response.css("title::text").get()', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Harbor News | Latest news\n"
    statements = (
        f'r = fetch("{base}/robots.txt"); print(response is r, response.status, request.url)'
    )
    again = run_cli("shell", "-c", statements, cwd=tmp_path)
    assert again.stdout == f"True 200 {base}/robots.txt\n", again.stderr
    page = tmp_path / "page.html"
    page.write_text("<html><title>from a file</title></html>")
    local = run_cli("shell", str(page), "-c", "response.css('title::text').get()", cwd=tmp_path)
    assert local.stdout == "from a file\n", local.stderr
    viewed = run_cli("shell", str(page), "-c", "view(response)", cwd=tmp_path)
    shown = Path(viewed.stdout.splitlines()[0])
    assert shown.read_text() == page.read_text()
    shown.unlink()


def test_shell_uses_the_settings_user_agent(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0)
    code = "response.status"
    result = run_cli(
        "shell", f"{site.base_urls[0]}/", "-s", "USER_AGENT=probe/1", "-c", code, cwd=tmp_path
    )
    assert result.stdout == "200\n", result.stderr
    assert site.requests()[-1].path == "/"


def test_a_failing_contract_is_reported_per_callback(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0)
    spider = tmp_path / "contracted.py"
    spider.write_text(CONTRACTS_SPIDER.format(url=f"{site.base_urls[0]}/"))
    result = run_cli("check", str(spider), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "FAIL contracted.parse: @returns items at least 2: got 1",
        "FAIL contracted.parse: @scrapes: item 1 has no title",
        "ok   contracted.parse_page",
        "2 callbacks checked, 1 failed",
    ]


@pytest.mark.parametrize("template", ["crawl", "sitemap"])
def test_genspider_templates_crawl_the_demo_site_at_once(tmp_path, demo_site, template):
    """-t crawl (CrawlSpider, a Rule following every link) and -t sitemap (SitemapSpider from
    robots.txt): the generated spider runs as written and its contract holds."""
    site = demo_site(hosts=1, rate=0)
    base = site.base_urls[0] + "/"
    made = run_cli("genspider", "gen", base, "-t", template, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    spider = tmp_path / "gen.py"
    result = run_cli(str(spider), "-O", "out.jsonl", "-s", "PARSE_WORKERS=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    urls = [item["url"] for item in read_jsonl(tmp_path / "out.jsonl")]
    assert len(urls) == len(set(urls))
    articles = {a.url for a in site.articles()}
    assert articles <= set(urls)  # both reach every article (links, or the sitemap)
    checked = run_cli("check", str(spider), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_genspider_refuses_an_unknown_template_in_one_line(tmp_path):
    result = run_cli("genspider", "x", "example.com", "-t", "xmlfeed", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "crawl: error: unknown template 'xmlfeed': use one of basic, crawl, sitemap"
    ]
    assert list(tmp_path.iterdir()) == []


def _readme_walkthrough() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Developing a spider", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_walkthrough_runs_command_by_command(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0)
    base = site.base_urls[0]
    cwd = tmp_path
    requests_before: dict[str, int] = {}
    for line in _readme_walkthrough():
        words = shlex.split(line.replace("http://127.0.0.2:8000", base))
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        assert words[0] == "crawl", line
        requests_before[line] = len(site.requests())
        result = run_cli(*words[1:], cwd=cwd)
        assert result.returncode == 0, (line, result.stdout, result.stderr)
        if words[1] == "shell":
            assert result.stdout == "Harbor News | Latest news\n"
        if words[1] == "check":
            assert result.stdout.splitlines()[-1] == "1 callbacks checked, 0 failed"
    crawls = [line for line in requests_before if line.startswith("crawl shop/")]
    first, second = (requests_before[line] for line in crawls[:2])
    assert first < second == len(site.requests())  # the rerun: all from the cache, zero requests
    with open(cwd / "books.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {row["url"] for row in rows} == {
        r["url"] for r in pq.read_table(cwd / "books.parquet").to_pylist()
    }
