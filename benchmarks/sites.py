"""Deterministic benchmark sites: static HTML files, one folder per host address.

Layout of every host (``root/<addr>/``):

    /index.html        links to every listing page
    /l/<n>.html        links to up to ``per_listing`` articles (and back to the index)
    /a/<n>.html        an <article> of about ``page_bytes`` bytes, linking to the index, its
                       listing and ``related`` (three) other articles of the same host
                       (already-seen URLs: the crawlers' de-duplication is exercised on every
                       page)

The same ``(seed, sizes)`` always gives byte-identical files. A site is generated once and
reused while its ``manifest.json`` matches the parameters. Sites are never committed.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

TEXT_SHARE = 0.35  # share of an article page that is visible article text
FAULT_KINDS = ("500", "503", "reset", "hang", "truncate")


@dataclass(frozen=True)
class SiteSpec:
    hosts: int
    articles: int  # total articles over all hosts
    page_bytes: int
    per_listing: int = 100
    seed: int = 1
    fault_rate: float = 0.0  # share of articles per fault kind (faults scenario only)
    related: int = 3  # links from each article to other articles of its host
    addr_prefix: str = "127.0.77."


@dataclass
class Site:
    root: Path
    spec: SiteSpec
    addrs: list[str]
    articles: int
    pages: int  # articles + listings + indexes: every page a full crawl fetches once
    pages_per_host: list[int]
    faults: dict[str, str] = field(default_factory=dict)  # "addr/uri" -> kind

    def start_urls(self, port: int) -> list[str]:
        return [f"http://{addr}:{port}/index.html" for addr in self.addrs]


def _vocabulary(rng: random.Random, size: int = 6000) -> tuple[list[str], list[float]]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights_l = [26 - i for i in range(26)]
    words: set[str] = set()
    while len(words) < size:
        n = rng.choice((2, 3, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10, 11))
        words.add("".join(rng.choices(letters, weights_l, k=n)))
    ordered = sorted(words)
    rng.shuffle(ordered)
    cum, total = [], 0.0
    for rank in range(1, len(ordered) + 1):  # Zipf-like frequencies
        total += 1.0 / rank**1.05
        cum.append(total)
    return ordered, cum


def _paragraphs(rng: random.Random, vocab: list[str], cum: list[float], budget: int) -> list[str]:
    out, used = [], 0
    while used < budget:
        n = rng.randint(60, 160)
        words = rng.choices(vocab, cum_weights=cum, k=n)
        if n > 100:  # a little inline markup, as real articles have
            k = rng.randrange(5, n - 10)
            words[k] = f"<em>{words[k]}</em>"
        words[0] = words[0].capitalize()
        para = f"<p>{' '.join(words)}.</p>"
        out.append(para)
        used += len(para) + 1
    return out


STYLE = "<style>body{font:16px serif;margin:0 auto;max-width:40em}nav a{margin:0 .5em}</style>"
SCRIPT = (
    "<script>window.dataLayer=window.dataLayer||[];function t(){dataLayer.push(arguments)}</script>"
)


def _article(
    rng: random.Random,
    vocab: list[str],
    cum: list[float],
    host: int,
    n: int,
    listing: int,
    related: list[int],
    page_bytes: int,
) -> str:
    title = " ".join(rng.choices(vocab, cum_weights=cum, k=6)).capitalize()
    head = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
        f'{STYLE}{SCRIPT}</head><body><header><nav><a href="/index.html">Home</a>'
        f'<a href="/l/{listing}.html">Section {listing}</a></nav></header>'
        f"<main><article><h1>{title}</h1><p class=byline>Host {host}, story {n}</p>"
    )
    tail = (
        "</article><aside><h2>Related</h2><ul>"
        + "".join(f'<li><a href="/a/{r}.html">Story {r}</a></li>' for r in related)
        + "</ul></aside></main><footer><p>Benchmark site, generated.</p></footer></body></html>"
    )
    # Like a real news page, most of the bytes are not article text: an inline JSON state blob
    # (one cheap text node for the parser) takes ``1 - TEXT_SHARE`` of the page.
    text_budget = int(page_bytes * TEXT_SHARE)
    body = "\n".join(_paragraphs(rng, vocab, cum, text_budget))
    blob_len = max(0, page_bytes - len(head) - len(body) - len(tail) - 60)
    blob = rng.randbytes(blob_len // 2 + 1).hex()[:blob_len]
    state = f'<script type="application/json" id="state">{{"s":"{blob}"}}</script>'
    return head.replace("</head>", state + "</head>", 1) + body + tail


def _listing(n: int, articles: range) -> str:
    items = "".join(f'<li><a href="/a/{a}.html">Story {a}</a></li>' for a in articles)
    return (
        f"<!doctype html><html><head><title>Section {n}</title></head><body>"
        f'<nav><a href="/index.html">Home</a></nav><ul>{items}</ul></body></html>'
    )


def _index(listings: int) -> str:
    items = "".join(f'<li><a href="/l/{n}.html">Section {n}</a></li>' for n in range(listings))
    head = "<!doctype html><html><head><title>Index</title></head>"
    return f"{head}<body><ul>{items}</ul></body></html>"


def generate(spec: SiteSpec, root: Path) -> Site:
    """Write the site under ``root`` (reused when already there with the same spec)."""
    manifest = root / "manifest.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        if data.get("spec") == asdict(spec):
            return Site(root=root, spec=spec, **{k: v for k, v in data.items() if k != "spec"})
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = random.Random(spec.seed)
    vocab, cum = _vocabulary(rng)
    addrs = [f"{spec.addr_prefix}{i + 1}" for i in range(spec.hosts)]
    pages_per_host, faults = [], {}
    for h, (addr, count) in enumerate(zip(addrs, articles_per_host(spec), strict=True)):
        hrng = random.Random(spec.seed * 1_000_003 + h)
        listings = listings_for(count, spec.per_listing)
        (root / addr / "l").mkdir(parents=True)
        (root / addr / "a").mkdir()
        (root / addr / "index.html").write_text(_index(listings))
        for n in range(listings):
            span = range(n * spec.per_listing, min(count, (n + 1) * spec.per_listing))
            (root / addr / "l" / f"{n}.html").write_text(_listing(n, span))
        for a in range(count):
            related = [hrng.randrange(count) for _ in range(spec.related)]
            html = _article(hrng, vocab, cum, h, a, a // spec.per_listing, related, spec.page_bytes)
            (root / addr / "a" / f"{a}.html").write_text(html)
        pages_per_host.append(1 + listings + count)
        if spec.fault_rate:
            frng = random.Random(spec.seed * 7919 + h)
            n_each = max(1, round(count * spec.fault_rate))
            chosen = frng.sample(range(count), n_each * len(FAULT_KINDS))
            for i, a in enumerate(chosen):
                faults[f"{addr}/a/{a}.html"] = FAULT_KINDS[i % len(FAULT_KINDS)]
    site = Site(
        root=root,
        spec=spec,
        addrs=addrs,
        articles=spec.articles,
        pages=sum(pages_per_host),
        pages_per_host=pages_per_host,
        faults=faults,
    )
    data = {k: v for k, v in asdict(site).items() if k not in ("root", "spec")}
    data["spec"] = asdict(spec)
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, manifest)
    return site


def articles_per_host(spec: SiteSpec) -> list[int]:
    """The articles each host serves: the site's articles spread evenly, the first hosts one
    more when they do not divide."""
    base, extra = divmod(spec.articles, spec.hosts)
    return [base + (1 if i < extra else 0) for i in range(spec.hosts)]


def listings_for(articles: int, per_listing: int) -> int:
    """The listing pages of a host with ``articles`` articles (at least one)."""
    return max(1, math.ceil(articles / per_listing))


def articles_for_pages_per_host(pages_per_host: int, per_listing: int = 100) -> int:
    """Articles per host so that index + listings + articles is exactly ``pages_per_host``."""
    for articles in range(pages_per_host, 0, -1):
        if 1 + listings_for(articles, per_listing) + articles <= pages_per_host:
            return articles
    return 1
