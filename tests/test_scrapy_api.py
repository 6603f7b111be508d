"""Scrapy's API pieces that need no crawl, each checked against Scrapy itself on the same
input: LinkExtractor, FormRequest.from_response, sitemaps; and Item and settings names."""

from __future__ import annotations

import dataclasses
import logging
import pickle

import pytest
from scrapy.http import FormRequest as ScrapyFormRequest
from scrapy.http import HtmlResponse
from scrapy.linkextractors import LinkExtractor as ScrapyLinkExtractor
from scrapy.utils.sitemap import Sitemap as ScrapySitemap

from scraper import Field, FormRequest, Item, Request, Response, SettingsError
from scraper.item import as_dict, item_adapter
from scraper.linkextractors import LinkExtractor
from scraper.scrapy_settings import SCRAPY_ONLY
from scraper.settings import Settings
from scraper.spiders.sitemap import Sitemap

URL = "http://127.0.0.1:8123/dir/page.html"
LINKS_PAGE = b"""<html><head><base href="/base/"></head><body>
<div id="nav"><a href="a.html">A</a> <a href=" /b?x=1&amp;y=2 " rel="nofollow">B <b>bold</b></a>
<a href="a.html#frag">A again</a><a href="pic.JPG">pic</a><a href="arch.tar.gz">tar</a></div>
<div class="body"><a href="http://127.0.0.1:8123/c">C</a><a href="http://other.example/d">D</a>
<a href="http://sub.other.example/e">E</a><a href="mailto:x@y.z">mail</a>
<area href="/map"><link href="/style" rel="x"><img src="/img.png"></div></body></html>"""

EXTRACTORS = [
    {},
    {"unique": False},
    {"canonicalize": True},
    {"allow": r"/b", "deny": r"y=3"},
    {"deny_domains": ["other.example"]},
    {"allow_domains": ["127.0.0.1:8123"]},
    {"restrict_css": "div.body"},
    {"restrict_xpaths": "//div[@id='nav']", "deny_extensions": []},
    {"tags": ("a", "img", "link"), "attrs": ("href", "src")},
    {"restrict_text": "^A"},
    {"process_value": lambda v: v.replace("a.html", "z.html")},
]


@pytest.mark.parametrize("kwargs", EXTRACTORS, ids=lambda kw: ",".join(kw) or "default")
def test_link_extractor_finds_scrapys_links(kwargs):
    ours = LinkExtractor(**kwargs).extract_links(
        Response(URL, 200, {"Content-Type": "text/html"}, LINKS_PAGE, Request(URL))
    )
    theirs = ScrapyLinkExtractor(**kwargs).extract_links(HtmlResponse(URL, body=LINKS_PAGE))
    assert [(x.url, x.text, x.nofollow) for x in ours] == [
        (x.url, x.text, x.nofollow) for x in theirs
    ]
    assert ours  # each case finds something


FORM_PAGE = b"""<html><head><meta charset="utf-8"></head><body><form name="other" action="/nope">
</form>
<form id="f" action="search?old=1" method="POST">
<input type="hidden" name="token" value="t&amp;1"><input name="q">
<input type="checkbox" name="c1" value="on1" checked><input type="checkbox" name="c2" value="x">
<input type="radio" name="r" value="r1"><input type="radio" name="r" value="r2" checked>
<select name="s"><option>first one</option><option value="two">2</option></select>
<select name="m" multiple><option value="a" selected>a</option><option value="b" selected>b
</option></select><textarea name="t">some
text</textarea><input type="reset" name="reset" value="r">
<input type="submit" name="go" value="Go"><button name="alt" value="2">Alt</button>
</form></body></html>"""

FORMS = [
    {"formid": "f"},
    {"formnumber": 1, "formdata": {"q": "café", "token": None}},
    {"formxpath": "//textarea", "clickdata": {"name": "alt"}},
    {"formcss": "#f", "dont_click": True, "formdata": [("extra", "1"), ("extra", "2")]},
    {"formname": "other"},
    {"formid": "f", "method": "GET", "formdata": {"q": "x y"}},
]


@pytest.mark.parametrize("kwargs", FORMS, ids=lambda kw: ",".join(kw))
def test_form_request_from_response_sends_what_scrapy_sends(kwargs):
    ours = FormRequest.from_response(
        Response(URL, 200, {"Content-Type": "text/html"}, FORM_PAGE, Request(URL)), **kwargs
    )
    theirs = ScrapyFormRequest.from_response(HtmlResponse(URL, body=FORM_PAGE), **kwargs)
    assert (ours.method, ours.url, ours.body) == (theirs.method, theirs.url, theirs.body)


SITEMAP = b"""<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
xmlns:xhtml="http://www.w3.org/1999/xhtml"><!-- c --><url><loc> http://a/1 </loc>
<lastmod>2024-01-01</lastmod><xhtml:link rel="alternate" hreflang="fr" href="http://a/fr/1"/>
</url><url><loc>http://a/2</loc><priority>0.5</priority></url><url><lastmod>x</lastmod></url>
</urlset>"""


def test_sitemap_entries_are_scrapys():
    assert Sitemap(SITEMAP).type == ScrapySitemap(SITEMAP).type == "urlset"
    assert list(Sitemap(SITEMAP)) == list(ScrapySitemap(SITEMAP))


class Product(Item):
    name = Field()
    price = Field(serializer=str)


class Book(Product):
    isbn = Field()


def test_items_declare_their_fields_and_travel_whole():
    book = Book(name="n", isbn="1")
    with pytest.raises(KeyError, match="does not support field: title"):
        book["title"] = "x"
    with pytest.raises(AttributeError):
        book.name = "x"
    assert set(Book.fields) == {"name", "price", "isbn"}
    copy = pickle.loads(pickle.dumps(book))
    assert type(copy) is Book and dict(copy) == {"name": "n", "isbn": "1"}
    assert as_dict(book) == {"name": "n", "isbn": "1"}
    assert item_adapter().get_field_meta_from_class(Book, "price") == {"serializer": str}


def test_scrapys_unimplemented_names_are_none_of_ours():
    assert not SCRAPY_ONLY & {f.name for f in dataclasses.fields(Settings)}


def test_setting_names_scrapys_ours_typos_and_the_spiders_own(caplog):
    # Each name is said once per process: these two are used by no other test, which may run
    # in the same process first.
    settings = Settings()
    with caplog.at_level(logging.INFO, logger="scraper.settings"):
        settings.update({"HTTPCACHE_GZIP": True, "SHELF_LABEL": 2}, "spider custom_settings")
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "HTTPCACHE_GZIP (from spider custom_settings) is Scrapy's and not implemented" in (
        messages
    )
    assert "SHELF_LABEL (from spider custom_settings) is the spider's own" in messages
    with pytest.raises(SettingsError, match="did you mean DOWNLOAD_DELAY"):
        settings.update({"DOWNLOAD_DELAYS": 1}, "-s")
    off = {
        "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
        "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
    }
    settings.update({"DOWNLOADER_MIDDLEWARES": off}, "-s")
    assert settings.RETRY_ENABLED is False and settings.COOKIES_ENABLED is False
