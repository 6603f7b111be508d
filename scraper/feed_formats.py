"""Feed formats: each writes one whole document to a binary file, and reads one back.

Flow position: under ``feeds.py``, which decides what is written where and when; here is only
how: JSON Lines, a JSON array, CSV, XML and Parquet (row groups of ``row_group_size`` rows, so
memory stays bounded by one group). ``survey`` is the first pass the formats that need every
column before the first row (CSV's header, Parquet's schema) make over the items.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from xml.sax.saxutils import XMLGenerator

from .export import dumps
from .extras import MissingExtra

if TYPE_CHECKING:
    from .feed_spec import FeedSpec

ItemSource = Callable[[], Iterable[dict[str, Any]]]  # a fresh pass over the items per call


class Encoder(Protocol):
    def write(self, item: dict[str, Any]) -> None: ...

    def finish(self) -> None: ...


def project(item: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    return item if fields is None else {name: item.get(name) for name in fields}


def _columns(items: Iterable[dict[str, Any]], fields: tuple[str, ...] | None) -> list[str]:
    """``fields``, or every key in order of first appearance (items may differ in keys)."""
    if fields is not None:
        return list(fields)
    seen: dict[str, None] = {}
    for item in items:
        seen.update(dict.fromkeys(item))
    return list(seen)


def _text(value: Any) -> str:
    """A cell of a text format: scalars as they read, lists and objects as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else dumps(value)


class _JsonLines:
    def __init__(self, fh: IO[bytes], spec: FeedSpec) -> None:
        self.fh, self.spec = fh, spec
        self.ascii = not spec.encoding.lower().startswith("utf")

    def write(self, item: dict[str, Any]) -> None:
        line = dumps(item, ensure_ascii=self.ascii) + "\n"
        self.fh.write(line.encode(self.spec.encoding))

    def finish(self) -> None:
        pass


class _JsonArray(_JsonLines):
    def __init__(self, fh: IO[bytes], spec: FeedSpec) -> None:
        super().__init__(fh, spec)
        self.fh.write(b"[")
        self.first = True

    def write(self, item: dict[str, Any]) -> None:
        text = dumps(item, indent=self.spec.indent, ensure_ascii=self.ascii)
        self.fh.write(("\n" if self.first else ",\n").encode() + text.encode(self.spec.encoding))
        self.first = False

    def finish(self) -> None:
        self.fh.write(b"\n]\n")


class _Csv:
    def __init__(self, fh: IO[bytes], spec: FeedSpec, columns: list[str]) -> None:
        self.text = io.TextIOWrapper(fh, encoding=spec.encoding, newline="", write_through=True)
        self.columns = columns
        self.writer = csv.writer(self.text)
        self.writer.writerow(columns)

    def write(self, item: dict[str, Any]) -> None:
        self.writer.writerow([_text(item.get(name)) for name in self.columns])

    def finish(self) -> None:
        self.text.flush()
        self.text.detach()  # the file is closed by its owner


_XML_NAME = re.compile(r"[^\w.-]")


class _Xml:
    """``<items><item><field>value</field>...</item>...</items>``; a list is ``<value>``
    children, an object nested elements."""

    def __init__(self, fh: IO[bytes], spec: FeedSpec) -> None:
        self.xml = XMLGenerator(fh, encoding=spec.encoding, short_empty_elements=True)
        self.indent = spec.indent
        self.xml.startDocument()
        self.xml.startElement("items", {})

    def _newline(self, depth: int) -> None:
        if self.indent is not None:
            self.xml.ignorableWhitespace("\n" + " " * (self.indent * depth))

    def _element(self, name: str, value: Any, depth: int) -> None:
        tag = _XML_NAME.sub("_", name)
        if not tag or not (tag[0].isalpha() or tag[0] == "_"):
            tag = "_" + tag
        self._newline(depth)
        self.xml.startElement(tag, {})
        if isinstance(value, dict):
            for key, inner in value.items():
                self._element(str(key), inner, depth + 1)
            self._newline(depth)
        elif isinstance(value, list | tuple):
            for inner in value:
                self._element("value", inner, depth + 1)
            self._newline(depth)
        elif value is not None:
            self.xml.characters(_text(value))
        self.xml.endElement(tag)

    def write(self, item: dict[str, Any]) -> None:
        self._element("item", item, 1)

    def finish(self) -> None:
        self._newline(0)
        self.xml.endElement("items")
        self.xml.endDocument()
        self.xml.ignorableWhitespace("\n")


def require_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise MissingExtra("the parquet format", "parquet", ["pyarrow"]) from None
    return pyarrow


class _Parquet:
    """Row groups of ``row_group_size`` rows; columns a value of more than one type (an int
    here, a string there) would break are written as text."""

    def __init__(self, fh: IO[bytes], spec: FeedSpec, layout: tuple[Any, set[str]]) -> None:
        pa = require_pyarrow()
        self.pa, (self.schema, self.as_text) = pa, layout
        self.writer = pa.parquet.ParquetWriter(fh, self.schema)
        self.size = spec.row_group_size
        self.rows: list[dict[str, Any]] = []

    def write(self, item: dict[str, Any]) -> None:
        self.rows.append(item)
        if len(self.rows) >= self.size:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            rows = [_textify(row, self.as_text) for row in self.rows]
            self.writer.write_table(self.pa.Table.from_pylist(rows, schema=self.schema))
            self.rows = []

    def finish(self) -> None:
        self._flush()
        self.writer.close()

    @staticmethod
    def survey(items: Iterable[dict[str, Any]], spec: FeedSpec) -> tuple[Any, set[str]]:
        """The schema over every item, one row group at a time."""
        pa = require_pyarrow()
        types: dict[str, Any] = {}
        as_text: set[str] = set()
        columns = list(spec.fields) if spec.fields is not None else []
        for rows in _chunks(items, spec.row_group_size):
            for name in _columns(rows, spec.fields):
                if name not in types and name not in as_text:
                    types[name] = pa.null()
                    if spec.fields is None:
                        columns.append(name)
            for name in list(types):
                try:
                    found = pa.array([row.get(name) for row in rows]).type
                    merged = pa.unify_schemas(
                        [pa.schema([(name, types[name])]), pa.schema([(name, found)])],
                        promote_options="permissive",
                    )
                    types[name] = merged.field(name).type
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                    del types[name]
                    as_text.add(name)
        schema = pa.schema(
            [
                (
                    name,
                    pa.string()
                    if name in as_text or pa.types.is_null(types[name])
                    else types[name],
                )
                for name in columns
            ]
        )
        return schema, as_text | {n for n in types if pa.types.is_null(types[n])}


def _textify(row: dict[str, Any], as_text: set[str]) -> dict[str, Any]:
    if not as_text:
        return row
    return {k: (None if v is None else _text(v)) if k in as_text else v for k, v in row.items()}


def _chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def encoder(fh: IO[bytes], spec: FeedSpec, layout: Any) -> Encoder:
    if spec.format == "jsonlines":
        return _JsonLines(fh, spec)
    if spec.format == "json":
        return _JsonArray(fh, spec)
    if spec.format == "csv":
        return _Csv(fh, spec, layout)
    if spec.format == "xml":
        return _Xml(fh, spec)
    return _Parquet(fh, spec, layout)


def survey(items: ItemSource, spec: FeedSpec) -> Any:
    """The first pass, for the formats that need every column before the first row."""
    if spec.format == "csv":
        return _columns(items(), spec.fields)
    if spec.format == "parquet":
        return _Parquet.survey(items(), spec)
    return None


# -- reading a feed back (``-o`` onto an existing file adds to what it holds) ------------------
def read_feed(path: Path, spec: FeedSpec) -> Iterator[dict[str, Any]]:
    """The items of an existing feed file, as its format's standard reader returns them."""
    if spec.format == "jsonlines":
        with open(path, encoding=spec.encoding) as fh:
            yield from (json.loads(line) for line in fh if line.strip())
    elif spec.format == "json":
        with open(path, encoding=spec.encoding) as fh:
            items = json.load(fh)
        if not isinstance(items, list):
            raise ValueError("not a JSON array")
        yield from items
    elif spec.format == "csv":
        with open(path, encoding=spec.encoding, newline="") as fh:
            yield from csv.DictReader(fh)
    elif spec.format == "xml":
        import xml.etree.ElementTree as ET

        for _, element in ET.iterparse(path):
            if element.tag == "item":
                yield {child.tag: child.text or "" for child in element}
                element.clear()
    else:
        parquet = require_pyarrow().parquet.ParquetFile(path)
        for batch in parquet.iter_batches():
            yield from batch.to_pylist()
