"""Simhash and the near-duplicate pipeline (scraper.extract.simhash, .near_duplicates)."""

from __future__ import annotations

import itertools
import random

import pytest

from scraper.extract.near_duplicates import MAX_DISTANCE, NearDuplicatePipeline
from scraper.extract.simhash import from_hex, hamming, simhash, to_hex

WORDS = [f"word{n}" for n in range(40)]  # a small vocabulary, as news prose has


def story(seed: int, words: int = 300) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words))


def test_simhash_is_64_bits_stable_and_close_for_small_edits():
    text = story(1)
    assert simhash(text) == simhash(text) and 0 < simhash(text) < 2**64
    assert simhash("") == 0
    edited = text.replace(text.split()[10], "ferry", 1)
    assert hamming(simhash(text), simhash(edited)) <= MAX_DISTANCE
    assert hamming(simhash(text), simhash(story(2))) > 3 * MAX_DISTANCE
    assert simhash(text.upper()) == simhash(text)  # case does not make another text
    assert from_hex(to_hex(simhash(text))) == simhash(text) and len(to_hex(1)) == 16


def item(url: str, text: str, canonical: str | None = None) -> dict:
    return {
        "url": url,
        "canonical_url": canonical or url,
        "simhash": to_hex(simhash(text)),
        "word_count": len(text.split()),
        "near_duplicate_of": None,
    }


def marks(items: list[dict]) -> dict[str, str | None]:
    pipeline = NearDuplicatePipeline()
    return {i["url"]: pipeline.process_item(dict(i), None)["near_duplicate_of"] for i in items}


ORIGINAL = "https://a.example/world/story.html"


@pytest.mark.parametrize(
    "order", list(itertools.permutations(range(4))), ids=lambda o: "".join(map(str, o))
)
def test_copies_declaring_their_original_are_marked_whatever_the_order(order):
    text = story(1)
    items = [
        item(ORIGINAL, text),
        item("https://b.example/wire/story.html", text, canonical=ORIGINAL),
        item("https://c.example/wire/story.html", text + " Reuters", canonical=ORIGINAL),
        item("https://a.example/world/other.html", story(2)),
    ]
    assert marks([items[i] for i in order]) == {
        ORIGINAL: None,
        "https://b.example/wire/story.html": ORIGINAL,
        "https://c.example/wire/story.html": ORIGINAL,
        "https://a.example/world/other.html": None,
    }


def test_undeclared_copy_is_marked_with_the_earlier_page_or_its_original():
    text = story(3)
    declared = item("https://b.example/wire/x.html", text, canonical=ORIGINAL)
    undeclared = item("https://c.example/copy.html", text)
    # The undeclared copy matches a declared copy of a page not seen yet: same original.
    assert marks([declared, undeclared])[undeclared["url"]] == ORIGINAL
    first, second = item("https://c.example/1.html", text), item("https://d.example/2.html", text)
    assert marks([first, second]) == {first["url"]: None, second["url"]: first["url"]}


def test_canonical_elsewhere_with_other_text_is_not_marked():
    page_one = item("https://a.example/long.html", story(4))
    page_two = item("https://a.example/long.html?page=2", story(5), canonical=page_one["url"])
    assert marks([page_one, page_two])[page_two["url"]] is None


def test_short_texts_and_items_without_simhash_pass_untouched():
    short = [item(f"https://a.example/{n}.html", "Breaking news, more soon") for n in range(2)]
    assert set(marks(short).values()) == {None}
    pipeline = NearDuplicatePipeline()
    assert pipeline.process_item({"title": "no simhash"}, None) == {"title": "no simhash"}
