"""Rendering and routing of the demo site's pages: HTML, robots.txt, sitemap and RSS.

No I/O: :class:`HostPages` maps a request path to a :class:`Page` for one host. Pages need the
absolute base URLs of every host (canonical links, sitemap, feeds), so they exist only once the
servers are bound.

Why one module of this length: one method per kind of page (home, section, article, about,
fan-out, sitemap, RSS), sharing the site's chrome; splitting them would scatter the one layout.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape

from scraper.demo.content import HostContent, Story, site_name

HTML = "text/html; charset=utf-8"
PAGE_SIZE = 5
HEADLINES = 5
MOST_READ = 5
FEED_ITEMS = 10

# A 1x1 transparent GIF keeps <img> realistic without sending crawlers after missing files.
PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"

STYLE = (
    "body{font-family:Georgia,serif;margin:0 auto;max-width:72rem}"
    ".cookie-banner{background:#222;color:#fff;padding:.5rem}"
    ".ad{background:#eee;min-height:90px;text-align:center}"
    "aside{float:right;width:18rem}"
)


@dataclass(frozen=True, slots=True)
class Page:
    """A complete response, ready to send."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def text_page(status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> Page:
    return Page(status, "text/plain; charset=utf-8", text.encode("utf-8"), headers)


def too_many_requests() -> Page:
    return text_page(429, "Too many requests: slow down.\n", (("Retry-After", "1"),))


def method_not_allowed() -> Page:
    return text_page(405, "Method not allowed.\n", (("Allow", "GET, HEAD"),))


class HostPages:
    """Every page one host serves, rendered on first request and then reused."""

    def __init__(
        self,
        site: tuple[HostContent, ...],
        index: int,
        base_urls: list[str],
        fanout: int = 0,
        fanout_total: int = 0,
    ) -> None:
        self.host = site[index]
        self.base = base_urls[index]
        self.base_urls = base_urls
        self.fanout = fanout
        self.fanout_total = fanout_total
        self._newest = self.host.by_newest()
        self._own = [s for s in self.host.stories if s.original is None]
        self._position = {s.path: i for i, s in enumerate(self._own)}
        self._sections = {s: self.host.in_section(s) for s in self.host.sections}
        self._routes: dict[str, Story | str] = {
            "/": "home",
            "/robots.txt": "robots",
            "/sitemap.xml": "sitemap",
            "/rss.xml": "rss",
            "/about.html": "about",
            "/private/admin.html": "private",
        }
        for story in self.host.stories:
            self._routes[story.path] = story
        for section in self.host.sections:
            for number in range(1, self._page_count(section) + 1):
                self._routes[section_path(section, number)] = f"section:{section}:{number}"
        # Rendering is pure, so a race between two threads only renders a page twice.
        self._cache: dict[str, Page] = {}

    def resolve(self, path: str) -> Page:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        route = self._routes.get(path)
        if route is None:
            return self._fanout(path) or self._not_found()
        page = self._render(route)
        self._cache[path] = page
        return page

    def _render(self, route: Story | str) -> Page:
        if isinstance(route, Story):
            return _html(self._article(route))
        if route.startswith("section:"):
            _, section, number = route.split(":")
            return _html(self._section(section, int(number)))
        if route == "robots":
            robots = f"User-agent: *\nDisallow: /private/\n\nSitemap: {self.base}/sitemap.xml\n"
            return text_page(200, robots)
        if route == "sitemap":
            return Page(200, "application/xml; charset=utf-8", self._sitemap().encode("utf-8"))
        if route == "rss":
            return Page(200, "application/rss+xml; charset=utf-8", self._rss().encode("utf-8"))
        return _html({"home": self._home, "about": self._about, "private": self._private}[route]())

    def _page_count(self, section: str) -> int:
        return max(1, math.ceil(len(self._sections[section]) / PAGE_SIZE))

    # -- shared chrome -------------------------------------------------------------------

    def _head(self, title: str, og_type: str, extra: str = "") -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n"
            f'<meta property="og:type" content="{og_type}">\n'
            f'<meta property="og:site_name" content="{escape(self.host.name)}">\n'
            f'<link rel="alternate" type="application/rss+xml" title="{escape(self.host.name)}" '
            'href="/rss.xml">\n'
            f"<style>{STYLE}</style>\n{extra}</head>\n"
        )

    def _header(self) -> str:
        links = "".join(
            f'<li><a href="{section_path(s, 1)}">{s.capitalize()}</a></li>'
            for s in self.host.sections
        )
        return (
            '<div class="cookie-banner" id="cookie-consent" role="dialog">'
            "<p>We use cookies to improve your experience and to show personalised ads. "
            'See our <a href="/about.html#cookies">cookie policy</a>.</p>'
            '<button type="button">Accept all</button></div>\n'
            f'<header class="site-header"><a class="logo" href="/">{escape(self.host.name)}</a>'
            f'<nav class="main-nav"><ul>{links}</ul></nav></header>\n'
        )

    def _footer(self, extra: str = "") -> str:
        return (
            '<footer class="site-footer"><nav><a href="/about.html">About us</a> · '
            '<a href="/about.html#contact">Contact</a> · <a href="/rss.xml">RSS</a> · '
            f'<a href="/sitemap.xml">Sitemap</a>{extra}</nav>'
            f"<p>© 2026 {escape(self.host.name)}. All rights reserved.</p></footer>\n"
            "</body>\n</html>\n"
        )

    def _link(self, story: Story) -> str:
        return f'<a href="{story.path}">{escape(story.title)}</a>'

    # -- pages ----------------------------------------------------------------------------

    def _home(self) -> str:
        own_newest = [s for s in self._newest if s.original is None]
        headlines = "".join(
            f'<li class="headline">{self._link(s)}<p class="summary">{escape(s.summary)}</p></li>'
            for s in own_newest[:HEADLINES]
        )
        wire = "".join(f"<li>{self._link(s)}</li>" for s in self.host.stories if s.original)
        wire_box = f'<section class="wire"><h2>From the wire</h2><ul>{wire}</ul></section>\n'
        sections = "".join(
            f'<li><a href="{section_path(s, 1)}">All {s} stories</a></li>'
            for s in self.host.sections
        )
        body = (
            f'<body class="home">\n{self._header()}<main>\n'
            f"<h1>{escape(self.host.name)}</h1>\n"
            f'<section class="top-stories"><h2>Top stories</h2><ul>{headlines}</ul></section>\n'
            f"{wire_box if wire else ''}"
            f'<section class="sections"><h2>Sections</h2><ul>{sections}</ul></section>\n'
            '<div class="ad" data-slot="home-leaderboard"><span>Advertisement</span></div>\n'
            '<p class="feeds">Follow us via <a href="/rss.xml">RSS</a>.</p>\n</main>\n'
        )
        staff = ' · <a href="/private/admin.html">Staff login</a>'
        head = self._head(f"{self.host.name} | Latest news", "website")
        return head + body + self._footer(staff)

    def _section(self, section: str, number: int) -> str:
        stories = self._sections[section]
        count = self._page_count(section)
        chunk = stories[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
        items = "".join(
            f'<li class="teaser"><h2>{self._link(s)}</h2>'
            f'<p class="summary">{escape(s.summary)}</p>'
            f'<span class="teaser-date">{display_date(s.published)}</span></li>'
            for s in chunk
        )
        nav = []
        if number > 1:
            nav.append(
                f'<a rel="prev" class="prev" href="{section_path(section, number - 1)}">'
                "Previous</a>"
            )
        nav.append(f'<span class="page-number">Page {number} of {count}</span>')
        if number < count:
            nav.append(
                f'<a rel="next" class="next" href="{section_path(section, number + 1)}">'
                "Next page</a>"
            )
        title = f"{section.capitalize()} | {self.host.name}"
        if number > 1:
            title = f"{section.capitalize()}, page {number} | {self.host.name}"
        extra = f'<link rel="canonical" href="{self.base}{section_path(section, number)}">\n'
        body = (
            f'<body class="section-page">\n{self._header()}<main>\n'
            f"<h1>{section.capitalize()}</h1>\n"
            f'<ul class="story-list">{items}</ul>\n'
            f'<nav class="pagination">{" ".join(nav)}</nav>\n'
            '<div class="ad" data-slot="section-banner"><span>Advertisement</span></div>\n'
            "</main>\n"
        )
        return self._head(title, "website", extra) + body + self._footer()

    def _article(self, story: Story) -> str:
        url = self.base + story.path
        canonical = url
        source = None
        if story.original is not None:
            canonical = self.base_urls[story.original[0]] + story.original[1]
            source = site_name(story.original[0])
        head = self._head(
            f"{story.title} | {self.host.name}",
            "article",
            self._article_meta(story, url, canonical),
        )
        paragraphs = [f"<p>{escape(text)}</p>\n" for text in story.paragraphs]
        if story.figure_caption is not None:
            caption = escape(story.figure_caption)
            figure = (
                f'<figure class="lead-image"><img src="{PIXEL}" alt="{caption}" width="640" '
                f'height="360"><figcaption>{caption}</figcaption></figure>\n'
            )
            paragraphs.insert(1, figure)
        published = story.published.isoformat()
        article = (
            '<article class="story">\n'
            f'<h1 class="headline">{escape(story.title)}</h1>\n'
            f'<div class="story-meta">{byline(story.authors)} · '
            f'<time datetime="{published}">{display_date(story.published)}</time></div>\n'
            f"{''.join(paragraphs)}</article>\n"
        )
        notice = ""
        if source is not None:
            notice = (
                f'<div class="wire-notice">This story was first published by {escape(source)} '
                "and is republished under a syndication agreement.</div>\n"
            )
        body = (
            f'<body class="article-page">\n{self._header()}'
            '<div class="ad" data-slot="top-banner"><span>Advertisement</span></div>\n'
            f"<main>\n{notice}{article}{self._newsletter()}{self._comments(story)}</main>\n"
            f"{self._sidebar(story)}"
        )
        return head + body + self._footer()

    def _article_meta(self, story: Story, url: str, canonical: str) -> str:
        data: dict[str, object] = {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": story.title,
            "author": [{"@type": "Person", "name": name} for name in story.authors],
            "datePublished": story.published.isoformat(),
            "dateModified": story.modified.isoformat(),
            "articleSection": story.section,
            "url": url,
            "mainEntityOfPage": canonical,
            "publisher": {"@type": "Organization", "name": self.host.name},
        }
        if story.body_in_json_ld:
            data["articleBody"] = story.body
        # "</" inside a <script> would end it early; JSON allows "\/" for "/".
        ld_json = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
        return (
            f'<link rel="canonical" href="{escape(canonical)}">\n'
            f'<meta name="description" content="{escape(story.summary)}">\n'
            f'<meta name="author" content="{escape(", ".join(story.authors))}">\n'
            f'<meta property="og:title" content="{escape(story.title)}">\n'
            f'<meta property="og:url" content="{escape(canonical)}">\n'
            f'<meta property="article:published_time" content="{story.published.isoformat()}">\n'
            f'<meta property="article:modified_time" content="{story.modified.isoformat()}">\n'
            f'<meta property="article:section" content="{story.section}">\n'
            f'<script type="application/ld+json">{ld_json}</script>\n'
            "<script>window.dataLayer=window.dataLayer||[];"
            'dataLayer.push({"pageType":"article"});</script>\n'
        )

    def _newsletter(self) -> str:
        return (
            '<section class="newsletter"><h2>The Morning Briefing</h2>'
            f"<p>Get the day’s top stories from {escape(self.host.name)} in your inbox.</p>"
            '<form action="/newsletter" method="post"><input type="email" name="email" '
            'placeholder="you@example.com"><button type="submit">Sign up</button></form>'
            "</section>\n"
        )

    def _comments(self, story: Story) -> str:
        if not story.comments:
            return '<p class="comments-closed">Comments are closed on syndicated stories.</p>\n'
        items = "".join(
            f'<div class="comment"><p class="comment-author">{escape(name)}</p>'
            f'<p class="comment-text">{escape(text)}</p></div>'
            for name, text in story.comments
        )
        return (
            f'<section class="comments" id="comments"><h2>Comments ({len(story.comments)})</h2>'
            f"{items}</section>\n"
        )

    def _sidebar(self, story: Story) -> str:
        others = [s for s in self._own if s.path != story.path]
        start = self._position.get(story.path, -1) + 1
        picks = [others[(start + k) % len(others)] for k in range(min(MOST_READ, len(others)))]
        items = "".join(f"<li>{self._link(s)}</li>" for s in picks)
        return (
            '<aside class="sidebar"><h2>Most read</h2>'
            f'<ol class="most-read">{items}</ol>'
            '<div class="ad" data-slot="sidebar"><span>Advertisement</span></div></aside>\n'
        )

    def _about(self) -> str:
        name = escape(self.host.name)
        body = (
            f'<body class="about">\n{self._header()}<main>\n<h1>About {name}</h1>\n'
            f"<p>{name} is an independent newsroom covering "
            f"{', '.join(self.host.sections)}.</p>\n"
            '<h2 id="contact">Contact</h2><p>Write to the newsdesk at news@example.com.</p>\n'
            '<h2 id="cookies">Cookies</h2><p>We use cookies for analytics and advertising.</p>\n'
            "</main>\n"
        )
        return self._head(f"About | {self.host.name}", "website") + body + self._footer()

    def _private(self) -> str:
        extra = '<meta name="robots" content="noindex, nofollow">\n'
        body = (
            '<body class="admin">\n<main><h1>Staff sign-in</h1>'
            '<form action="/private/login" method="post"><input name="user">'
            '<input name="password" type="password"><button>Sign in</button></form></main>\n'
        )
        return self._head(f"Staff | {self.host.name}", "website", extra) + body + self._footer()

    def _not_found(self) -> Page:
        body = (
            f'<body class="not-found">\n{self._header()}<main><h1>Page not found</h1>'
            '<p>Sorry, we could not find that page. Try the <a href="/">home page</a>.</p>'
            "</main>\n"
        )
        html = self._head(f"Not found | {self.host.name}", "website") + body + self._footer()
        return Page(404, HTML, html.encode("utf-8"))

    def _fanout(self, path: str) -> Page | None:
        prefix = "/fanout/"
        if not path.startswith(prefix):
            return None
        digits = path[len(prefix) :]
        # One URL per node: reject "/fanout/007" and friends.
        if not digits.isdigit() or str(int(digits)) != digits:
            return None
        node = int(digits)
        if node >= self.fanout_total:
            return None
        children = [node * self.fanout + k + 1 for k in range(self.fanout)]
        items = "".join(
            f'<li><a href="/fanout/{j}">Node {j}</a></li>'
            for j in children
            if j < self.fanout_total
        )
        html = (
            f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>Node {node} | {escape(self.host.name)}</title>\n"
            '<meta property="og:type" content="website">\n</head>\n'
            f"<body>\n<h1>Node {node}</h1>\n<ul>{items}</ul>\n</body>\n</html>\n"
        )
        return _html(html)

    # -- feeds ------------------------------------------------------------------------------

    def _sitemap(self) -> str:
        urls = [
            f"<url><loc>{escape(self.base + s.path)}</loc>"
            f"<lastmod>{s.modified.isoformat()}</lastmod></url>"
            for s in self.host.stories
        ]
        urls += [
            f"<url><loc>{escape(self.base + section_path(s, 1))}</loc></url>"
            for s in self.host.sections
        ]
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            + "\n".join(urls)
            + "\n</urlset>\n"
        )

    def _rss(self) -> str:
        items = "".join(
            "<item>"
            f"<title>{escape(s.title)}</title>"
            f"<link>{escape(self.base + s.path)}</link>"
            f'<guid isPermaLink="true">{escape(self.base + s.path)}</guid>'
            f"<pubDate>{format_datetime(s.published)}</pubDate>"
            f"<description>{escape(s.summary)}</description>"
            "</item>\n"
            for s in self._newest[:FEED_ITEMS]
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0">\n<channel>\n'
            f"<title>{escape(self.host.name)}</title>\n<link>{escape(self.base)}/</link>\n"
            f"<description>Latest stories from {escape(self.host.name)}</description>\n"
            f"<language>en</language>\n{items}</channel>\n</rss>\n"
        )


def section_path(section: str, number: int) -> str:
    if number == 1:
        return f"/section/{section}/"
    return f"/section/{section}/page/{number}"


def byline(authors: tuple[str, ...]) -> str:
    links = [f'<a rel="author">{escape(name)}</a>' for name in authors]
    names = links[0] if len(links) == 1 else ", ".join(links[:-1]) + " and " + links[-1]
    return f'<span class="byline">By {names}</span>'


def display_date(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}, {moment:%H:%M} UTC"


def _html(text: str) -> Page:
    return Page(200, HTML, text.encode("utf-8"))
