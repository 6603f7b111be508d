"""Article extraction field by field, on small hand-written pages (scraper.extract.article)."""

from __future__ import annotations

import json
import re

from scraper.extract.article import extract_article
from scraper.extract.body import Block, article_paragraphs, has_prose_shape
from scraper.models import Request, Response

URL = "https://news.example/world/2026/harbour-bridge.html"
PARAGRAPHS = [
    "The harbour bridge reopened on Monday after eighteen months of repairs, the city council "
    "said. Engineers replaced every cable on the northern span and strengthened the piers.",
    "Traffic returned within minutes. Commuters who had used the ferry for more than a year "
    "crossed on foot, by bicycle and by bus, and many stopped to take photographs of the view.",
    "The repairs cost 41 million euros, slightly less than planned. The council said the saving "
    "would go to the cycle lanes that connect the bridge to the old quarter of the city.",
    "Work on the southern span begins next spring and should take less than a year, according "
    "to the engineers, who expect no closures during the busy summer season this time.",
]
BOILERPLATE = """
<header><nav><a href="/">Home</a> <a href="/world/">World</a> <a href="/sport/">Sport</a>
<a href="/culture/">Culture</a></nav></header>
<div class="ad">Advertisement: buy the best bridge insurance today, click here now</div>
"""
SIDEBAR_AND_COMMENTS = """
<aside class="related"><h2>Most read</h2><ul>
<li><a href="/world/2026/ferry.html">Ferry company expands its fleet for the summer season</a></li>
<li><a href="/world/2026/tram.html">New tram line opens to the airport at last</a></li>
</ul></aside>
<section class="comments" id="comments"><h2>Comments</h2>
<div class="comment"><p class="comment-author">riverwatcher</p>
<p class="comment-text">About time! I have waited for this bridge every morning.</p></div>
</section>
<footer><p>Copyright 2026 News Example. All rights reserved.</p></footer>
"""


def response(html: str | bytes, url: str = URL, content_type: str = "text/html") -> Response:
    body = html.encode("utf-8") if isinstance(html, str) else html
    return Response(url, 200, {"content-type": content_type}, body, Request(url))


def article_html(
    head: str = "", byline: str = "", paragraphs: list[str] = PARAGRAPHS, lang: str = "en"
) -> str:
    text = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    figure = (
        '<figure><img src="bridge.jpg" alt="The bridge"><figcaption>The bridge at dawn, '
        "photographed from the ferry terminal.</figcaption></figure>"
    )
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>Harbour bridge reopens after repairs | News Example</title>{head}</head><body>"
        f"{BOILERPLATE}<main><article><h1>Harbour bridge reopens after repairs</h1>{byline}"
        f"{text[: text.index('</p>') + 5]}{figure}{text[text.index('</p>') + 5 :]}"
        f"</article>{SIDEBAR_AND_COMMENTS}</main></body></html>"
    )


def json_ld(**fields: object) -> str:
    data = {"@context": "https://schema.org", "@type": "NewsArticle", **fields}
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


BODY = "\n\n".join(PARAGRAPHS)


def test_json_ld_article_gives_every_field():
    head = (
        json_ld(
            headline="Harbour bridge reopens after repairs",
            author=[
                {"@type": "Person", "name": "Sarah Chen"},
                {"@type": "Person", "name": "Zoë Müller"},
            ],
            datePublished="2026-03-02T06:30:00Z",
            dateModified="2026-03-02T09:00:00+01:00",
            articleSection="World",
            url=URL,
        )
        + f'<link rel="canonical" href="{URL}">'
    )
    item = extract_article(response(article_html(head)))
    assert item is not None
    assert item["url"] == item["canonical_url"] == URL
    assert item["title"] == "Harbour bridge reopens after repairs"
    assert item["authors"] == ["Sarah Chen", "Zoë Müller"]
    assert item["published"] == "2026-03-02T06:30:00+00:00"
    assert item["modified"] == "2026-03-02T09:00:00+01:00"
    assert item["section"] == "World"
    assert item["language"] == "en"
    assert item["near_duplicate_of"] is None
    json.dumps(item)  # plain JSON data: it crosses from the worker to the main process


def test_body_is_the_story_alone_in_blank_line_separated_paragraphs():
    item = extract_article(response(article_html(json_ld(headline="Harbour bridge"))))
    assert item is not None
    # No headline, navigation, advert, caption of the photo, related links or comments.
    assert item["body"] == BODY


def test_json_ld_article_body_that_is_a_teaser_does_not_shorten_the_body():
    # Publishers often declare the first paragraphs only: the page's text is the body.
    declared = "\n\n".join(PARAGRAPHS[:2])
    head = json_ld(headline="Harbour bridge reopens after repairs", articleBody=declared)
    item = extract_article(response(article_html(head)))
    assert item is not None and item["body"] == BODY


def test_json_ld_article_body_missing_from_the_page_is_ignored():
    head = json_ld(
        headline="Harbour bridge reopens after repairs",
        articleBody="An entirely different text about tram lines and airports, "
        "which appears nowhere on this page at all, not even in part.",
    )
    item = extract_article(response(article_html(head)))
    assert item is not None and item["body"] == BODY


def test_page_without_json_ld_uses_opengraph_time_and_byline():
    head = (
        '<meta property="og:type" content="article">'
        '<meta property="og:title" content="Harbour bridge reopens after repairs">'
        '<meta property="article:section" content="World">'
        '<meta property="og:url" content="https://news.example/bridge">'
    )
    byline = (
        '<p class="meta"><span class="byline">By <a rel="author" href="/a/jo">Jo Park</a>'
        ' and <a rel="author" href="/a/al">Al Moreau</a></span> '
        '<time datetime="2026-03-02T06:30:00+00:00">2 March 2026</time></p>'
    )
    item = extract_article(response(article_html(head, byline)))
    assert item is not None
    assert item["title"] == "Harbour bridge reopens after repairs"
    assert item["authors"] == ["Jo Park", "Al Moreau"]
    assert item["published"] == "2026-03-02T06:30:00+00:00"
    assert item["modified"] is None
    assert item["section"] == "World"
    assert item["canonical_url"] == "https://news.example/bridge"
    assert PARAGRAPHS[0] in item["body"] and "Jo Park" not in item["body"]


def test_page_declaring_nothing_is_an_article_by_its_prose_shape():
    item = extract_article(response(article_html()))
    assert item is not None and item["body"] == BODY
    assert item["title"] == "Harbour bridge reopens after repairs"


def wrapped_page(signature: str = "", paragraphs: list[str] = PARAGRAPHS) -> str:
    """A page declaring nothing whose paragraphs each sit in their own wrapper (no run of
    sibling <p>s, so not the old prose shape): only its extracted text can make it an article."""
    text = "".join(f'<div class="para"><span>{p}</span></div>' for p in paragraphs)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Harbour bridge reopens after repairs</title></head><body>"
        f"{BOILERPLATE}<main><h1>Harbour bridge reopens after repairs</h1>{signature}"
        f'<div class="story">{text}</div></main>{SIDEBAR_AND_COMMENTS}</body></html>'
    )


DATED = '<p class="meta"><time datetime="2026-03-02T06:30:00+00:00">2 March 2026</time></p>'


def test_one_block_of_prose_under_a_headline_with_a_date_is_an_article():
    page = response(wrapped_page(DATED))
    assert not has_prose_shape(page.selector.root)  # the new rule decides, not the old one
    item = extract_article(page)
    assert item is not None and item["body"] == BODY
    assert item["published"] == "2026-03-02T06:30:00+00:00"


def test_one_block_of_prose_with_a_byline_and_no_date_is_an_article():
    byline = '<p class="byline">By <a rel="author" href="/a/jo">Jo Park</a></p>'
    item = extract_article(response(wrapped_page(byline)))
    assert item is not None and item["authors"] == ["Jo Park"] and item["body"] == BODY


def test_one_block_of_prose_without_date_or_byline_is_not_an_article():
    assert extract_article(response(wrapped_page())) is None


def test_short_text_under_a_headline_and_a_date_is_not_an_article():
    # A video or gallery page: a caption of a few lines, dated, declaring nothing.
    caption = ["Video: the harbour bridge reopens, seen from the ferry terminal at dawn today."]
    assert extract_article(response(wrapped_page(DATED, caption))) is None


def test_search_and_tag_pages_are_not_articles():
    # Results with long summaries, each beside the link to its story, and dated.
    results = "".join(
        f'<div class="result"><h3><a href="/world/2026/story-{n}.html">Story number {n} about '
        f'the harbour and its bridge</a></h3><div class="snippet"><span>{PARAGRAPHS[n % 4]}'
        f'</span></div><time datetime="2026-03-0{n + 1}">{n + 1} March</time></div>'
        for n in range(6)
    )
    html = (
        '<html lang="en"><head><title>Search: bridge | News Example</title></head><body>'
        f"{BOILERPLATE}<main><h1>Results for bridge</h1>{results}</main></body></html>"
    )
    assert extract_article(response(html)) is None


def test_json_ld_about_another_article_is_not_trusted():
    # Conflicting metadata: the JSON-LD describes another story (another URL and headline);
    # what the page itself shows wins.
    head = json_ld(
        headline="Tram line to the airport opens",
        url="https://news.example/world/2025/tram.html",
        author={"@type": "Person", "name": "Wrong Person"},
        datePublished="2025-01-01T00:00:00Z",
    ) + (
        '<meta property="og:type" content="article">'
        '<meta property="article:published_time" content="2026-03-02T06:30:00Z">'
        '<meta name="author" content="Sarah Chen">'
    )
    item = extract_article(response(article_html(head)))
    assert item is not None
    assert item["title"] == "Harbour bridge reopens after repairs"
    assert item["authors"] == ["Sarah Chen"]
    assert item["published"] == "2026-03-02T06:30:00+00:00"


def test_json_ld_with_a_reworded_headline_still_describes_the_page():
    head = json_ld(
        headline="Harbour bridge reopens after repairs costing 41 million",
        datePublished="2026-03-02",
        author="Sarah Chen",
    )
    item = extract_article(response(article_html(head)))
    assert item is not None
    assert item["title"] == "Harbour bridge reopens after repairs costing 41 million"
    assert item["published"] == "2026-03-02" and item["authors"] == ["Sarah Chen"]


def test_non_utf8_encoding_from_the_header():
    text = article_html(paragraphs=[p.replace("city", "cité café") for p in PARAGRAPHS])
    item = extract_article(
        response(text.encode("cp1252"), content_type="text/html; charset=windows-1252")
    )
    assert item is not None and "cité café" in item["body"]


def test_non_utf8_encoding_from_a_meta_tag():
    japanese = [
        "港の橋が月曜日に再開した。市議会によると、十八か月にわたる修理が終わった。" * 4,
        "通勤客は一年以上フェリーを使っていたが、徒歩や自転車、バスで橋を渡った。" * 4,
        "修理費は四千百万ユーロで、計画よりわずかに少なかった。" * 4,
    ]
    html = article_html(paragraphs=japanese, lang="ja").replace(
        '<meta charset="utf-8">',
        '<meta http-equiv="Content-Type" content="text/html; charset=shift_jis">',
    )
    item = extract_article(response(html.encode("shift_jis")))
    assert item is not None
    assert item["body"] == "\n\n".join(japanese)
    assert item["language"] == "ja"


def test_section_page_is_not_an_article():
    teasers = "".join(
        f'<li class="teaser"><h2><a href="/world/2026/story-{n}.html">Story number {n} '
        f"about the harbour</a></h2><p>{PARAGRAPHS[n % 4][:150]}</p></li>"
        for n in range(12)
    )
    html = (
        '<html lang="en"><head><title>World | News Example</title>'
        '<meta property="og:type" content="website"></head><body>'
        f"{BOILERPLATE}<main><h1>World</h1><ul>{teasers}</ul>"
        '<a rel="next" href="/world/page/2">Next page</a></main></body></html>'
    )
    assert extract_article(response(html)) is None


def test_flat_teaser_list_is_not_an_article():
    teasers = "".join(
        f'<h3><a href="/world/{n}.html">Story {n}</a></h3><p>{PARAGRAPHS[n % 4]}</p>'
        for n in range(8)
    )
    html = f"<html><head><title>Latest</title></head><body><div>{teasers}</div></body></html>"
    assert extract_article(response(html)) is None


def test_article_type_without_any_text_yields_nothing():
    html = (
        '<html><head><meta property="og:type" content="article"><title>Video</title></head>'
        '<body><h1>Video: the bridge</h1><video src="bridge.mp4"></video></body></html>'
    )
    assert extract_article(response(html)) is None


def test_summary_keywords_word_count_and_simhash():
    item = extract_article(response(article_html(json_ld(headline="Harbour bridge"))))
    assert item is not None
    assert item["summary"] == (
        "The harbour bridge reopened on Monday after eighteen months of repairs, the city "
        "council said. Engineers replaced every cable on the northern span and strengthened "
        "the piers."
    )
    assert item["keywords"][0] == "bridge"  # most frequent, and in the title
    assert "the" not in item["keywords"] and len(item["keywords"]) == 10
    assert item["word_count"] == len(re.findall(r"\w+", BODY))
    assert re.fullmatch(r"[0-9a-f]{16}", item["simhash"])


def test_dates_in_other_formats_become_iso_8601():
    head = (
        '<meta property="og:type" content="article">'
        '<meta name="pubdate" content="Mon, 02 Mar 2026 06:30:00 GMT">'
        '<meta property="article:modified_time" content="not a date">'
    )
    item = extract_article(response(article_html(head)))
    assert item is not None
    assert item["published"] == "2026-03-02T06:30:00+00:00"
    assert item["modified"] is None


def test_byline_noise_and_escaped_json_ld_text_are_cleaned():
    head = json_ld(headline="Harbour bridge reopens &amp; traffic returns", url=URL)
    byline = '<div class="byline">By JO PARK, 2 March 2026 10:43 and Al Moreau</div>'
    html = article_html(head, byline).replace("reopens after repairs</h1>", "reopens</h1>")
    item = extract_article(response(html))
    assert item is not None
    assert item["title"] == "Harbour bridge reopens & traffic returns"
    assert item["authors"] == ["JO PARK", "Al Moreau"]  # the date is not a name


def test_a_byline_declared_as_the_json_ld_author_is_read_as_a_byline():
    head = json_ld(
        headline="Harbour bridge reopens after repairs",
        author={"@type": "Person", "name": "By JO PARK and AL MOREAU, Associated Press"},
    )
    item = extract_article(response(article_html(head)))
    assert item is not None and item["authors"] == ["JO PARK", "AL MOREAU", "Associated Press"]


def test_placeholder_dates_are_no_dates():
    head = '<meta property="og:type" content="article">' + json_ld(
        headline="Harbour bridge reopens after repairs", datePublished="0001-01-01T00:00:00Z"
    )
    item = extract_article(response(article_html(head)))
    assert item is not None and item["published"] is None


LEAD = (
    "Eighteen months of repairs are over: the harbour bridge carries traffic again, and the "
    "council says the southern span comes next, with no closures planned for the summer."
)


def lead_page(description: str, lead: str = LEAD) -> str:
    """The lead set apart above the article, in a teaser block trafilatura prunes."""
    head = f'<meta property="og:description" content="{description}">' + json_ld(
        headline="Harbour bridge reopens after repairs"
    )
    page = article_html(head)
    return page.replace("<main>", f'<main><div class="teaser-text"><p>{lead}</p></div>', 1)


def test_the_lead_the_page_describes_itself_with_comes_first_in_the_body():
    # The description is cut short, as sites do; the block showing it is the lead.
    item = extract_article(response(lead_page(LEAD[:120] + "...")))
    assert item is not None
    assert item["body"] == f"{LEAD}\n\n{BODY}"


def test_a_one_line_subtitle_a_block_beyond_the_description_or_one_not_shown_is_no_lead():
    subtitle = (
        "The bridge carries traffic again after eighteen months of repairs, says the council."
    )
    item = extract_article(response(lead_page(subtitle, lead=subtitle)))
    assert item is not None and item["body"] == BODY
    # A site-wide description shown in a block that says much more (an "about us" box).
    about = f"{LEAD} " + "News Example has covered the city since 1890, in print and online. " * 3
    item = extract_article(response(lead_page(LEAD, lead=about)))
    assert item is not None and item["body"] == BODY
    item = extract_article(response(lead_page("A description shown nowhere on the page " * 4)))
    assert item is not None and item["body"] == BODY


def test_the_title_of_a_link_list_and_a_credit_line_are_not_body_text():
    links = "".join(
        f'<p><a href="/world/2026/{n}.html">{title}</a></p>'
        for n, title in (
            ("ferry", "Ferry company expands its fleet for the summer season"),
            ("tram", "New tram line opens to the airport at last, years late"),
        )
    )
    extra = (
        f"<p>Read more</p>{links}"  # the title of a list of links, inside the article
        "<p>\u00a9 Harbour Photo Agency / J. Smith</p>"  # a credit line
    )
    page = article_html(json_ld(headline="Harbour bridge reopens after repairs"))
    page = page.replace("</article>", f"{extra}</article>", 1)
    item = extract_article(response(page))
    assert item is not None
    assert item["body"] == BODY


def test_boilerplate_labels_are_dropped_and_article_text_kept():
    long_text = PARAGRAPHS[0]
    blocks = [
        Block(long_text, 0),
        Block("Related", 0),  # the title of the link list below it
        Block("Ferry company expands its fleet for the summer season", 53),
        Block("A short line of the story.", 0),  # short, but no link list follows
        Block("Harbour at dawn. \u00a9 Photo Agency", 0),  # a credit line
        Block(f"{PARAGRAPHS[1]} Quoted under licence \u00a9 2026 " + "x" * 400, 0),  # prose
    ]
    assert article_paragraphs(blocks, []) == [
        long_text,
        "A short line of the story.",
        blocks[-1].text,
    ]
    # Where links are kept (link share above 1), nothing is a link list's title.
    assert "Related" in article_paragraphs(blocks, [], link_share=1.01)


def test_a_closing_label_line_is_dropped_and_a_closing_sentence_kept():
    page = article_html(json_ld(headline="Harbour bridge reopens after repairs"))
    sentence = "Update: the council confirmed the opening date on Tuesday."
    label = "Source: City council, Harbour Photo Agency"  # a label line, last
    extra = f"<p>{sentence}</p><p>{label}</p>"
    item = extract_article(response(page.replace("</article>", f"{extra}</article>", 1)))
    assert item is not None
    assert item["body"] == f"{BODY}\n\n{sentence}"
    # The same sentence last, where it ends the text with a full stop, stays.
    extra = f"<p>{sentence}</p>"
    item = extract_article(response(page.replace("</article>", f"{extra}</article>", 1)))
    assert item is not None
    assert item["body"] == f"{BODY}\n\n{sentence}"


def test_a_label_line_is_dropped_only_last_and_only_when_it_is_no_sentence():
    story = PARAGRAPHS[0]
    label = "Photo credits: Harbour Photo Agency / J. Smith"
    assert article_paragraphs([Block(story, 0), Block(label, 0)], []) == [story]
    # Not last: a "Name: value" line inside the text (a recipe's, a product's) stays.
    assert article_paragraphs([Block(label, 0), Block(story, 0)], []) == [label, story]
    # A closing sentence that opens with a label, or one too long for a label line, stays.
    sentence = "Update: the council confirmed the date on Tuesday."
    assert article_paragraphs([Block(story, 0), Block(sentence, 0)], []) == [story, sentence]
    long_line = "Source: " + "the city council and the harbour authority " * 3
    assert article_paragraphs([Block(story, 0), Block(long_line, 0)], []) == [story, long_line]
    # Link text: a long linked paragraph and an address stay, a linked headline goes.
    linked = Block("x " * 250, 500)
    address = Block("mail@bridge.example", 19)
    headline = Block("New tram line opens to the airport at last", 42)
    assert article_paragraphs([Block(story, 0), linked, address, headline], []) == [
        story,
        linked.text,
        address.text,
    ]


def test_a_date_found_by_htmldate_leaves_the_page_tree_whole():
    # htmldate prunes what it searches (scripts, footers): a copy, since the article's other
    # fields are read from the same tree afterwards.
    import lxml.html

    from scraper.extract import metadata

    root = lxml.html.fromstring(
        "<html><head><title>T</title><script>var a = 1;</script></head><body>"
        "<h1>A headline</h1><p class='date'>Published 12 March 2021</p><p>Text.</p>"
        "<footer><a href='/'>Home</a> <style>p {}</style></footer></body></html>"
    )
    before = lxml.html.tostring(root)
    assert metadata._published(root, {}, {}) == "2021-03-12"
    assert lxml.html.tostring(root) == before
