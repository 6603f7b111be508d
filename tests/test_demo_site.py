"""Tests for the bundled offline demo news site (scraper.demo)."""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.etree
import lxml.html
import pytest

from scraper.demo import Article, DemoSite, RequestRecord
from scraper.demo.server import RateLimit

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 5.0


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def get_html(url: str) -> lxml.html.HtmlElement:
    status, _, body = fetch(url)
    assert status == 200, url
    return lxml.html.document_fromstring(body.decode("utf-8"))


def links(url: str, doc: lxml.html.HtmlElement) -> list[str]:
    return [urldefrag(urljoin(url, href))[0] for href in doc.xpath("//a/@href")]


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite(rate=0) as running:
        yield running


def test_start_stop_context_manager() -> None:
    demo = DemoSite(hosts=2, articles_per_host=2, rate=0)
    with pytest.raises(RuntimeError):
        demo.articles()
    with demo as running:
        assert running is demo
        urls = demo.base_urls
        assert [urlsplit(u).hostname for u in urls] == ["127.0.0.2", "127.0.0.3"]
        assert fetch(urls[0] + "/")[0] == 200
    demo.stop()  # idempotent
    assert demo.base_urls == urls  # ground truth stays available after stop
    assert len(demo.articles()) == 2 * 2 + 2
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(urls[0] + "/", timeout=TIMEOUT)


def test_default_site_size(site: DemoSite) -> None:
    articles = site.articles()
    copies = [a for a in articles if a.near_duplicate_of]
    assert len(articles) == 3 * 20 + 4
    assert len(copies) == 4
    assert len({a.url for a in articles}) == len(articles)
    originals = {a.url: a for a in articles if a.near_duplicate_of is None}
    for copy in copies:
        original = originals[copy.near_duplicate_of]
        assert urlsplit(original.url).hostname == "127.0.0.2"
        assert urlsplit(copy.url).hostname in {"127.0.0.3", "127.0.0.4"}
        assert (copy.title, copy.body, copy.authors, copy.published) == (
            original.title,
            original.body,
            original.authors,
            original.published,
        )
    assert any(any(ord(ch) > 127 for ch in name) for a in articles for name in a.authors)
    assert any(any(ord(ch) > 127 for ch in a.body) for a in articles)
    assert any("&" in a.body for a in articles)


def test_article_pages_match_ground_truth(site: DemoSite) -> None:
    with_body = 0
    for article in site.articles():
        status, headers, body = fetch(article.url)
        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert int(headers["Content-Length"]) == len(body)
        doc = lxml.html.document_fromstring(body.decode("utf-8"))
        paragraphs = [p.text_content() for p in doc.xpath("//article//p")]
        assert "\n\n".join(paragraphs) == article.body
        assert 4 <= len(paragraphs) <= 9
        assert doc.xpath("string(//article//h1)") == article.title
        assert doc.xpath("//article//time/@datetime") == [article.published]
        assert tuple(doc.xpath("//article//a[@rel='author']/text()")) == article.authors
        assert doc.xpath("string(//title)").startswith(article.title + " | ")
        assert doc.xpath("//meta[@property='og:type']/@content") == ["article"]
        canonical = doc.xpath("//link[@rel='canonical']/@href")
        assert canonical == [article.near_duplicate_of or article.url]
        (ld_text,) = doc.xpath("//script[@type='application/ld+json']/text()")
        ld = json.loads(ld_text)
        assert ld["@type"] == "NewsArticle"
        assert ld["headline"] == article.title
        assert tuple(a["name"] for a in ld["author"]) == article.authors
        assert ld["datePublished"] == article.published
        assert ld["dateModified"] == article.modified
        assert ld["articleSection"] == article.section
        if "articleBody" in ld:
            assert ld["articleBody"] == article.body
            with_body += 1
        assert doc.xpath("//aside//a") and doc.xpath("//div[contains(@class, 'ad')]")
    assert 0.3 < with_body / len(site.articles()) < 0.7


def test_site_is_crawlable_from_home_page(site: DemoSite) -> None:
    by_host: dict[str, set[str]] = {}
    for article in site.articles():
        by_host.setdefault(urlsplit(article.url).netloc, set()).add(article.url)
    for base in site.base_urls:
        netloc = urlsplit(base).netloc
        seen = {base + "/"}
        queue = deque(seen)
        html_pages: set[str] = set()
        while queue:
            url = queue.popleft()
            status, headers, body = fetch(url)
            assert status == 200, url
            if not headers["Content-Type"].startswith("text/html"):
                continue
            html_pages.add(url)
            doc = lxml.html.document_fromstring(body.decode("utf-8"))
            for link in links(url, doc):
                parts = urlsplit(link)
                if parts.netloc != netloc or parts.path.startswith("/private/") or link in seen:
                    continue
                seen.add(link)
                queue.append(link)
        assert by_host[netloc] <= html_pages
        home = get_html(base + "/")
        assert base + "/private/admin.html" in links(base + "/", home)
        assert base + "/rss.xml" in links(base + "/", home)


def test_robots_sitemap_and_rss(site: DemoSite) -> None:
    articles = site.articles()
    for base in site.base_urls:
        status, headers, body = fetch(base + "/robots.txt")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        robots = body.decode()
        assert "User-agent: *" in robots and "Disallow: /private/" in robots
        assert f"Sitemap: {base}/sitemap.xml" in robots

        status, headers, body = fetch(base + "/sitemap.xml")
        assert status == 200 and "xml" in headers["Content-Type"]
        sitemap = lxml.etree.fromstring(body)
        ns = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
        locs = sitemap.xpath("//sm:url/sm:loc/text()", namespaces=ns)
        own = {a.url: a for a in articles if a.url.startswith(base + "/")}
        assert {u for u in locs if "/section/" not in u} == set(own)
        for url in sitemap.xpath("//sm:url[sm:lastmod]", namespaces=ns):
            loc = url.findtext("sm:loc", namespaces=ns)
            assert url.findtext("sm:lastmod", namespaces=ns) == own[loc].modified

        status, headers, body = fetch(base + "/rss.xml")
        assert status == 200 and "xml" in headers["Content-Type"]
        items = lxml.etree.fromstring(body).xpath("//item")
        assert len(items) == 10
        newest = sorted(own.values(), key=lambda a: a.published, reverse=True)[:10]
        assert {i.findtext("link") for i in items} == {a.url for a in newest}
        assert all(i.findtext("guid") == i.findtext("link") for i in items)
        assert all(i.findtext("pubDate").endswith("+0000") for i in items)


def test_section_pages_and_other_pages(site: DemoSite) -> None:
    base = site.base_urls[1]
    home = get_html(base + "/")
    sections = [u for u in links(base + "/", home) if "/section/" in u]
    assert sections
    page = get_html(sections[0])
    assert page.xpath("//meta[@property='og:type']/@content") == ["website"]
    assert not page.xpath("//script[@type='application/ld+json']")
    assert len(page.xpath("//ul[@class='story-list']//h2/a")) == 5
    (next_href,) = page.xpath("//a[@rel='next' and @class='next']/@href")
    assert next_href.endswith("/page/2")
    second = get_html(urljoin(sections[0], next_href))
    assert second.xpath("//a[@rel='prev']/@href") == [urlsplit(sections[0]).path]
    about = get_html(base + "/about.html")
    assert not about.xpath("//article") and not about.xpath("//script[@type]")
    assert fetch(base + "/private/admin.html")[0] == 200
    status, headers, body = fetch(base + "/no/such/page.html")
    assert status == 404 and headers["Content-Type"].startswith("text/html") and body
    status, headers, body = fetch(base + "/", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    assert fetch(base + "/", method="POST")[0] == 405


def test_rate_limit_answers_429_and_logs_it(tmp_path: Path) -> None:
    """Two requests one after the other (the second sent once the site has logged the first,
    so the site never serves both at once) inside one interval of a strict limit."""
    log_path = tmp_path / "requests.jsonl"
    with DemoSite(hosts=1, articles_per_host=1, rate=0.2, burst=0, log_path=log_path) as demo:
        url = demo.base_urls[0] + "/"
        assert fetch(url)[0] == 200
        wait_for_records(demo, 1)
        status, headers, _ = fetch(url)
        assert status == 429 and headers["Retry-After"] == "1"
        records = wait_for_records(demo, 2)
    assert [r.status for r in records] == [200, 429]
    assert all(isinstance(r, RequestRecord) and r.host == "127.0.0.2" for r in records)
    assert all(r.path == "/" and r.start <= r.end and r.active == 1 for r in records)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [line["status"] for line in lines] == [200, 429]
    assert set(lines[0]) == {"host", "path", "status", "start", "end", "active"}
    demo.clear_log()
    assert demo.requests() == []


def wait_for_records(demo: DemoSite, count: int) -> list[RequestRecord]:
    """The site's log once it holds ``count`` records: a request is logged just after its
    response is sent, so a client can read the response first."""
    deadline = time.monotonic() + TIMEOUT
    while len(demo.requests()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    records = demo.requests()
    assert len(records) == count
    return records


# Times in 64ths of a second: exact in binary, so each case sits exactly where it is meant to.
@pytest.mark.parametrize(
    ("burst", "arrivals", "admitted"),
    [
        # Sent exactly 16/64 s apart, the first delayed 13/64 s on its way, the third 6/64 s.
        (1, [n / 64 for n in (13, 16, 38, 48, 64)], [True] * 5),
        (0, [n / 64 for n in (13, 16, 38, 48, 64)], [True, False, True, False, True]),
        # Not paced at all: one request early is forgiven, the next is not.
        (1, [0, 1 / 64, 2 / 64, 3 / 64], [True, True, False, False]),
        (0, [0, 1 / 64], [True, False]),
        # Paced 3/16 s apart: the tolerance is used up, then one request in four is refused;
        # a refused request does not move the turns on.
        (
            1,
            [i * 3 / 16 for i in range(12)],
            [True] * 5 + [False] + [True] * 3 + [False, True, True],
        ),
    ],
)
def test_rate_limit_forgives_bunched_arrivals_not_a_faster_pace(burst, arrivals, admitted):
    limit = RateLimit(rate=4, burst=burst)
    assert [limit.admit(arrival) for arrival in arrivals] == admitted


def test_rate_limit_admits_its_rate_plus_the_burst_at_most_over_a_long_run() -> None:
    limit = RateLimit(rate=10, burst=1)
    arrivals = [i * 0.07 for i in range(300)]  # a client 40 % too fast, for 21 s
    admitted = [t for t in arrivals if limit.admit(t)]
    assert len(admitted) <= 10 * (arrivals[-1] - arrivals[0]) + 1 + 1
    assert len(admitted) >= 10 * (arrivals[-1] - arrivals[0]) - 1  # and it keeps serving


def test_rate_zero_never_limits() -> None:
    with DemoSite(hosts=1, articles_per_host=1, rate=0) as demo:
        statuses = [fetch(demo.base_urls[0] + "/robots.txt")[0] for _ in range(20)]
    assert statuses == [200] * 20
    assert all(r.status == 200 for r in demo.requests())


def test_active_counts_concurrent_requests() -> None:
    with DemoSite(hosts=1, articles_per_host=1, rate=0, latency=0.3) as demo:
        url = demo.base_urls[0] + "/"
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(fetch(url)[0])) for _ in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
    assert results == [200, 200]
    records = demo.requests()
    assert max(r.active for r in records) == 2  # the two sleeps overlapped, server-side
    assert all(r.end - r.start >= 0.3 for r in records)


def test_kept_alive_responses_are_not_held_back_by_nagles_algorithm() -> None:
    """Headers and body go out in two writes. With Nagle's algorithm on, the second waited for
    the client's delayed ACK of the first: 40 ms on every response of a kept-alive connection,
    which made a 41-page crawl of this site take 1.2 s instead of 0.4."""
    with DemoSite(hosts=1, articles_per_host=1, rate=0) as demo:
        host, port = urlsplit(demo.base_urls[0]).netloc.split(":")
        client = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
        try:
            for _ in range(2):  # the second on the same connection
                client.request("GET", "/")
                assert client.getresponse().read()
            (server,) = demo._servers
            (accepted,) = server._connections
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            client.close()


def test_content_is_identical_across_instances() -> None:
    def content(demo: DemoSite) -> list[tuple[object, ...]]:
        return [
            (urlsplit(a.url).path, a.title, a.authors, a.published, a.modified, a.section, a.body)
            for a in demo.articles()
        ]

    with DemoSite(rate=0) as first, DemoSite(rate=0) as second:
        assert first.base_urls != second.base_urls
        assert content(first) == content(second)
        other_seed = DemoSite(rate=0, seed=8).start()
        try:
            assert content(other_seed) != content(first)
        finally:
            other_seed.stop()
    assert all(isinstance(a, Article) for a in first.articles())


def test_fanout_tree_links_exactly_to_children() -> None:
    total, fanout = 13, 3
    with DemoSite(hosts=1, articles_per_host=1, rate=0, fanout=fanout, fanout_total=total) as demo:
        base = demo.base_urls[0]
        for node in range(total):
            url = f"{base}/fanout/{node}"
            doc = get_html(url)
            assert doc.xpath("string(//h1)") == f"Node {node}"
            children = [node * fanout + k + 1 for k in range(fanout)]
            expected = [f"{base}/fanout/{j}" for j in children if j < total]
            assert links(url, doc) == expected
        assert fetch(f"{base}/fanout/{total}")[0] == 404
        home = get_html(base + "/")
        assert not [u for u in links(base + "/", home) if "/fanout/" in u]


def test_module_runs_as_subprocess_until_stdin_closes(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "scraper.demo", "--hosts", "2", "--articles-per-host", "3"]
    command += ["--rate", "0", "--log", str(tmp_path / "log.jsonl")]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
        env=env,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        ready, _, _ = select.select([process.stdout], [], [], 10)
        assert ready, "no JSON line within 10 s"
        info = json.loads(process.stdout.readline())
        assert info["pid"] == process.pid
        assert len(info["hosts"]) == 2
        assert all(h.startswith("http://127.0.0.") for h in info["hosts"])
        assert fetch(info["hosts"][1] + "/")[0] == 200
        process.stdin.close()
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == b""
        assert process.stderr is not None and process.stderr.read() == b""
        assert (tmp_path / "log.jsonl").read_text().count("\n") == 1
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
