"""Text statistics of an extracted body: tokens, shingles, lead-sentence summary, keywords.

Flow position: parse worker -> article -> body (agreement checks) and item fields -> **text**.

Tokens are Unicode ``\\w+`` runs, so every script counts words the same way (the article
extraction benchmark counts them so too). Keywords are ranked without a corpus: stop words come
from jusText's lists for about a hundred languages, and the list that covers most of the body is
the body's language, the classic stop-word language guess.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

from ..warm import warm_up

WORD = re.compile(r"\w+")
# A sentence ends at . ! ? or an ideographic full stop, possibly followed by closing quotes or
# brackets, then space; "U.S. officials" splits wrongly once in a while, which a summary survives.
SENTENCE_END = re.compile(r"(?<=[.!?\u2026\u3002\uff01\uff1f])[\"'\u201d\u2019)\]]*\s+")
SUMMARY_SENTENCES = 2
SUMMARY_MIN_CHARS = 200  # one long lead sentence is summary enough
KEYWORDS = 10
MIN_KEYWORD_CHARS = 3


def tokens(text: str) -> list[str]:
    return WORD.findall(text)


def folded_tokens(text: str) -> list[str]:
    """The text's tokens, case-folded: what keywords and simhash both read."""
    return [word.casefold() for word in tokens(text)]


def shingles(text: str, size: int = 4) -> set[tuple[str, ...]]:
    """Runs of ``size`` consecutive case-folded tokens; a shorter text is one shingle."""
    words = folded_tokens(text)
    if len(words) <= size:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def containment(part: set[tuple[str, ...]], whole: set[tuple[str, ...]]) -> float:
    """Share of ``part``'s shingles found in ``whole`` (0.0 for an empty part)."""
    return len(part & whole) / len(part) if part else 0.0


def summary(paragraphs: list[str]) -> str:
    """The lead: the first sentences of the first paragraph."""
    if not paragraphs:
        return ""
    sentences = SENTENCE_END.split(paragraphs[0].strip())
    lead = ""
    for sentence in sentences[:SUMMARY_SENTENCES]:
        lead = f"{lead} {sentence}".strip()
        if len(lead) >= SUMMARY_MIN_CHARS:
            break
    return lead


def keywords(
    body: str, title: str = "", count: int = KEYWORDS, words: list[str] | None = None
) -> list[str]:
    """The body's most telling words, best first: frequent, not stop words, doubled if in the
    title; ties go to the word that comes first. ``words``: the body's ``folded_tokens`` when
    the caller has them already."""
    if words is None:
        words = folded_tokens(body)
    counts = Counter(words)  # in order of first appearance: sorting keeps that order in ties
    stop = stopwords_for(counts)
    in_title = {word.casefold() for word in tokens(title)}
    frequency = {
        word: n * (2 if word in in_title else 1)
        for word, n in counts.items()
        if len(word) >= MIN_KEYWORD_CHARS and word not in stop and not word.isdigit()
    }
    return sorted(frequency, key=frequency.__getitem__, reverse=True)[:count]


def stopwords_for(counts: Counter[str]) -> frozenset[str]:
    """The jusText stop-word list that covers most of the words ``counts`` counts (empty if
    none covers any)."""
    stoplists, lists_of_word = _stoplists()
    hits: Counter[int] = Counter()
    for word, n in counts.items():
        for index in lists_of_word.get(word, ()):
            hits[index] += n
    if not hits:
        return frozenset()
    return stoplists[hits.most_common(1)[0][0]]


@warm_up  # built in the fork server: one copy shared by the workers
@cache
def _stoplists() -> tuple[tuple[frozenset[str], ...], dict[str, list[int]]]:
    """Every jusText stop-word list, and for each stop word the lists that hold it."""
    import justext  # loaded once, on the first body (in the fork server, before the workers)

    stoplists = tuple(
        frozenset(word.casefold() for word in justext.get_stoplist(name))
        for name in sorted(justext.get_stoplists())
    )
    lists_of_word: dict[str, list[int]] = {}
    for index, stoplist in enumerate(stoplists):
        for word in stoplist:
            lists_of_word.setdefault(word, []).append(index)
    return stoplists, lists_of_word
