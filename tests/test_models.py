"""Request and Response: Scrapy's API, and plain data across the process boundary."""

import pickle
from dataclasses import dataclass

import pytest

import scraper
from scraper import Request, Response, Spider
from scraper.parse import run_callback

PAGE = """<html><head><meta charset="windows-1252"><title>Caf\xe9</title></head>
<body><a class="x" href="/a?b=1">A</a> <a href="http://other.test/b">B</a>
<a href="mailto:someone@test">mail</a><p>one</p><p>two</p></body></html>""".encode("cp1252")


def response(body: bytes = PAGE, headers: dict | None = None, **request_kwargs) -> Response:
    request = Request("http://site.test/dir/page.html", **request_kwargs)
    return Response(request.url, 200, headers or {}, body, request)


def test_text_uses_bom_then_header_then_meta():
    assert response().text.count("Café") == 1  # from <meta charset>
    utf8 = "<p>naïve</p>".encode()
    assert response(utf8, {"Content-Type": "text/html; charset=utf-8"}).text == "<p>naïve</p>"
    assert response(b"\xef\xbb\xbf<p>\xc3\xa9</p>").text == "<p>é</p>"  # BOM
    # The header beats <meta>.
    meta_cp1252 = response(PAGE, {"Content-Type": "text/html; charset=iso-8859-5"})
    assert meta_cp1252.encoding == "iso8859-5"


def test_a_bom_beats_a_conflicting_header():
    """As browsers (WHATWG "decode"): the bytes say how they were written, the header only what
    the server was configured to claim."""
    page = response(
        b"\xef\xbb\xbf<p>caf\xc3\xa9</p>", {"Content-Type": "text/html; charset=iso-8859-1"}
    )
    assert page.encoding == "utf-8" and page.text == "<p>café</p>"


RUSSIAN = (
    "<html><head><title>Новости</title></head><body><p>"
    + "Съешь же ещё этих мягких французских булок, да выпей чаю. Москва - столица России. " * 3
    + "</p></body></html>"
)
JAPANESE = (
    "<html><body><p>"
    + "日本語のニュース記事です。東京は日本の首都であり、多くの人が住んでいます。" * 3
    + "</p></body></html>"
)


@pytest.mark.parametrize(
    "text, encoding", [(RUSSIAN, "koi8_r"), (RUSSIAN, "cp1251"), (JAPANESE, "shift_jis")]
)
def test_an_undeclared_encoding_is_detected(text, encoding):
    """No header charset, no BOM, no <meta>, not UTF-8: detected, not guessed as cp1252."""
    page = response(text.encode(encoding), {"Content-Type": "text/html"})
    assert page.text == text


def test_undeclared_utf8_and_undetectable_bytes():
    assert response("<p>naïve</p>".encode()).encoding == "utf-8"
    assert response(b"<p>\x81\x8d\x8f</p>").text.startswith("<p>")  # decoded, never an error


def test_headers_answer_str_names_with_text_and_bytes_names_as_scrapy():
    headers = response(
        b"",
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("X-Note", "café"),
        ],
    ).headers
    # str names: text, a repeated header's values joined.
    assert headers.get("content-type") == "text/html; charset=utf-8"
    assert headers["Set-Cookie"] == "a=1, b=2"
    assert headers.getlist("set-cookie") == ["a=1", "b=2"]
    # bytes names: what Scrapy's Headers give, bytes and the last value.
    assert headers.get(b"Content-Type") == b"text/html; charset=utf-8"
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert headers[b"set-cookie"] == b"b=2"
    assert headers.getlist(b"Set-Cookie") == [b"a=1", b"b=2"]
    assert headers.get(b"x-note") == "café".encode()
    assert b"content-type" in headers and "CONTENT-TYPE" in headers
    assert headers.get(b"missing") is None and headers.get(b"missing", b"-") == b"-"
    with pytest.raises(KeyError):
        headers[b"missing"]
    assert pickle.loads(pickle.dumps(headers))[b"set-cookie"] == b"b=2"


def test_selectors_soup_and_links():
    page = response()
    assert page.css("title::text").get() == "Café"
    assert page.xpath("//p/text()").getall() == ["one", "two"]
    assert page.soup.title.string == "Café"
    assert page.urljoin("x.html") == "http://site.test/dir/x.html"
    assert page.follow("/a").url == "http://site.test/a"
    assert page.follow(page.css("a.x")[0]).url == "http://site.test/a?b=1"
    assert page.follow(page.css("a.x::attr(href)")[0]).url == "http://site.test/a?b=1"
    urls = [r.url for r in page.follow_all(css="a")]
    assert urls == ["http://site.test/a?b=1", "http://other.test/b"]  # mailto: skipped


def test_meta_is_the_request_meta():
    page = response(meta={"depth": 3})
    assert page.meta["depth"] == 3 and page.request.depth == 3


def test_request_validates_url_and_keeps_scrapy_fields():
    with pytest.raises(ValueError):
        Request("/relative")
    with pytest.raises(ValueError):
        Request("http:///no-host")
    request = Request(
        "http://x.test/",
        method="post",
        body="a=1",
        headers={"X": "1"},
        priority=3,
        dont_filter=True,
        cb_kwargs={"k": 1},
        meta={"m": 2},
    )
    assert (request.method, request.body, request.priority) == ("POST", b"a=1", 3)
    assert request.replace(url="http://y.test/").meta == {"m": 2}


class Demo(Spider):
    name = "demo"

    def parse(self, response):
        yield {"title": response.css("title::text").get()}
        yield response.follow("/next", callback=self.parse_next, cb_kwargs={"n": 1})

    def parse_next(self, response, n):
        yield Item(n=n, url=response.url)


@dataclass
class Item:
    n: int
    url: str


def test_callbacks_travel_by_name_and_objects_pickle():
    result = run_callback(Demo(), response())
    assert result.error is None
    assert result.items == [{"title": "Café"}]
    [follow] = result.requests
    assert follow.callback == "parse_next"  # a name, not a bound method
    copy = pickle.loads(pickle.dumps(follow))
    assert (copy.url, copy.callback, copy.cb_kwargs) == (follow.url, "parse_next", {"n": 1})
    page = response()
    page.css("title")  # builds the selector cache, which must not be pickled
    again = pickle.loads(pickle.dumps(page))
    assert again.css("title::text").get() == "Café"
    nested = run_callback(Demo(), Response(copy.url, 200, {}, b"", copy))
    # A dataclass item stays one until the exporter (pipelines see what the spider made).
    assert nested.items == [Item(1, "http://site.test/next")]
    assert pickle.loads(pickle.dumps(nested.items)) == nested.items


def test_callback_errors_are_captured_with_traceback():
    class Broken(Spider):
        name = "broken"

        def parse(self, response):
            yield {"ok": 1}
            raise KeyError("missing")

    result = run_callback(Broken(), response())
    assert result.items == [{"ok": 1}]
    assert "KeyError: 'missing'" in result.error


def test_a_stray_yielded_value_is_ignored_and_the_items_after_it_kept():
    """Issue 11, item 13: a string yielded by mistake cost the page every item after it."""

    class Odd(Spider):
        name = "odd"

        def parse(self, response):
            yield {"a": 1}
            yield "oops"
            yield {"b": 2}
            yield 42
            yield response.follow("/next")

    result = run_callback(Odd(), response())
    assert result.error is None
    assert result.items == [{"a": 1}, {"b": 2}]
    assert result.ignored == ["str", "int"]
    assert [r.url for r in result.requests] == ["http://site.test/next"]


def test_spider_arguments_become_attributes():
    spider = Demo(start_urls="http://a.test/, http://b.test/", limit="5")
    assert spider.start_urls == ["http://a.test/", "http://b.test/"] and spider.limit == "5"


def test_public_api_is_declared_and_sorted():
    import inspect

    assert scraper.__all__ == sorted(scraper.__all__)
    public = {
        name
        for name, value in vars(scraper).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(scraper.__all__) - {"__version__"}


def test_readme_settings_table_matches_the_settings():
    from pathlib import Path

    from scraper.settings import Settings

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert Settings.markdown_table() in readme  # regenerate with Settings.markdown_table()


PLAIN = [
    "http://a.test/",
    "http://a.test/x/y-z_1.html",
    "https://127.0.0.1:52953/a~b/c.d",
    "http://a.test:65535/x//y",
]
NOT_PLAIN = [
    "http://a.test",  # canonical form adds the "/"
    "HTTP://a.test/x",  # scheme case
    "http://A.test/x",  # host case
    "http://a.test:080/x",  # port padding
    "http://a.test:99999/x",  # out of range: w3lib refuses it
    "http://a.test/x/./y",  # dot segments
    "http://a.test/x/../y",
    "http://a.test/x?b=2&a=1",  # query order
    "http://a.test/x#frag",
    "http://a.test/caf%C3%A9",
    "http://a.test/café",
    "http://a.test/x;p",
    "http://a.test/x y",
]


@pytest.mark.parametrize("url", PLAIN + NOT_PLAIN)
def test_fast_url_paths_agree_with_w3lib_and_urllib(url):
    from urllib.parse import urljoin as stdlib_urljoin
    from urllib.parse import urlsplit

    from w3lib.url import canonicalize_url

    from scraper.models import canonical_url, plain_host, urljoin

    assert (plain_host(url) is not None) == (url in PLAIN)
    try:
        expected = canonicalize_url(url)
    except ValueError:
        expected = None
    if expected is not None:
        assert canonical_url(url) == expected
    else:
        with pytest.raises(ValueError):
            canonical_url(url)
    assert urljoin("http://base.test/d/e", url) == stdlib_urljoin("http://base.test/d/e", url)
    assert Request(url).host == (urlsplit(url).hostname or "")
    assert pickle.loads(pickle.dumps(Request(url))).host == Request(url).host


def test_an_upper_case_scheme_is_the_lower_case_one():
    """Issue 11, item 5: schemes are case-insensitive; ``HTTP://`` start URLs were dropped."""
    request = Request("HTTP://Site.test/A?b=1")
    assert request.url == "http://Site.test/A?b=1"
    assert request.host == "site.test"
    assert Request("  http://site.test/").url == "  http://site.test/"  # left as it was given


def test_one_bad_href_does_not_cost_follow_all_the_good_links(caplog):
    """Issue 11, item 8: ``http://[::1/x`` made follow_all raise and lose every link."""
    page = b"""<html><body><a href="/one">1</a><a href="http://[::1/x">bad</a>
    <a href="http://[::1/y">bad too</a><a href="/two">2</a></body></html>"""
    with caplog.at_level("WARNING", logger="scraper.models"):
        requests = response(page).follow_all(css="a")
    assert [r.url for r in requests] == ["http://site.test/one", "http://site.test/two"]
    (record,) = caplog.records  # once per page, with how many were skipped
    assert "skipped 2 link(s)" in record.getMessage()


@pytest.mark.parametrize(
    "url, problem",
    [
        ("http://site.test/a", None),
        ("http://site.test:8080/a?b", None),
        ("http://site.test:99999/a", "Port out of range 0-65535"),
        ("http://site.test:http/a", "Port could not be cast to integer value as 'http'"),
        ("http://[::1/x", "Invalid IPv6 URL"),
        ("http://:80/a", "no host"),
    ],
)
def test_url_problem_names_what_no_request_can_be_sent_to(url, problem):
    from scraper.models import url_problem

    assert url_problem(url) == problem


def test_the_innermost_text_of_a_deeply_nested_page_is_found(caplog):
    """Issue 11, item 16: libxml2 stops at depth 2,048 and dropped the rest of the page."""
    depth = 200_000
    page = (
        "<html><body><p>before</p>"
        + '<div class="d">' * depth
        + "<span>innermost</span>"
        + "</div>" * depth
        + "<p>after</p></body></html>"
    )
    with caplog.at_level("WARNING", logger="scraper.htmltree"):
        page_response = response(page.encode(), {"Content-Type": "text/html; charset=utf-8"})
        assert page_response.css("span::text").getall() == ["innermost"]
    assert page_response.css("p::text").getall() == ["before", "after"]
    assert len(page_response.css("div.d")) == depth  # every element kept, nesting flattened
    assert "nests elements deeper than lxml parses" in caplog.text


def test_a_shallow_page_parses_as_parsel_parses_it():
    import parsel

    ours = response().selector
    theirs = parsel.Selector(text=response().text, type="html")
    assert ours.get() == theirs.get()
