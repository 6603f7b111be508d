"""The news spider (spiders/news.py): discovery on its own, and the whole crawl of the demo site
checked field by field against the site's ground truth, syndicated copies included."""

from __future__ import annotations

import gzip
from types import SimpleNamespace

from conftest import ROOT, read_jsonl, run_cli

from scraper.models import Request, Response
from scraper.spider import load_spider_class

NEWS = ROOT / "spiders" / "news.py"
SITE = "http://127.0.0.2:8000"


def test_demo_crawl_matches_ground_truth_and_marks_syndicated_copies(tmp_path, demo_site):
    site = demo_site(rate=0)
    # Start URLs from scrapy-like.cfg: lower-case keys of [spider:news] are spider arguments.
    (tmp_path / "scrapy-like.cfg").write_text(
        f"[spider:news]\nstart_urls = {','.join(site.base_urls)}\n", encoding="utf-8"
    )
    result = run_cli(str(NEWS), "-O", "out.jsonl", "-s", "DOWNLOAD_DELAY=0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    items = {item["url"]: item for item in read_jsonl(tmp_path / "out.jsonl")}
    expected = {article.url: article for article in site.articles()}
    assert sorted(items) == sorted(expected)  # every article once, and nothing else
    copies = [a for a in expected.values() if a.near_duplicate_of]
    assert copies and all("/wire/" in a.url for a in copies)
    for url, article in expected.items():
        item = items[url]
        assert item["title"] == article.title
        assert item["authors"] == list(article.authors)
        assert item["published"] == article.published
        assert item["modified"] == article.modified
        assert item["section"] == article.section
        assert item["body"] == article.body
        assert item["near_duplicate_of"] == article.near_duplicate_of, url  # no false marks


def spider(**arguments: str):
    return load_spider_class(NEWS)(start_urls=f"{SITE}/", **arguments)


def response(url: str, body: bytes, content_type: str = "text/html", depth: int = 0):
    request = Request(url, meta={"depth": depth})
    return Response(url, 200, {"content-type": content_type}, body, request)


def urls(requests) -> list[str]:
    return [r.url for r in requests if isinstance(r, Request)]


def test_allowed_domains_come_from_start_urls_or_arguments():
    assert spider().allowed_domains == ["127.0.0.2"]
    assert spider(allowed_domains="a.example, b.example").allowed_domains == [
        "a.example",
        "b.example",
    ]


def test_robots_sitemaps_and_the_conventional_fallback():
    robots = b"User-agent: *\nDisallow: /private/\nSitemap: /news-sitemap.xml\n"
    found = list(spider().parse_robots(response(f"{SITE}/robots.txt", robots, "text/plain")))
    assert urls(found) == [f"{SITE}/news-sitemap.xml"]
    bare = list(spider().parse_robots(response(f"{SITE}/robots.txt", b"User-agent: *\n")))
    assert urls(bare) == [f"{SITE}/sitemap.xml"]


def test_sitemap_index_news_sitemap_and_gzip():
    index = (
        b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>https://127.0.0.2:8000/news.xml.gz</loc></sitemap></sitemapindex>"
    )
    found = list(spider().parse_sitemap(response(f"{SITE}/sitemap.xml", index, "text/xml")))
    assert urls(found) == ["https://127.0.0.2:8000/news.xml.gz"]
    assert found[0].callback == "parse_sitemap"
    news = gzip.compress(
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9" '
        b'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
        b"<url><loc>https://127.0.0.2:8000/world/story.html</loc>"
        b"<news:news><news:title>Story</news:title></news:news>"
        b"<image:image><image:loc>https://127.0.0.2:8000/story.jpg</image:loc></image:image>"
        b"</url></urlset>"
    )
    pages = list(spider().parse_sitemap(response(f"{SITE}/news.xml.gz", news, "application/gzip")))
    assert urls(pages) == ["https://127.0.0.2:8000/world/story.html"]  # not the image
    assert pages[0].callback == "parse" and pages[0].priority > 0
    assert list(spider().parse_sitemap(response(f"{SITE}/bad.xml.gz", b"\x1f\x8bnot gzip"))) == []


def test_rss_and_atom_feeds():
    rss = (
        b"<rss><channel><item><link>/world/a.html</link></item>"
        b"<item><link> http://127.0.0.2:8000/world/b.html </link></item></channel></rss>"
    )
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry>'
        b'<link rel="alternate" href="/world/c.html"/><link rel="edit" href="/edit/c"/>'
        b"</entry></feed>"
    )
    assert urls(spider().parse_feed(response(f"{SITE}/rss.xml", rss, "application/rss+xml"))) == [
        f"{SITE}/world/a.html",
        f"{SITE}/world/b.html",
    ]
    found = urls(spider().parse_feed(response(f"{SITE}/atom.xml", atom, "application/atom+xml")))
    assert found == [f"{SITE}/world/c.html"]


SECTION_PAGE = b"""<html><head><title>World</title>
<link rel="alternate" type="application/rss+xml" href="/rss.xml"></head><body><h1>World</h1>
<ul><li><h2><a href="/world/a.html">A</a></h2><p>Teaser.</p></li>
<li><a href="https://elsewhere.example/x.html">Off site</a></li>
<li><a href="/world/photo.jpg">Photo</a></li><li><a href="mailto:desk@news.example">Mail</a></li>
</ul><a rel="next" href="/section/world/page/2">Next</a></body></html>"""


def test_section_page_yields_its_on_site_links_and_feeds_but_no_item():
    out = list(spider().parse(response(f"{SITE}/section/world/", SECTION_PAGE)))
    assert all(isinstance(entry, Request) for entry in out)
    assert urls(out) == [
        f"{SITE}/rss.xml",
        f"{SITE}/world/a.html",
        f"{SITE}/section/world/page/2",
    ]


def test_links_past_the_depth_limit_are_not_sent_back():
    news = spider()
    news.settings = SimpleNamespace(DEPTH_LIMIT=2)
    assert urls(news.parse(response(f"{SITE}/section/world/", SECTION_PAGE, depth=1)))
    assert not urls(news.parse(response(f"{SITE}/section/world/", SECTION_PAGE, depth=2)))
