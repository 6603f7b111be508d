"""Deterministic content of the demo news site: hosts, sections, stories and their ground truth.

Nothing here does I/O or knows about ports: every title, byline, date and paragraph is a pure
function of ``(seed, host index, articles_per_host)``, so two runs of the site with the same seed
serve the same news whatever ports they were given.

Why one module of this length: the word lists and sentence templates the stories are made of
are most of it; they and the functions that draw from them change together.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SITE_NAMES: tuple[str, ...] = (
    "Harbor News",
    "Ridgeway News",
    "Lakeside News",
    "Summit News",
    "Prairie News",
    "Coastline News",
)

SECTION_SETS: tuple[tuple[str, str, str], ...] = (
    ("world", "business", "science"),
    ("tech", "culture", "sport"),
    ("politics", "health", "travel"),
    ("local", "opinion", "environment"),
)

# Wire copies live on these hosts and are taken from host 0.
SYNDICATING_HOSTS: tuple[int, ...] = (1, 2)
COPIES_PER_HOST = 2
WIRE_PREFIX = "/wire/"

# Plain names first, then names that exercise non-ASCII handling in bylines and JSON-LD.
PLAIN_AUTHORS: tuple[str, ...] = (
    "Sarah Chen",
    "James O'Connor",
    "Priya Natarajan",
    "Michael Brennan",
    "Laura Whitfield",
    "David Okafor",
    "Emily Hartmann",
    "Tom Lindqvist",
    "Rachel Adeyemi",
    "Daniel Kowalski",
    "Hannah Moreau",
    "Oliver Grant",
    "Grace Nakamura",
    "Samuel Ortiz",
    "Megan Doyle",
    "Peter Vance",
)
ACCENTED_AUTHORS: tuple[str, ...] = (
    "José Álvarez",
    "Zoë Müller",
    "François Lefèvre",
    "Søren Kjær",
    "Ana Łukasiewicz",
    "Chloé Martin",
    "Nuno Gonçalves",
    "Björn Ekström",
)
AUTHORS: tuple[str, ...] = PLAIN_AUTHORS + ACCENTED_AUTHORS

COMMENTERS: tuple[str, ...] = (
    "riverwatcher",
    "Margaret T.",
    "old_harbour_hand",
    "K. Singh",
    "bikecommuter42",
    "Renée",
    "longtime reader",
    "J. Delgado",
)

NOUNS: tuple[str, ...] = _words(
    "council market report government village company team study river school budget museum "
    "harbour bridge railway hospital festival election survey factory farm library garden court "
    "union bank station airport island forest committee mayor minister scientist engineer "
    "teacher doctor farmer researcher official volunteer resident student player coach artist "
    "writer investor supplier network project proposal plan policy strategy agreement contract "
    "deal price tax wage rent harvest season storm drought flood road tunnel port fleet "
    "satellite telescope vaccine battery engine platform device sensor archive exhibition "
    "concert match league tournament record profit debt fund grant loan licence permit index "
    "forecast audience neighbourhood coastline warehouse laboratory orchestra district border "
    "ministry agency parliament clinic charity startup regulator pipeline reservoir stadium "
    "gallery theatre ferry bakery newspaper campaign tram cooperative shipyard quarry vineyard "
    "orchard hall courthouse depot terminal ward lighthouse canal dam plant mill garage "
    "cinema pharmacy inspector auditor landlord tenant commuter cyclist driver pilot nurse "
    "surgeon lawyer judge jury witness board panel inquiry audit census ballot petition"
)

# "base:past" pairs so a sentence can report news ("approved") or plans ("will approve").
_VERB_PAIRS: tuple[str, ...] = _words(
    "approve:approved reject:rejected announce:announced delay:delayed expand:expanded "
    "review:reviewed question:questioned welcome:welcomed criticise:criticised fund:funded "
    "launch:launched close:closed open:opened restore:restored measure:measured "
    "test:tested record:recorded defend:defended challenge:challenged support:supported "
    "replace:replaced reduce:reduced raise:raised double:doubled extend:extended "
    "postpone:postponed reveal:revealed confirm:confirmed inspect:inspected rebuild:rebuilt "
    "sell:sold buy:bought win:won lose:lost build:built find:found study:studied "
    "publish:published share:shared hire:hired praise:praised block:blocked adopt:adopted "
    "abandon:abandoned protect:protected upgrade:upgraded survey:surveyed map:mapped"
)
VERBS: tuple[tuple[str, str], ...] = tuple(
    (base, past) for base, _, past in (pair.partition(":") for pair in _VERB_PAIRS)
)

ADJECTIVES: tuple[str, ...] = _words(
    "new local regional national small large early late quiet busy modest ambitious costly "
    "cheap long short public private former current annual monthly rural urban northern "
    "southern eastern western historic modern temporary permanent popular controversial "
    "independent joint cautious unexpected familiar crowded empty fragile steady rapid gradual "
    "careful bold rare fresh vague detailed narrow broad heavy light open closed overdue "
    "seasonal coastal inland digital technical medical financial legal cultural"
)

ADVERBS: tuple[str, ...] = _words(
    "Quietly Meanwhile Later Earlier Eventually Surprisingly Overall Still Elsewhere "
    "Separately Privately Publicly Instead Locally Nationally Again"
)

PREPOSITIONS: tuple[str, ...] = (
    "after",
    "before",
    "despite",
    "during",
    "amid",
    "near",
    "across",
    "following",
    "beside",
    "without",
    "against",
    "ahead of",
)

PLACES: tuple[str, ...] = (
    "the northern valley",
    "the old quarter",
    "Zürich",
    "São Paulo",
    "the coast",
    "Kraków",
    "Montréal",
    "the capital",
    "Reykjavík",
    "the river delta",
    "the eastern suburbs",
    "Málaga",
    "the harbour district",
    "Lisbon",
    "the hill towns",
    "Göteborg",
)

ROLES: tuple[str, ...] = (
    "spokesperson",
    "analyst",
    "resident",
    "director",
    "shop owner",
    "researcher",
    "union representative",
    "teacher",
    "economist",
    "volunteer",
)

# Phrases that put non-ASCII text and characters that need HTML escaping into the prose.
SPECIAL_SENTENCES: tuple[str, ...] = (
    "Outside the café on the square, opinions were divided.",
    "Critics called the plan naïve, though few offered an alternative.",
    "The bill came to €{n} million, roughly {p}% more than expected.",
    "Its R&D budget has barely changed in {y} years.",
    "A Q&A session with residents ran well past midnight.",
    "Some described the mood as déjà vu — “we have been here before,” one said.",
    "The exhibition travels to Zürich and São Paulo next spring.",
    "Prices at the market stall rose from €{y} to €{p} in a single season.",
    "The firm, Hale & Sons, declined to comment.",
    "“It’s not perfect, but it’s a start,” said the coördinator.",
)

COMMENT_LINES: tuple[str, ...] = (
    "Great reporting, thank you for following this so closely.",
    "I remember when the old bridge was built. Nothing changes.",
    "Does anyone know when the consultation closes?",
    "This is the third time this year the plan has been delayed.",
    "Very one-sided article in my opinion.",
    "Finally some good news for the neighbourhood!",
    "Who is actually paying for all of this?",
    "My café is on that street and we have seen no change at all.",
)

FIRST_PUBLISHED = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Article:
    """Ground truth for one article page, as a crawler and extractor should recover it."""

    url: str
    title: str
    authors: tuple[str, ...]
    published: str
    modified: str
    section: str
    body: str
    near_duplicate_of: str | None


@dataclass(frozen=True, slots=True)
class Story:
    """One article page of one host, addressed by path because ports are unknown here."""

    host: int
    path: str
    slug: str
    title: str
    authors: tuple[str, ...]
    published: datetime
    modified: datetime
    section: str
    paragraphs: tuple[str, ...]
    figure_caption: str | None
    body_in_json_ld: bool
    comments: tuple[tuple[str, str], ...]
    original: tuple[int, str] | None  # (host index, path) of the story this one copies

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def summary(self) -> str:
        first = self.paragraphs[0]
        end = first.find(". ")
        return first if end < 0 else first[: end + 1]

    def to_article(self, base_urls: list[str]) -> Article:
        original = None
        if self.original is not None:
            original = base_urls[self.original[0]] + self.original[1]
        return Article(
            url=base_urls[self.host] + self.path,
            title=self.title,
            authors=self.authors,
            published=self.published.isoformat(),
            modified=self.modified.isoformat(),
            section=self.section,
            body=self.body,
            near_duplicate_of=original,
        )


@dataclass(frozen=True, slots=True)
class HostContent:
    """Everything one host publishes; ``stories`` lists its own stories, then its wire copies."""

    index: int
    name: str
    sections: tuple[str, str, str]
    stories: tuple[Story, ...]

    def by_newest(self) -> list[Story]:
        return sorted(self.stories, key=lambda s: (s.published, s.path), reverse=True)

    def in_section(self, section: str) -> list[Story]:
        """Own stories of ``section``, newest first (wire copies are only on the home page)."""
        own = [s for s in self.stories if s.section == section and s.original is None]
        return sorted(own, key=lambda s: (s.published, s.path), reverse=True)


def site_name(index: int) -> str:
    name = SITE_NAMES[index % len(SITE_NAMES)]
    rounds = index // len(SITE_NAMES)
    return name if rounds == 0 else f"{name} {rounds + 1}"


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def generate_site(hosts: int, articles_per_host: int, seed: int) -> tuple[HostContent, ...]:
    """Build every host's content; host ``i`` depends only on ``(seed, i, articles_per_host)``."""
    own = [_generate_stories(i, articles_per_host, seed) for i in range(hosts)]
    result = []
    for index in range(hosts):
        stories = list(own[index])
        if index in SYNDICATING_HOSTS and own[0]:
            stories.extend(_wire_copies(index, own[0], seed))
        result.append(
            HostContent(
                index=index,
                name=site_name(index),
                sections=SECTION_SETS[index % len(SECTION_SETS)],
                stories=tuple(stories),
            )
        )
    return tuple(result)


def _generate_stories(host: int, count: int, seed: int) -> list[Story]:
    # A string seed is hashed with SHA-512 by random, so it is stable across processes.
    rng = random.Random(f"scraper.demo:{seed}:host:{host}")
    sections = SECTION_SETS[host % len(SECTION_SETS)]
    order = [sections[i % 3] for i in range(count)]
    rng.shuffle(order)
    stories: list[Story] = []
    slugs: set[str] = set()
    when = FIRST_PUBLISHED + timedelta(hours=host * 3)
    for number in range(count):
        # Roughly 0.3 to 5 days apart, so a default host spans a couple of months of URLs.
        when += timedelta(minutes=5 * rng.randint(100, 1400))
        modified = when
        if rng.random() < 0.6:
            modified = when + timedelta(minutes=5 * rng.randint(1, 300))
        title, slug = _unique_title(rng, slugs)
        section = order[number]
        stories.append(
            Story(
                host=host,
                path=f"/{section}/{when:%Y}/{when:%m}/{slug}.html",
                slug=slug,
                title=title,
                authors=_authors(rng, force_accented=number == 0),
                published=when,
                modified=modified,
                section=section,
                paragraphs=tuple(_paragraph(rng) for _ in range(rng.randint(4, 9))),
                figure_caption=_sentence(rng) if rng.random() < 0.6 else None,
                # Alternating keeps "about half" exact and independent of the random stream.
                body_in_json_ld=(number + host) % 2 == 0,
                comments=tuple(
                    (rng.choice(COMMENTERS), rng.choice(COMMENT_LINES)) for _ in range(2)
                ),
                original=None,
            )
        )
    return stories


def _wire_copies(host: int, originals: list[Story], seed: int) -> list[Story]:
    rng = random.Random(f"scraper.demo:{seed}:wire")
    # One shuffle shared by all syndicating hosts so they pick different originals when possible.
    picks = list(range(len(originals)))
    rng.shuffle(picks)
    start = SYNDICATING_HOSTS.index(host) * COPIES_PER_HOST
    chosen = [picks[(start + k) % len(picks)] for k in range(min(COPIES_PER_HOST, len(picks)))]
    copies = []
    for position in chosen:
        story = originals[position]
        copies.append(
            Story(
                host=host,
                path=f"{WIRE_PREFIX}{story.slug}.html",
                slug=story.slug,
                title=story.title,
                authors=story.authors,
                published=story.published,
                modified=story.modified,
                section=story.section,
                paragraphs=story.paragraphs,
                figure_caption=None,
                body_in_json_ld=story.body_in_json_ld,
                comments=(),
                original=(story.host, story.path),
            )
        )
    return copies


def _unique_title(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    for _ in range(50):
        title = _title(rng)
        slug = slugify(title)
        if slug not in taken:
            taken.add(slug)
            return title, slug
    # Only reachable with thousands of stories per host: disambiguate instead of looping.
    base = slugify(title)
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    slug = f"{base}-{suffix}"
    taken.add(slug)
    return f"{title} ({suffix})", slug


def _title(rng: random.Random) -> str:
    noun = rng.choice(NOUNS)
    other = rng.choice(NOUNS)
    base, past = rng.choice(VERBS)
    place = rng.choice(PLACES)
    patterns = (
        f"{rng.choice(ADJECTIVES).capitalize()} {noun} {past} {other} in {place}",
        f"{noun.capitalize()} to {base} {rng.choice(ADJECTIVES)} {other}",
        f"Why the {noun} {past} the {other}",
        f"{noun.capitalize()} and {other} clash over {rng.choice(ADJECTIVES)} plan",
        f"{place[0].upper() + place[1:]}: {noun} {past} after {rng.randint(2, 40)} years",
    )
    return rng.choice(patterns)


def _authors(rng: random.Random, force_accented: bool) -> tuple[str, ...]:
    count = rng.choice((1, 1, 2, 2, 3))
    names = rng.sample(AUTHORS, count)
    if force_accented and not any(name in ACCENTED_AUTHORS for name in names):
        names[0] = rng.choice(ACCENTED_AUTHORS)
    return tuple(names)


def _noun_phrase(rng: random.Random) -> str:
    article = rng.choice(("the", "the", "the", "a", "one", "every", "another", "that"))
    words = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    if rng.random() < 0.5:
        words = rng.choice(NOUNS)
    return _a(words) if article == "a" else f"{article} {words}"


def _a(words: str) -> str:
    return f"an {words}" if words[0] in "aeiou" else f"a {words}"


def _clause(rng: random.Random) -> str:
    base, past = rng.choice(VERBS)
    subject = _noun_phrase(rng)
    verb = past if rng.random() < 0.7 else f"will {base}"
    clause = f"{subject} {verb} {_noun_phrase(rng)}"
    if rng.random() < 0.5:
        tail = rng.choice(PLACES) if rng.random() < 0.3 else _noun_phrase(rng)
        clause += f" {rng.choice(PREPOSITIONS)} {tail}"
    return clause


def _sentence(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.08:
        return rng.choice(SPECIAL_SENTENCES).format(
            n=rng.randint(2, 90), p=rng.randint(3, 60), y=rng.randint(2, 12)
        )
    if roll < 0.24:
        speaker = rng.choice(PLAIN_AUTHORS + ACCENTED_AUTHORS).split()[0]
        return (
            f"“{_clause(rng).capitalize()},” said {speaker}, {_a(rng.choice(ROLES))} "
            f"at {_noun_phrase(rng)}."
        )
    if roll < 0.32:
        return f"{rng.choice(ADVERBS)}, {_clause(rng)}."
    if roll < 0.40:
        return f"{_noun_phrase(rng).capitalize()} {rng.choice(VERBS)[1]} {_noun_phrase(rng)}."
    clauses = [_clause(rng) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
    text = clauses[0]
    for clause in clauses[1:]:
        text += rng.choice((", and ", ", but ", ", while ", "; "))
        text += clause
    return text[0].upper() + text[1:] + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(2, 6)))
