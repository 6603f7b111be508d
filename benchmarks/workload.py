"""The callback work shared by every runner (ours, Scrapy, the naive loop): one module, so the
three do exactly the same CPU work per page and differ only in how they fetch and schedule.

- ``heavy(url, html)``: a full BeautifulSoup(lxml) parse, the visible text, tokenising, the
  top-20 terms and a 64-bit simhash over word 3-shingles (about 15 ms of CPU on a 90 KB page).
- ``light(url, html)``: lxml only: the title and the links (well under a millisecond on 10 KB).

A second workload per kind, with another CPU profile, so a result does not hang on the one
callback the framework was tuned on:

- ``heavy_lxml(url, html)``: lxml's tree and text instead of BeautifulSoup's, then arithmetic
  rather than tree walking: a 16-permutation MinHash signature over word 3-shingles and
  sentence statistics (about 10 ms of CPU on a 90 KB page, mostly integer arithmetic).
- ``light_soup(url, html)``: the light item with BeautifulSoup on lxml, as many spiders are
  written (a few times ``light``'s CPU, about a millisecond on 10 KB).

Both return ``(item or None, links)``: an item for article pages (``<article>`` present), and
the absolute URLs of every ``<a href>`` on the page, in document order.
"""

from __future__ import annotations

import hashlib
import re
import sys
import zlib
from array import array
from collections import Counter
from typing import Any
from urllib.parse import urljoin

_STOP = (
    "a an and are as at be by for from has he in is it its of on or that the to was were will "
    "with this these those not but they we you i his her their our"
)
STOPWORDS = frozenset(_STOP.split())
TOKEN = re.compile(r"[a-z][a-z0-9']+")
INVISIBLE = ("script", "style", "noscript", "template", "head")


def simhash64(tokens: list[str]) -> int:
    """64-bit simhash over word 3-shingles.

    Each distinct word gets a stable 64-bit id (blake2b); a shingle's hash is the (unsalted)
    tuple hash of its three ids;
    per-bit votes are counted byte-wise (C-level Counter over byte slices), not bit by bit.
    """
    blake = hashlib.blake2b
    ids = {
        w: int.from_bytes(blake(w.encode(), digest_size=8).digest(), "little") for w in set(tokens)
    }
    seq = [ids[t] for t in tokens]
    mask = (1 << 64) - 1
    # hash() of a tuple of ints is deterministic (no per-process salt, unlike str) and C-fast.
    hashes = array("Q", [hash(s) & mask for s in zip(seq, seq[1:], seq[2:], strict=False)])
    if sys.byteorder != "little":
        hashes.byteswap()
    raw = hashes.tobytes()
    half = len(hashes) / 2
    value = 0
    for j in range(8):
        counts = Counter(raw[j::8])
        for b in range(8):
            if sum(c for v, c in counts.items() if v >> b & 1) > half:
                value |= 1 << (8 * j + b)
    return value


def _soup(url: str, html: str | bytes) -> tuple[Any, list[str], str | None]:
    """BeautifulSoup(lxml) of the page, its absolute links, and its title if it is an article
    (None if not)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    links = [urljoin(url, a["href"]) for a in soup.find_all("a", href=True)]
    if soup.find("article") is None:
        return soup, links, None
    return soup, links, soup.title.get_text(strip=True) if soup.title else ""


def heavy(url: str, html: str | bytes) -> tuple[dict[str, Any] | None, list[str]]:
    soup, links, title = _soup(url, html)
    if title is None:
        return None, links
    for tag in soup(INVISIBLE):
        tag.decompose()
    text = soup.get_text(" ", strip=True)
    tokens = TOKEN.findall(text.lower())
    terms = Counter(t for t in tokens if t not in STOPWORDS).most_common(20)
    item = {
        "url": url,
        "title": title,
        "words": len(tokens),
        "top_terms": [term for term, _ in terms],
        "simhash": f"{simhash64(tokens):016x}",
    }
    return item, links


def light(url: str, html: str | bytes) -> tuple[dict[str, Any] | None, list[str]]:
    import lxml.html

    doc = lxml.html.fromstring(html)
    links = [urljoin(url, href) for href in doc.xpath("//a/@href")]
    if not doc.xpath("//article"):
        return None, links
    title = doc.findtext(".//title") or ""
    return {"url": url, "title": title.strip(), "links": len(links)}, links


SENTENCE = re.compile(r"[^.!?]+[.!?]")
MERSENNE_61 = (1 << 61) - 1
PERMUTATIONS = [
    ((2 * i + 1) * 0x9E3779B97F4A7C15 % MERSENNE_61, i * 0x632BE59BD9B4E019) for i in range(16)
]


def _article_text(url: str, html: str | bytes) -> tuple[list[str], str, str | None]:
    """With lxml: the page's links, its title and the visible text of its ``<article>`` (None
    where it has none)."""
    import lxml.html

    doc = lxml.html.fromstring(html)
    links = [urljoin(url, href) for href in doc.xpath("//a/@href")]
    article = doc.find(".//article")
    if article is None:
        return links, "", None
    title = (doc.findtext(".//title") or "").strip()
    for tag in article.iter(*INVISIBLE):
        tag.drop_tree()
    return links, title, article.text_content()


def heavy_lxml(url: str, html: str | bytes) -> tuple[dict[str, Any] | None, list[str]]:
    links, title, text = _article_text(url, html)
    if text is None:
        return None, links
    tokens = TOKEN.findall(text.lower())
    shingles = {" ".join(tokens[i : i + 3]) for i in range(len(tokens) - 2)}
    blake = hashlib.blake2b
    base = [int.from_bytes(blake(s.encode(), digest_size=8).digest(), "little") for s in shingles]
    # MinHash: PERMUTATIONS universal hashes (a*x + b mod a 61-bit prime), plain int arithmetic.
    signature = (
        [min((a * x + b) % MERSENNE_61 for x in base) for a, b in PERMUTATIONS] if base else []
    )
    sentences = [len(TOKEN.findall(s)) for s in SENTENCE.findall(text)]
    item = {
        "url": url,
        "title": title,
        "words": len(tokens),
        "sentences": len(sentences),
        "mean_sentence": round(sum(sentences) / len(sentences), 2) if sentences else 0.0,
        "minhash": [f"{h:016x}" for h in signature[:4]],
    }
    return item, links


def heavy_numpy(url: str, html: str | bytes) -> tuple[dict[str, Any] | None, list[str]]:
    # Imported in the callback, as spiders often do with a heavy library: the framework must
    # still load it once, before its workers fork, for them to share its pages.
    import numpy as np

    links, title, text = _article_text(url, html)
    if text is None:
        return None, links
    tokens = TOKEN.findall(text.lower())
    # Word 3-shingles hashed as vectors, then a 128-permutation MinHash in one array operation.
    ids = np.array([zlib.crc32(t.encode()) for t in tokens], dtype=np.uint64)
    if len(ids) < 3:
        return {"url": url, "title": title, "words": len(tokens), "minhash": []}, links
    shingles = np.unique(ids[:-2] * 1_000_003**2 + ids[1:-1] * 1_000_003 + ids[2:])
    seeds = np.arange(128, dtype=np.uint64)
    a, b = (seeds * 2 + 1) * 0x9E3779B1 % MERSENNE_61, seeds * 0x632BE59B % MERSENNE_61
    signature = ((shingles[None, :] * a[:, None] + b[:, None]) % MERSENNE_61).min(axis=1)
    counts = np.bincount(np.array([len(t) for t in tokens]), minlength=16)[:16]
    item = {
        "url": url,
        "title": title,
        "words": len(tokens),
        "word_lengths": counts.tolist(),
        "minhash": [f"{int(h):016x}" for h in signature[:4]],
    }
    return item, links


def light_soup(url: str, html: str | bytes) -> tuple[dict[str, Any] | None, list[str]]:
    _, links, title = _soup(url, html)
    if title is None:
        return None, links
    return {"url": url, "title": title, "links": len(links)}, links


CALLBACKS = {
    "heavy": heavy,
    "light": light,
    "heavy_lxml": heavy_lxml,
    "heavy_numpy": heavy_numpy,
    "light_soup": light_soup,
}
