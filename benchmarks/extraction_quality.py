"""Extraction quality on two data sets, scored so that tuning cannot fool it.

Flow position: ``benchmarks.extraction`` (the command) -> **extraction_quality** -> the
extractors of ``scraper.extract`` run in-process on saved pages, two worker processes.

- The article-extraction dev pages (``../shared/data/article-extraction-dev``, 40 news pages,
  the shingle metric of ``score``): the pages the thresholds may be chosen on.
- trafilatura's evaluation pages (``../shared/data/trafilatura-eval``, 949 pages of every kind,
  the snippet metric of ``snippet_score``): never tuned on; a rule that helps on the dev pages
  and hurts here is tuned to the dev pages.

The body extractor (``main_blocks`` + ``article_paragraphs``) and the article decision
(``extract_article`` returning an item or None) are scored apart. Every tunable threshold is
checked by k-fold cross-validation on the dev pages: chosen on k-1 folds, scored on the fold
held out. Each page is run once per threshold value that changes its evidence, and the results
are cached (keyed by the extractor's source), so re-running after a change to this file's
reports costs nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import multiprocessing
import pickle
import random
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scraper.extract.body import LINK_BLOCK_SHARE, prose_block

if TYPE_CHECKING:
    from lxml.html import HtmlElement

    from scraper.extract.metadata import Metadata

ROOT = Path(__file__).resolve().parent.parent
# The shared data folder sits beside the checkout (../shared), or beside a worktree's parent.
DATA = next(
    (d / "shared" / "data" for d in ROOT.parents if (d / "shared" / "data").is_dir()),
    ROOT.parent / "shared" / "data",
)
DEV = DATA / "article-extraction-dev"
TRAFILATURA_EVAL = DATA / "trafilatura-eval"
CACHE = Path.home() / ".cache" / "scraper-extraction-benchmark"
SHINGLE = 4
TOKEN = re.compile(r"\w+")
FOLDS = 5
FOLD_SEED = 20251125
# trafilatura's pages split in two by file, shuffled with this seed: a rule or threshold chosen
# while looking at the tuning half is judged by the held-out half (both are reported).
HALF_SEED = 15
# The grids the k-fold check chooses from; the shipped values are in scraper/extract.
LINK_SHARES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.01)  # 1.01: keep every block
ARTICLE_MIN_CHARS = (200, 300, 400, 600, 800)


# -- the metrics ------------------------------------------------------------------------------
def shingles(text: str) -> Counter[tuple[str, ...]]:
    words = TOKEN.findall(text)
    if len(words) < SHINGLE:
        return Counter([tuple(words)]) if words else Counter()
    return Counter(tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def __str__(self) -> str:
        return f"{self.precision:9.4f} {self.recall:7.4f} {self.f1:7.4f}"


def score(truth: dict[str, str], predicted: dict[str, str]) -> Score:
    """The article-extraction benchmark's metric (shingles, averaged over pages)."""
    precisions, recalls = [], []
    for page, true_text in truth.items():
        expected, got = shingles(true_text), shingles(predicted.get(page, ""))
        overlap = sum((expected & got).values())
        recalls.append(overlap / sum(expected.values()) if expected else 0.0)
        if got:
            precisions.append(overlap / sum(got.values()))
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    return Score(precision, sum(recalls) / len(recalls))


def _spaced(text: str) -> str:
    return " ".join(text.split())


def snippet_counts(expect: dict, text: str) -> tuple[int, int, int]:
    """(with-snippets found, with-snippets missed, without-snippets found) in ``text``."""
    text = _spaced(text)
    found = sum(_spaced(s) in text for s in expect["with"])
    return found, len(expect["with"]) - found, sum(_spaced(s) in text for s in expect["without"])


def snippet_score(expected: dict[str, dict], predicted: dict[str, str]) -> Score:
    """trafilatura's evaluation metric: snippets counted over all pages (micro-averaged)."""
    found = missed = wrong = 0
    for expect in expected.values():
        f, m, w = snippet_counts(expect, predicted.get(expect["file"], ""))
        found, missed, wrong = found + f, missed + m, wrong + w
    return Score(found / (found + wrong) if found + wrong else 0.0, found / (found + missed))


# -- one page ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Page:
    key: str  # page id (dev) or file name (trafilatura-eval)
    url: str
    path: Path


@dataclass(slots=True)
class Result:
    """Everything the reports need about one page; the thresholds vary in the dicts."""

    item_body: str | None  # extract_article as shipped: None when it yields no item
    bodies: dict[float, str] = field(default_factory=dict)  # body extractor, per link share
    # Per link share: is the page an article for each ARTICLE_MIN_CHARS value (in order)?
    decisions: dict[float, tuple[bool, ...]] = field(default_factory=dict)
    trafilatura: str = ""  # trafilatura.extract, default settings
    cpu_ours: float = 0.0  # extract_article, CPU seconds (parsing included)
    cpu_trafilatura: float = 0.0  # trafilatura.extract, CPU seconds (parsing included)
    why: str = ""  # why the shipped decision yields no item (empty when it yields one)


def run_page(page: Page) -> tuple[str, Result]:
    import trafilatura

    from scraper.extract import article, jsonld
    from scraper.extract.body import article_paragraphs, main_blocks, with_lead
    from scraper.extract.metadata import canonical_url, extract_metadata, headlines, meta_tags
    from scraper.models import Request, Response

    raw = gzip.decompress(page.path.read_bytes())
    response = Response(page.url, 200, {"content-type": "text/html"}, raw, Request(page.url))
    started = time.process_time()
    item = article.extract_article(response)
    cpu_ours = time.process_time() - started
    html = raw.decode("utf-8", "replace")
    started = time.process_time()
    reference = trafilatura.extract(html, url=page.url) or ""
    cpu_trafilatura = time.process_time() - started
    result = Result(item["body"] if item else None, trafilatura=reference)
    result.cpu_ours, result.cpu_trafilatura = cpu_ours, cpu_trafilatura
    root = response.selector.root  # parsed once, by extract_article above
    tags = meta_tags(root)
    canonical = canonical_url(root, tags, page.url)
    titles = headlines(root, tags)
    node = jsonld.article_node(jsonld.nodes(root), {page.url, canonical}, titles)
    declared = bool(node) or tags.get("og:type", "").casefold() == "article"
    blocks = main_blocks(response.text)
    metadata = extract_metadata(root, tags, node, canonical)
    for share in LINK_SHARES:
        paragraphs = with_lead(root, tags, article_paragraphs(blocks, titles, share))
        result.bodies[share] = "\n\n".join(paragraphs)
        result.decisions[share] = tuple(
            bool(paragraphs) and (declared or article.is_article(root, metadata, paragraphs, chars))
            for chars in ARTICLE_MIN_CHARS
        )
    if item is None:
        result.why = _why_not(root, declared, metadata, result.bodies[LINK_BLOCK_SHARE])
    return page.key, result


def _why_not(root: HtmlElement, declared: bool, metadata: Metadata, body: str) -> str:
    """Which part of the article rules a page that yields no item fails."""
    if not body:
        return "no text extracted"
    if declared:
        return "declared, yet no item"  # would be a bug: the decision never refuses these
    if not metadata.title:
        return "no headline"
    if not (metadata.published or metadata.authors):
        return "no date or byline"
    return f"prose block {prose_block(root, body.split(chr(10) * 2))[1]} characters"


def _warm_up() -> None:
    """Load what both extractors load once per process (trafilatura, the stop-word lists), so
    the CPU per page measured is the steady state a long crawl sees, for both alike."""
    import trafilatura

    from scraper.extract.text import _stoplists

    _stoplists()
    trafilatura.extract("<html><body><p>A warm-up page with a sentence.</p></body></html>")


def run_pages(pages: list[Page], workers: int = 2) -> dict[str, Result]:
    """``run_page`` over ``pages`` in ``workers`` processes, through the on-disk cache."""
    cache = CACHE / f"{_source_key()}.pickle"
    cached: dict[str, Result] = {}
    if cache.exists():
        cached = pickle.loads(cache.read_bytes())
    todo = [page for page in pages if page.key not in cached]
    if todo:
        with multiprocessing.get_context("spawn").Pool(workers, _warm_up) as pool:
            cached.update(pool.imap_unordered(run_page, todo, chunksize=4))
        CACHE.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(cached))
    return {page.key: cached[page.key] for page in pages}


def _source_key() -> str:
    """A digest of the code that produces a Result: a change to it invalidates the cache."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "scraper" / "extract").glob("*.py")) + [Path(__file__)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# -- the data sets ----------------------------------------------------------------------------
def dev_pages(data: Path = DEV) -> tuple[list[Page], dict[str, str]]:
    truth = json.loads((data / "ground-truth.json").read_text("utf-8"))
    pages = [
        Page(key, entry["url"], data / "html" / f"{key}.html.gz") for key, entry in truth.items()
    ]
    return pages, {key: entry["articleBody"] for key, entry in truth.items()}


def trafilatura_pages(data: Path = TRAFILATURA_EVAL) -> tuple[list[Page], dict[str, dict]]:
    expected = json.loads((data / "evaldata.json").read_text("utf-8"))
    by_file: dict[str, Page] = {}
    for url, expect in expected.items():  # a file serving several URLs is run once
        file = expect["file"]
        by_file.setdefault(file, Page(file, url, data / "html" / file))
    return list(by_file.values()), expected


# -- the reports ------------------------------------------------------------------------------
def _bodies(results: dict[str, Result], share: float) -> dict[str, str]:
    return {key: result.bodies[share] for key, result in results.items()}


def _items(results: dict[str, Result], share: float, chars: int) -> dict[str, str]:
    """Item bodies under the given thresholds: empty where the page yields no item."""
    index = ARTICLE_MIN_CHARS.index(chars)
    return {key: r.bodies[share] if r.decisions[share][index] else "" for key, r in results.items()}


def halves(expected: dict[str, dict]) -> dict[str, dict[str, dict]]:
    """trafilatura's expectations split by file into a tuning half and a held-out half (the
    shuffle of the sorted file names with ``HALF_SEED``, every other file)."""
    files = sorted({expect["file"] for expect in expected.values()})
    random.Random(HALF_SEED).shuffle(files)
    tuning = set(files[::2])
    return {
        half: {u: e for u, e in expected.items() if (e["file"] in tuning) == (half == "tuning")}
        for half in ("tuning", "held-out")
    }


def worst_pages(expected: dict[str, dict], bodies: dict[str, str], count: int) -> list[str]:
    """The ``count`` URLs of trafilatura's pages with the most snippets wrong (with-snippets
    missed plus without-snippets kept) in ``bodies``, each with the snippets it got wrong."""
    errors = []
    for url, expect in expected.items():
        text = _spaced(bodies.get(expect["file"], ""))
        missed = [s for s in expect["with"] if _spaced(s) not in text]
        kept = [s for s in expect["without"] if _spaced(s) in text]
        errors.append((len(missed) + len(kept), url, expect, missed, kept))
    errors.sort(key=lambda error: (-error[0], error[1]))
    lines = []
    for _, url, expect, missed, kept in errors[:count]:
        lines.append(
            f"  {expect['file']}: {len(missed)}/{len(expect['with'])} with-snippets missed, "
            f"{len(kept)}/{len(expect['without'])} without-snippets kept; "
            f"{len(bodies.get(expect['file'], ''))} characters extracted ({url})"
        )
        lines += [f"    missed: {snippet[:100]!r}" for snippet in missed]
        lines += [f"    kept:   {snippet[:100]!r}" for snippet in kept]
    return lines


def article_body_pages(expected: dict[str, dict], bodies: dict[str, str]) -> set[str]:
    """Files whose with-snippets come from an article body: the body extractor's text holds
    at least half of them (the rest of the page's snippets are not main text at all)."""
    found = set()
    for expect in expected.values():
        hit, missed, _ = snippet_counts(expect, bodies[expect["file"]])
        if expect["with"] and hit >= missed:
            found.add(expect["file"])
    return found


def kfold(truth: dict[str, str], results: dict[str, Result], k: int = FOLDS) -> list[str]:
    """Choose (link share, article minimum characters) on k-1 folds of the dev pages by item
    F1, score the fold held out; one line per fold and the mean and spread."""
    keys = sorted(truth)
    random.Random(FOLD_SEED).shuffle(keys)
    folds = [keys[i::k] for i in range(k)]
    grid = list(itertools.product(LINK_SHARES, ARTICLE_MIN_CHARS))
    lines, held_out = [], []
    for index, fold in enumerate(folds):
        train = [key for key in keys if key not in fold]

        def f1_on(pages: list[str], share: float, chars: int) -> float:
            predicted = _items({key: results[key] for key in pages}, share, chars)
            return score({key: truth[key] for key in pages}, predicted).f1

        share, chars = max(grid, key=lambda values: (f1_on(train, *values), values == grid[0]))
        held_out.append(f1_on(fold, share, chars))
        lines.append(
            f"  fold {index + 1}: chose link share {share}, article min chars {chars}; "
            f"train F1 {f1_on(train, share, chars):.4f}, held-out F1 {held_out[-1]:.4f} "
            f"({len(fold)} pages)"
        )
    lines.append(
        f"  held-out F1: mean {statistics.mean(held_out):.4f}, "
        f"stdev {statistics.stdev(held_out):.4f}, min {min(held_out):.4f}, max {max(held_out):.4f}"
    )
    return lines


def report(subset: int | None = None, workers: int = 2, worst: int = 0) -> list[str]:
    """Every quality figure, as printable lines; ``subset`` runs the first pages of each set,
    ``worst`` lists that many of trafilatura's pages the body extractor gets most wrong."""
    from scraper.extract.article import ARTICLE_MIN_CHARS as SHIPPED_CHARS

    dev, truth = dev_pages()
    other, expected = trafilatura_pages()
    if subset:
        dev, other = dev[:subset], other[:subset]
        truth = {p.key: truth[p.key] for p in dev}
        files = {p.key for p in other}
        expected = {u: e for u, e in expected.items() if e["file"] in files}
    started = time.monotonic()
    dev_results = run_pages(dev, workers)
    other_results = run_pages(other, workers)
    lines = [
        f"{len(dev)} dev pages, {len(other)} trafilatura-eval pages ({len(expected)} URLs), "
        f"{time.monotonic() - started:.0f} s with {workers} workers (0 s: cached)",
        f"shipped thresholds: link share {LINK_BLOCK_SHARE}, article min chars {SHIPPED_CHARS}",
        "",
        f"{'':44} {'dev (shingles)':^25}   {'trafilatura-eval (snippets)':^25}",
        f"{'':44} {'precision':>9} {'recall':>7} {'F1':>7}   {'precision':>9} {'recall':>7} "
        f"{'F1':>7}",
    ]
    rows = [
        (
            "body extractor",
            _bodies(dev_results, LINK_BLOCK_SHARE),
            _bodies(other_results, LINK_BLOCK_SHARE),
        ),
        (
            "items (article decision, then body)",
            {k: r.item_body or "" for k, r in dev_results.items()},
            {k: r.item_body or "" for k, r in other_results.items()},
        ),
        (
            "trafilatura.extract alone (default)",
            {k: r.trafilatura for k, r in dev_results.items()},
            {k: r.trafilatura for k, r in other_results.items()},
        ),
    ]
    for name, dev_text, other_text in rows:
        lines.append(f"{name:44} {score(truth, dev_text)}   {snippet_score(expected, other_text)}")
    lines += ["", f"trafilatura-eval halves (seed {HALF_SEED}), snippet precision, recall, F1:"]
    for half, part in halves(expected).items():
        files = {e["file"] for e in part.values()}
        lines += [
            f"  {half:8} ({len(files)} pages) {name:36} {snippet_score(part, other_text)}"
            for name, _, other_text in rows
        ]
    lines += ["", "article decision:"]
    dev_items = sum(r.item_body is not None for r in dev_results.values())
    lines.append(
        f"  dev pages (all articles): {dev_items}/{len(dev_results)} yield an item "
        f"(decision recall {dev_items / len(dev_results):.4f})"
    )
    bodies = _bodies(other_results, LINK_BLOCK_SHARE)
    article_pages = article_body_pages(expected, bodies)
    lost = sorted(f for f in article_pages if other_results[f].item_body is None)
    lines.append(
        f"  trafilatura-eval: {len(article_pages)} pages whose with-snippets come from the body; "
        f"{len(lost)} yield no item ({len(lost) / max(1, len(article_pages)):.2%})"
    )
    lines += [f"    no item: {name} ({other_results[name].why})" for name in lost]
    empty = sorted(
        (k, r.why)
        for results in (dev_results, other_results)
        for k, r in results.items()
        if r.trafilatura.strip() and not r.item_body
    )
    lines.append(
        f"  pages where trafilatura finds text and we yield no item (or an empty body): "
        f"{len(empty)}; why: {dict(Counter(re.sub(r'[0-9]+', 'N', why) for _, why in empty))}"
    )
    lines += [f"    {name}: {why}" for name, why in empty if name not in lost]
    lines += ["", f"k-fold check on the dev pages (k={FOLDS}, item bodies, joint grid):"]
    lines += kfold(truth, dev_results)
    lines += ["", "each threshold alone on both sets (items; the other threshold as shipped):"]
    for share in LINK_SHARES:
        dev_f1 = score(truth, _items(dev_results, share, SHIPPED_CHARS)).f1
        other_f1 = snippet_score(expected, _items(other_results, share, SHIPPED_CHARS)).f1
        lines.append(
            f"  link share {share:<5} dev F1 {dev_f1:.4f}   trafilatura-eval F1 {other_f1:.4f}"
        )
    for chars in ARTICLE_MIN_CHARS:
        other_items = _items(other_results, LINK_BLOCK_SHARE, chars)
        lost_here = sum(not other_items[f] for f in article_pages)
        lines.append(
            f"  article min chars {chars:<4} dev F1 "
            f"{score(truth, _items(dev_results, LINK_BLOCK_SHARE, chars)).f1:.4f}"
            f"   trafilatura-eval F1 {snippet_score(expected, other_items).f1:.4f}, "
            f"body pages lost {lost_here}"
        )
    ours = sum(r.cpu_ours for r in [*dev_results.values(), *other_results.values()])
    theirs = sum(r.cpu_trafilatura for r in [*dev_results.values(), *other_results.values()])
    pages = len(dev_results) + len(other_results)
    lines += [
        "",
        f"CPU per page (in the workers, parsing included): extract_article "
        f"{1000 * ours / pages:.1f} ms, trafilatura.extract {1000 * theirs / pages:.1f} ms; "
        f"ratio {ours / theirs:.2f}x",
    ]
    if worst:
        lines += ["", f"the {worst} trafilatura-eval pages with the most snippets wrong (body):"]
        lines += worst_pages(expected, bodies, worst)
    return lines


URL_DATE = re.compile(r"(20\d\d)[/-]?(\d\d)[/-]?(\d\d)")


def metadata_report(data: Path = DEV) -> list[str]:
    """Our metadata against trafilatura's (``trafilatura.metadata.extract_metadata``, which
    dates with htmldate) on the dev pages. The ground truth has the page's URL only, so the
    canonical URL is checked against it and dates against a date in the URL where there is
    one; titles and authors are counted where the two agree, the rest is for reading."""
    from trafilatura.metadata import extract_metadata as trafilatura_metadata

    from scraper.extract import jsonld
    from scraper.extract.metadata import canonical_url, extract_metadata, headlines, meta_tags
    from scraper.models import Request, Response

    pages, _ = dev_pages(data)
    counts: Counter[str] = Counter()
    differ: list[str] = []
    for page in pages:
        raw = gzip.decompress(page.path.read_bytes())
        response = Response(page.url, 200, {}, raw, Request(page.url))
        root = response.selector.root
        tags = meta_tags(root)
        canonical = canonical_url(root, tags, page.url)
        titles = headlines(root, tags)
        node = jsonld.article_node(jsonld.nodes(root), {page.url, canonical}, titles)
        ours = extract_metadata(root, tags, node, canonical)
        theirs = trafilatura_metadata(response.text, default_url=page.url)
        authors = "; ".join(ours.authors)
        counts["title agrees"] += ours.title == theirs.title
        counts["authors agree"] += authors == (theirs.author or "")
        counts["canonical right, ours"] += jsonld.url_key(ours.canonical_url) == jsonld.url_key(
            page.url
        )
        counts["canonical right, trafilatura"] += jsonld.url_key(
            theirs.url or ""
        ) == jsonld.url_key(page.url)
        if match := URL_DATE.search(page.url):
            day = "-".join(match.groups())
            counts["pages with a date in the URL"] += 1
            counts["date = URL date, ours"] += (ours.published or "")[:10] == day
            counts["date = URL date, trafilatura"] += (theirs.date or "")[:10] == day
        for name, mine, other in (
            ("title", ours.title, theirs.title or ""),
            ("authors", authors, theirs.author or ""),
            ("date", (ours.published or "")[:10], (theirs.date or "")[:10]),
        ):
            if mine != other:
                differ.append(f"    {page.key[:8]} {name}: ours {mine!r}; trafilatura {other!r}")
    lines = [f"metadata on the {len(pages)} dev pages, ours against trafilatura's:"]
    lines += [f"  {name}: {value}" for name, value in counts.items()]
    return [*lines, "  where they differ:", *differ]
