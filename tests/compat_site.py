"""A small shop site for the Scrapy differential tests (tests/test_scrapy_compat.py): HTML
listings with pagination, product pages, a paginated JSON API, a login form with a CSRF token
and a session cookie, a search form, sitemaps (an index, a gzip one, alternate-language links),
an RSS feed, a CSV feed, robots.txt, a members page that wants a header and a page busy on its
first request (for downloader middlewares). Deterministic; stdlib only; every request is logged as
(method, path with query, body) so two crawlers' request sets can be compared.
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PRODUCTS = {
    n: {"name": f"Product {n}", "price": f"{n * 3}.50", "cat": 1 + n % 2, "tags": ["t", f"x{n}"]}
    for n in range(1, 13)
}
PER_PAGE = 3
API_PAGES = 4


def _page(title: str, body: str) -> str:
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"


class CompatSite:
    """``with CompatSite() as site: site.url('/')``; ``site.log`` lists the requests."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._busy_answered: set[str] = set()  # pages under /busy/ that said "busy" once
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else 40 ms a kept-alive response (server.py)

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._serve(self.rfile.read(length))

            def _serve(self, body: bytes) -> None:
                with site._lock:
                    site.log.append((self.command, self.path, body.decode("utf-8", "replace")))
                status, headers, content = site.route(self.command, self.path, body, self.headers)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            # shutdown() waits for the loop to look up: 0.5 s by default, 55 s for the 110 sites
            # of the Scrapy differential test stopped one after the other.
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    def __enter__(self) -> CompatSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def requests(self) -> set[tuple[str, str, str]]:
        with self._lock:
            return set(self.log)

    # -- routes ---------------------------------------------------------------------------
    def route(self, method: str, path: str, body: bytes, headers: Any) -> tuple:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        p = parts.path
        html = [("Content-Type", "text/html; charset=utf-8")]
        cookie = headers.get("Cookie") or ""
        if p == "/robots.txt":
            text = f"User-agent: *\nDisallow: /private/\nSitemap: {self.base}/sitemap_index.xml\n"
            return 200, [("Content-Type", "text/plain")], text.encode()
        if p == "/":
            links = "".join(f'<li><a href="/cat/{c}">Category {c}</a></li>' for c in (1, 2))
            body_html = (
                f"<ul class='cats'>{links}</ul><a href='/about'>About</a>"
                "<a href='/logo.png'>logo</a><a href='mailto:shop@example.org'>mail</a>"
                "<a href='/private/secret'>secret</a><a href='http://other.example/x'>other</a>"
                "<a href='/cat/1#top'>again</a><area href='/map' />"
            )
            return 200, html, _page("Shop", body_html).encode()
        if p == "/about":
            return 200, html, _page("About", "<p class='about'>We sell things.</p>").encode()
        if p == "/map":
            return 200, html, _page("Map", "<p>map</p>").encode()
        if p.startswith("/cat/"):
            cat = int(p.rsplit("/", 1)[1])
            page = int(query.get("page", ["1"])[0])
            ids = [n for n, prod in PRODUCTS.items() if prod["cat"] == cat]
            shown = ids[(page - 1) * PER_PAGE : page * PER_PAGE]
            items = "".join(
                f'<li class="product"><a href="/product/{n}">{PRODUCTS[n]["name"]}</a>'
                f'<span class="price">{PRODUCTS[n]["price"]}</span></li>'
                for n in shown
            )
            more = len(ids) > page * PER_PAGE
            nxt = f'<a class="next" href="/cat/{cat}?page={page + 1}">Next</a>' if more else ""
            title = f"Category {cat} page {page}"
            return 200, html, _page(title, f"<ul>{items}</ul>{nxt}").encode()
        if p.startswith(("/product/", "/fr/product/")):
            n = int(p.rsplit("/", 1)[1])
            prod = PRODUCTS[n]
            tags = "".join(f"<li class='tag'> {t} </li>" for t in prod["tags"])
            body_html = (
                f"<div id='main'><h2 class='name'>{prod['name']}</h2>"
                f"<p class='price'>$ {prod['price']}</p><ul>{tags}</ul>"
                f"<a href='/cat/{prod['cat']}'>back</a></div>"
                f"<div class='related'><a href='/product/{n % 12 + 1}'>related</a></div>"
            )
            return 200, html, _page(prod["name"], body_html).encode()
        if p == "/api/items":
            page = int(query.get("page", ["1"])[0])
            data = {
                "page": page,
                "items": [{"id": page * 10 + i, "label": f"item {page}-{i}"} for i in range(3)],
                "has_next": page < API_PAGES,
            }
            return 200, [("Content-Type", "application/json")], json.dumps(data).encode()
        if p == "/api/echo":
            data = {"method": method, "body": body.decode(), "cookie": cookie}
            if headers.get("Authorization"):
                data["authorization"] = headers.get("Authorization")
            return 200, [("Content-Type", "application/json")], json.dumps(data).encode()
        if p == "/login" and method == "GET":
            form = (
                "<form action='/login' method='post' id='login'>"
                "<input type='hidden' name='csrf' value='tok123'>"
                "<input type='text' name='user'><input type='password' name='pass'>"
                "<input type='checkbox' name='remember' value='1'>"
                "<select name='lang'><option value='en'>English</option>"
                "<option value='fr' selected>French</option></select>"
                "<input type='submit' name='go' value='Log in'></form>"
            )
            return 200, html, _page("Login", form).encode()
        if p == "/login":
            fields = parse_qs(body.decode())
            ok = fields.get("csrf") == ["tok123"] and fields.get("pass") == ["secret"]
            if not ok:
                return 200, html, _page("Login failed", "<p class='error'>bad</p>").encode()
            return 302, [("Location", "/account"), ("Set-Cookie", "session=abc; Path=/")], b""
        if p == "/account":
            who = "member" if "session=abc" in cookie else "anonymous"
            return 200, html, _page("Account", f"<p class='who'>{who}</p>").encode()
        if p == "/search":
            form = (
                "<form action='/results' method='get'><input name='q' value=''>"
                "<input type='hidden' name='sort' value='price'>"
                "<button type='submit' name='b' value='1'>Go</button></form>"
            )
            return 200, html, _page("Search", form).encode()
        if p == "/results":
            q = query.get("q", [""])[0]
            found = [n for n, prod in PRODUCTS.items() if q and q in prod["name"]]
            items = "".join(f"<li><a href='/product/{n}'>{n}</a></li>" for n in found)
            return 200, html, _page(f"Results for {q}", f"<ul class='res'>{items}</ul>").encode()
        if p == "/sitemap_index.xml":
            maps = "".join(
                f"<sitemap><loc>{self.base}/{name}</loc></sitemap>"
                for name in ("sitemap_products.xml", "sitemap_pages.xml.gz", "sitemap_skip.xml")
            )
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?><sitemapindex '
                f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{maps}</sitemapindex>'
            )
            return 200, [("Content-Type", "application/xml")], xml.encode()
        if p in ("/sitemap_products.xml", "/sitemap_pages.xml.gz", "/sitemap_skip.xml"):
            if p == "/sitemap_products.xml":
                paths = [f"/product/{n}" for n in range(1, 7)]
            elif p == "/sitemap_skip.xml":
                paths = ["/product/12"]
            else:
                paths = ["/about", "/cat/1"]
            urls = "".join(
                f"<url><loc>{self.base}{path}</loc><lastmod>2024-01-0{i % 9 + 1}</lastmod>"
                + (
                    f'<xhtml:link rel="alternate" hreflang="fr" href="{self.base}/fr{path}"/>'
                    if path.startswith("/product/") and i < 2
                    else ""
                )
                + "</url>"
                for i, path in enumerate(paths)
            )
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?><urlset '
                'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                f'xmlns:xhtml="http://www.w3.org/1999/xhtml">{urls}</urlset>'
            ).encode()
            if p.endswith(".gz"):
                return 200, [("Content-Type", "application/octet-stream")], gzip.compress(xml)
            return 200, [("Content-Type", "application/xml")], xml
        if p == "/feed.xml":
            entries = "".join(
                f"<item><title>{prod['name']}</title><link>{self.base}/product/{n}</link>"
                f"<category>c{prod['cat']}</category></item>"
                for n, prod in list(PRODUCTS.items())[:5]
            )
            xml = f'<?xml version="1.0"?><rss version="2.0"><channel>{entries}</channel></rss>'
            return 200, [("Content-Type", "application/rss+xml")], xml.encode()
        if p == "/feed.csv":
            rows = "".join(f'{n};"{p["name"]}";{p["price"]}\n' for n, p in PRODUCTS.items())
            return 200, [("Content-Type", "text/csv")], ("id;name;price\n" + rows).encode()
        if p == "/members":  # a downloader middleware adds the token
            if headers.get("X-Token") != "sesame":
                return 403, html, _page("Forbidden", "").encode()
            return 200, html, _page("Members", "<p class='secret'>the secret</p>").encode()
        if p.startswith("/busy/"):  # busy at the first request, as a middleware's retry sees it
            with self._lock:
                first = p not in self._busy_answered
                self._busy_answered.add(p)
            text = "<p class='state'>busy</p>" if first else f"<p class='state'>ready {p}</p>"
            return 200, html, _page("Busy", text).encode()
        if p.startswith("/status/"):
            code = int(p.rsplit("/", 1)[1])
            return code, html, _page(f"Status {code}", "").encode()
        if p == "/headers":
            extra = [("X-Multi", "a"), ("X-Multi", "b")]
            return 200, html + extra, _page("Headers", "").encode()
        return 404, html, _page("Not found", "").encode()
