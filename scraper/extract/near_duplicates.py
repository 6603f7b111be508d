"""Near-duplicate articles across a crawl: syndicated and republished copies of one story.

Flow position: item queue -> **NearDuplicatePipeline** (main process) -> exporter.

The workers compute each body's simhash; this pipeline keeps only ``(simhash, url)`` pairs, in
Manku et al.'s block index (WWW 2007): a 64-bit simhash split into MAX_DISTANCE + 1 blocks, so
two fingerprints within MAX_DISTANCE bits share at least one whole block, and a lookup touches
only the entries that share one.

Which of two near-identical pages is the original must not depend on which was crawled first,
so the decision follows what the pages say about themselves:

- A page whose canonical URL is another page declares itself a copy of that page. If that page
  was seen, the copy is marked with its original when within MAX_DISTANCE (and not marked when
  far: page 2 of a story pointing at page 1 is no copy). If not seen yet, the publisher's word
  stands and the copy is marked with the canonical URL; should that page arrive and prove far,
  a warning is logged (the copy's item is already exported).
- A page that earlier copies named as their canonical is their original: never marked.
- Any other page is marked with the original of the earliest page within MAX_DISTANCE. A
  declared copy's original is its canonical, so a page matching a declared copy is marked a
  copy of the same original whatever the order. Only between pages that declare nothing does
  the crawl order decide (the earlier is the original): nothing better is known.

A mark always names the root of a chain: a copy of a copy is marked with the first original.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .simhash import from_hex, hamming

# Bits of 64. Manku et al. chose 3 for billions of pages; a crawl is smaller, and measured on
# the dev set and the demo site, unrelated bodies are 20 bits apart or more, while a body with
# a line added or a word changed is within 7 bits nine times in ten (within 3 only half the time).
MAX_DISTANCE = 7
BLOCKS = MAX_DISTANCE + 1
BLOCK_BITS = 64 // BLOCKS
# Short texts share too many features for their simhashes to mean anything.
MIN_WORDS = 50

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Entry:
    fingerprint: int
    url: str
    original: str  # the url itself, or the original it was marked a copy of


class SimhashIndex:
    """Fingerprints by block, for lookups within MAX_DISTANCE bits."""

    def __init__(self) -> None:
        self._tables: list[dict[int, list[_Entry]]] = [{} for _ in range(BLOCKS)]

    def add(self, entry: _Entry) -> None:
        for table, key in zip(self._tables, _blocks(entry.fingerprint), strict=True):
            table.setdefault(key, []).append(entry)

    def near(self, fingerprint: int) -> list[_Entry]:
        """Entries within MAX_DISTANCE bits, in the order they were added."""
        found: dict[str, _Entry] = {}
        for table, key in zip(self._tables, _blocks(fingerprint), strict=True):
            for entry in table.get(key, ()):
                if hamming(entry.fingerprint, fingerprint) <= MAX_DISTANCE:
                    found.setdefault(entry.url, entry)
        return list(found.values())


def _blocks(fingerprint: int) -> list[int]:
    mask = (1 << BLOCK_BITS) - 1
    return [fingerprint >> (i * BLOCK_BITS) & mask for i in range(BLOCKS)]


class NearDuplicatePipeline:
    """Sets ``near_duplicate_of`` on items (see the module docstring for the rule)."""

    def __init__(self) -> None:
        self._index = SimhashIndex()
        self._seen: dict[str, _Entry] = {}  # by url
        self._pending: dict[str, list[_Entry]] = {}  # unseen canonical url -> its declared copies

    def process_item(self, item: dict[str, Any], spider: Any) -> dict[str, Any]:
        fingerprint, url = item.get("simhash"), item.get("url")
        if not isinstance(fingerprint, str) or not isinstance(url, str) or url in self._seen:
            return item
        if int(item.get("word_count") or 0) < MIN_WORDS:
            return item
        value = from_hex(fingerprint)
        canonical = item.get("canonical_url") or url
        if canonical != url:
            original = self._seen.get(canonical)
            if original is None:
                item["near_duplicate_of"] = canonical
            elif hamming(original.fingerprint, value) <= MAX_DISTANCE:
                item["near_duplicate_of"] = original.original
        elif url in self._pending:
            self._check_declared(url, value)
        elif near := self._index.near(value):
            # A declared copy's entry names its canonical as original, so a page matching it
            # is marked a copy of that canonical page too, whether or not it has been seen.
            item["near_duplicate_of"] = near[0].original
        entry = _Entry(value, url, item.get("near_duplicate_of") or url)
        if canonical != url and canonical not in self._seen:
            self._pending.setdefault(canonical, []).append(entry)
        self._seen[url] = entry
        self._index.add(entry)
        return item

    def _check_declared(self, url: str, fingerprint: int) -> None:
        """``url`` arrived after pages that declared it their canonical: it is their original,
        never a copy; say so when the copies turn out not to be near it after all."""
        for copy in self._pending.pop(url):
            distance = hamming(copy.fingerprint, fingerprint)
            if distance > MAX_DISTANCE:
                logger.warning(
                    "%s was marked a near-duplicate of its canonical %s, %d bits away",
                    copy.url,
                    url,
                    distance,
                )
