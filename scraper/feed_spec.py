"""Feed specs: what one output is (a path template, a format, its options), read from
``-o``/``-O PATH[:FORMAT]`` and from the ``FEEDS`` setting.

Flow position: settings -> **feed specs** -> ``feeds.py`` (which files, when) and
``feed_formats.py`` (how each format is written). A spec is checked here, before the crawl
starts: an unknown format, option or encoding is one clear error.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import OutputError, SettingsError

SUFFIX_FORMATS = {
    ".jsonl": "jsonlines",
    ".jl": "jsonlines",
    ".ndjson": "jsonlines",
    ".json": "json",
    ".csv": "csv",
    ".xml": "xml",
    ".parquet": "parquet",
}
# Names accepted after ``PATH:`` and in a feed's ``format`` option (Scrapy's, plus aliases).
FORMAT_NAMES = {"jsonlines": "jsonlines", "jsonl": "jsonlines", "jl": "jsonlines"} | {
    name: name for name in ("json", "csv", "xml", "parquet")
}
FEED_OPTIONS = frozenset(
    {
        "format", "fields", "encoding", "indent", "overwrite", "batch_item_count",
        "row_group_size", "item_classes",
    }
)  # fmt: skip
DEFAULT_ROW_GROUP = 5000


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One output: where (a path template), in which format, with which options."""

    uri: str
    format: str
    overwrite: bool = False
    fields: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    indent: int | None = None
    batch_item_count: int = 0
    row_group_size: int = DEFAULT_ROW_GROUP
    item_classes: frozenset[str] | None = None  # class names (module.QualName); None: every item

    @classmethod
    def from_cli(cls, text: str, overwrite: bool) -> FeedSpec:
        """``-o PATH`` / ``-O PATH``, with Scrapy's ``PATH:FORMAT`` form."""
        path, sep, name = text.rpartition(":")
        if sep and name.lower() in FORMAT_NAMES and path:
            return cls(uri=path, format=FORMAT_NAMES[name.lower()], overwrite=overwrite)
        return cls(uri=text, format=format_for(text), overwrite=overwrite)

    @classmethod
    def from_setting(cls, uri: str, options: Mapping[str, Any]) -> FeedSpec:
        """One entry of ``FEEDS``: ``{"items.csv": {"fields": ["url", "title"]}}``."""
        if not isinstance(options, Mapping):
            raise SettingsError(f"FEEDS[{uri!r}] must be an object of feed options")
        unknown = set(options) - FEED_OPTIONS
        if unknown:
            raise SettingsError(
                f"FEEDS[{uri!r}]: unknown option {sorted(unknown)[0]!r} "
                f"(known: {', '.join(sorted(FEED_OPTIONS))})"
            )
        name = options.get("format")
        if name is not None and str(name).lower() not in FORMAT_NAMES:
            raise SettingsError(f"FEEDS[{uri!r}]: unknown format {name!r}")
        fields = options.get("fields")
        if fields is not None and not (
            isinstance(fields, list | tuple) and all(isinstance(f, str) for f in fields)
        ):
            raise SettingsError(f"FEEDS[{uri!r}]: fields must be a list of names")
        spec = cls(
            uri=uri,
            format=FORMAT_NAMES[str(name).lower()] if name else format_for(uri),
            overwrite=bool(options.get("overwrite", False)),
            fields=tuple(fields) if fields is not None else None,
            encoding=str(options.get("encoding") or "utf-8"),
            indent=options.get("indent"),
            batch_item_count=_count(uri, options, "batch_item_count", 0),
            row_group_size=_count(uri, options, "row_group_size", DEFAULT_ROW_GROUP) or 1,
            item_classes=_item_classes(uri, options.get("item_classes")),
        )
        try:
            "".encode(spec.encoding)
        except LookupError:
            raise SettingsError(f"FEEDS[{uri!r}]: unknown encoding {spec.encoding!r}") from None
        if spec.batch_item_count and not re.search(r"%\(batch_(id|time)\)", uri):
            raise SettingsError(
                f"FEEDS[{uri!r}]: batch_item_count needs %(batch_id)d or %(batch_time)s in the "
                "path, so each batch gets its own file"
            )
        return spec

    def accepts(self, item: dict[str, Any]) -> bool:
        """Whether the item goes to this feed: with ``item_classes``, only an item of one of
        those classes or of a subclass (as Scrapy). An item exported before the feeds filtered
        by class carries no classes and goes to every feed."""
        if self.item_classes is None or not isinstance(item, ClassedItem):
            return True
        return not self.item_classes.isdisjoint(item.classes)

    @property
    def streams(self) -> bool:
        """Written as the crawl runs (whole lines), rather than assembled at the end."""
        return (
            self.format == "jsonlines"
            and not self.batch_item_count
            and self.encoding.replace("-", "").lower() == "utf8"
        )


class ClassedItem(dict[str, Any]):
    """An exported item (as a dict) that remembers the names of its classes, for the feeds
    that take only some classes: the item's own class is gone once it is a dict, and the
    job's item journal keeps these names beside the item."""

    __slots__ = ("classes",)

    def __init__(self, fields: dict[str, Any], classes: list[str] | tuple[str, ...]) -> None:
        super().__init__(fields)
        self.classes = tuple(classes)


def class_names(item: object) -> tuple[str, ...]:
    """The names of the item's class and its bases, as ``item_classes`` names them."""
    return tuple(_name(cls) for cls in type(item).__mro__ if cls is not object)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _item_classes(uri: str, value: Any) -> frozenset[str] | None:
    """``item_classes``: classes, or their import paths (imported now, so a typo is said
    before the crawl)."""
    if value is None:
        return None
    if isinstance(value, str | type) or not isinstance(value, list | tuple):
        value = [value]
    names = set()
    for entry in value:
        if isinstance(entry, type):
            names.add(_name(entry))
            continue
        module, _, attr = str(entry).rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), attr) if module else None
        except (ImportError, AttributeError):
            cls = None
        if not isinstance(cls, type):
            raise SettingsError(f"FEEDS[{uri!r}]: item_classes: cannot import a class {entry!r}")
        names.add(_name(cls))
    return frozenset(names)


def _count(uri: str, options: Mapping[str, Any], name: str, default: int) -> int:
    value = options.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SettingsError(f"FEEDS[{uri!r}]: {name} must be a whole number, got {value!r}")
    return value


def format_for(path: str) -> str:
    """The format a path's extension names; one clear error for any other."""
    suffix = Path(path).suffix.lower()
    if suffix in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[suffix]
    raise OutputError(
        f"unsupported output format {suffix or '(none)'!r} for {path}: use one of "
        f"{', '.join(SUFFIX_FORMATS)}, or PATH:FORMAT ({', '.join(sorted(FORMAT_NAMES))})"
    )


def feed_specs(
    output: str | None, overwrite: bool, feeds: Mapping[str, Any], default: str
) -> list[FeedSpec]:
    """Every output of a crawl: ``-o``/``-O`` first, then ``FEEDS``; the default path only
    when neither names one."""
    specs = [FeedSpec.from_cli(output, overwrite)] if output else []
    specs += [FeedSpec.from_setting(uri, options) for uri, options in feeds.items()]
    return specs or [FeedSpec.from_cli(default, overwrite=True)]
