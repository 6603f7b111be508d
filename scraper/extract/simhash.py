"""64-bit simhash of a text (Charikar 2002) and the Hamming distance between two of them.

Flow position: parse worker -> article -> **simhash** -> item ``simhash`` field -> near-duplicate
pipeline (main process), which only compares the numbers.

Features are overlapping runs of three case-folded words, so reordered boilerplate counts for
little and one changed word moves few bits. In items the simhash travels as 16 lower-case hex
digits: a JSON number above 2**53 would lose bits in most JSON readers.
"""

from __future__ import annotations

import hashlib

from .text import folded_tokens

BITS = 64
BYTES = BITS // 8
FEATURE_WORDS = 3
# _BIT_TABLES[b] maps a byte to 1 if its bit b is set, else to 0.
_BIT_TABLES = tuple(bytes(value >> bit & 1 for value in range(256)) for bit in range(8))


def simhash(text: str, words: list[str] | None = None) -> int:
    """The text's 64-bit simhash; 0 for a text without words. ``words``: the text's
    ``folded_tokens`` when the caller has them already."""
    if words is None:
        words = folded_tokens(text)
    if not words:
        return 0
    size = min(FEATURE_WORDS, len(words))
    features = {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}
    digests = b"".join(
        hashlib.blake2b(feature.encode(), digest_size=BYTES).digest() for feature in features
    )
    count = len(digests) // BYTES
    fingerprint = 0
    for position in range(BYTES):
        # One byte of every feature hash at once, bit by bit, at C speed: translate maps each
        # byte to 1 or 0 by the bit, count adds them up.
        column = digests[position::BYTES]
        for bit in range(8):
            if 2 * column.translate(_BIT_TABLES[bit]).count(1) > count:
                fingerprint |= 1 << (BITS - 8 * (position + 1) + bit)
    return fingerprint


def to_hex(fingerprint: int) -> str:
    return f"{fingerprint:016x}"


def from_hex(text: str) -> int:
    return int(text, 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
