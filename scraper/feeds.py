"""Feeds: the files items end in, in the format the next tool reads.

Flow position: pipelines -> **feeds** -> one file per feed: ``-o``/``-O PATH[:FORMAT]`` and the
``FEEDS`` setting (several outputs at once). The format comes from ``:FORMAT``, the feed's
``format`` option or the file's extension: JSON Lines, a JSON array, CSV, XML or Parquet.

No torn output, every format:
- JSON Lines is appended whole lines at a time while the crawl runs (``export.py``);
- every other format (and a batched or re-encoded JSON Lines feed) is *assembled*: the items
  are kept as JSON lines in a staging file (or, with ``--jobdir``, in the job's item journal,
  which stays the source of truth across crashes and resumes), and the final file is written
  from them into a temporary file that replaces the target in one rename at the end of each
  run. A reader sees the previous file or the new one, never half of one; after a ``kill -9``
  and a resume the job's next run assembles a valid file with every item once.

Assembly streams: a first pass learns the columns (CSV header, Parquet schema) and a second
writes, Parquet in row groups of ``row_group_size`` rows, so memory stays bounded by one group.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from xml.sax.saxutils import XMLGenerator

from .errors import OutputError, SettingsError
from .export import JsonLinesExporter, dumps, encode_line, write_all
from .extras import MissingExtra

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
    {"format", "fields", "encoding", "indent", "overwrite", "batch_item_count", "row_group_size"}
)
DEFAULT_ROW_GROUP = 5000
STAGING_SUFFIX = ".staging.jsonl"

ItemSource = Callable[[], Iterable[dict[str, Any]]]  # a fresh pass over the items per call


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

    @property
    def streams(self) -> bool:
        """Written as the crawl runs (whole lines), rather than assembled at the end."""
        return (
            self.format == "jsonlines"
            and not self.batch_item_count
            and self.encoding.replace("-", "").lower() == "utf8"
        )


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


class URIParams:
    """``%(name)s``, ``%(time)s``, ``%(batch_id)d`` and any spider attribute in a feed path."""

    def __init__(self, spider: object, started: float) -> None:
        self.spider = spider
        self.time = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(started))

    def render(self, uri: str, batch_id: int = 1) -> Path:
        if uri.startswith("file://"):
            uri = uri[len("file://") :]
        elif re.match(r"^[a-z][a-z0-9+.-]*://", uri, re.I):
            raise SettingsError(f"feed {uri}: only local files are supported")
        scope = _Scope(name=getattr(self.spider, "name", ""), time=self.time)
        scope.update(batch_id=batch_id, batch_time=self.time, spider=self.spider)
        try:
            return Path(uri % scope)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"feed path {uri!r}: {exc}") from None


class _Scope(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        try:
            return getattr(self["spider"], key)
        except AttributeError:
            raise SettingsError(f"feed path parameter %({key})s: the spider has no {key}") from None


# -- formats: each writes one whole document to a binary file -----------------------------------
class Encoder(Protocol):
    def write(self, item: dict[str, Any]) -> None: ...

    def finish(self) -> None: ...


def _project(item: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
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


def _pyarrow() -> Any:
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
        pa = _pyarrow()
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
        pa = _pyarrow()
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


def _encoder(fh: IO[bytes], spec: FeedSpec, layout: Any) -> Encoder:
    if spec.format == "jsonlines":
        return _JsonLines(fh, spec)
    if spec.format == "json":
        return _JsonArray(fh, spec)
    if spec.format == "csv":
        return _Csv(fh, spec, layout)
    if spec.format == "xml":
        return _Xml(fh, spec)
    return _Parquet(fh, spec, layout)


def _survey(items: ItemSource, spec: FeedSpec) -> Any:
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
        parquet = _pyarrow().parquet.ParquetFile(path)
        for batch in parquet.iter_batches():
            yield from batch.to_pylist()


def _with_existing(path: Path, spec: FeedSpec, items: ItemSource) -> ItemSource:
    """``items`` after what ``path`` holds, unless the feed overwrites it."""
    if spec.overwrite or not path.exists() or path.stat().st_size == 0:
        return items
    try:
        next(iter(read_feed(path, spec)), None)
    except (ValueError, OSError, SyntaxError) as exc:
        raise OutputError(f"cannot add to {path}: it is not a valid {spec.format} file") from exc
    return lambda: itertools.chain(read_feed(path, spec), items())


# -- assembling ---------------------------------------------------------------------------------
def write_file(path: Path, spec: FeedSpec, items: Iterable[dict[str, Any]], layout: Any) -> int:
    """Write ``items`` to ``path`` in ``spec``'s format: into a temporary file that replaces
    ``path`` in one rename. Returns the items written."""
    temp = path.with_name(f".{path.name}.tmp")
    count = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as fh:
            encoder = _encoder(fh, spec, layout)
            for item in items:
                encoder.write(item)
                count += 1
            encoder.finish()
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except OSError as exc:
        raise OutputError(f"cannot write output file {path}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(OSError):  # gone after the replace; else half a copy
            temp.unlink()
    return count


def assemble(spec: FeedSpec, path: Path, params: URIParams, items: ItemSource) -> int:
    """One feed from ``items``: one file, or with ``batch_item_count`` one file per batch (all
    batches share the columns learnt from every item)."""

    def projected() -> Iterator[dict[str, Any]]:
        return (_project(item, spec.fields) for item in items())

    if not spec.batch_item_count:
        source = _with_existing(path, spec, projected)
        return write_file(path, spec, source(), _survey(source, spec))
    layout = _survey(projected, spec)
    remaining = iter(projected())
    total = 0
    for batch_id in itertools.count(1):
        first = next(remaining, None)
        if first is None and batch_id > 1:
            return total
        batch = [] if first is None else [first]
        chunk = itertools.chain(batch, itertools.islice(remaining, spec.batch_item_count - 1))
        total += write_file(params.render(spec.uri, batch_id), spec, chunk, layout)
    return total  # pragma: no cover - the loop returns


@dataclass
class FeedSet:
    """Every feed of one crawl; the engine's exporter."""

    specs: list[FeedSpec]
    params: URIParams
    journaled: bool = False  # items are kept by the job's journal, assembled from it at the end
    paths: list[Path] = field(default_factory=list)
    _streams: list[tuple[FeedSpec, JsonLinesExporter]] = field(default_factory=list)
    _staging: Path | None = None
    _staging_fd: int | None = None

    @classmethod
    def open(cls, specs: list[FeedSpec], params: URIParams, journaled: bool = False) -> FeedSet:
        feeds = cls(specs, params, journaled)
        feeds.paths = [params.render(spec.uri) for spec in specs]
        if any(spec.format == "parquet" for spec in specs):
            _pyarrow()  # a missing extra is said before the crawl, not after it
        if journaled:
            return feeds
        for spec, path in zip(specs, feeds.paths, strict=True):
            if not spec.batch_item_count:  # a file -o cannot add to is said before the crawl
                _with_existing(path, spec, lambda: ())
            if spec.streams:
                feeds._streams.append((spec, JsonLinesExporter(path, append=not spec.overwrite)))
            elif feeds._staging is None:
                feeds._staging = path.with_name(f".{path.name}{STAGING_SUFFIX}")
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    feeds._staging_fd = os.open(
                        feeds._staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644
                    )
                except OSError as exc:
                    raise OutputError(f"cannot write output file {path}: {exc.strerror}") from exc
        return feeds

    @classmethod
    def to_file(cls, path: Path) -> FeedSet:
        """One feed, ``path`` replaced in the format of its extension, written from a journal
        (``crawl --merge``)."""
        spec = FeedSpec.from_cli(str(path), overwrite=True)
        return cls.open([spec], URIParams(None, time.time()), journaled=True)

    @property
    def path(self) -> Path:
        """The first feed's file: the one the summary names, and the failures file's sibling."""
        return self.paths[0]

    def write(self, items: list[dict[str, Any]]) -> None:
        for spec, exporter in self._streams:
            exporter.write([_project(item, spec.fields) for item in items])
        if self._staging_fd is not None and self._staging is not None:
            write_all(self._staging_fd, b"".join(map(encode_line, items)), self._staging)

    def close(self) -> None:
        """Streamed feeds are complete; assembled ones are written from the staging file."""
        for _, exporter in self._streams:
            exporter.close()
        self._streams.clear()
        if self._staging_fd is None or self._staging is None:
            return
        os.close(self._staging_fd)
        self._staging_fd = None
        staging = self._staging
        try:
            for spec, path in zip(self.specs, self.paths, strict=True):
                if not spec.streams:
                    assemble(spec, path, self.params, lambda: _read_lines(staging))
        except OutputError as exc:
            raise OutputError(f"{exc} (the items are kept in {staging})") from exc
        staging.unlink()

    def finalise(self, items: ItemSource) -> int:
        """With a journal: every feed from the journal's items (the job's, earlier runs'
        too), replacing what the file held. Returns the items in the first feed."""
        counts = [
            assemble(dataclasses.replace(spec, overwrite=True), path, self.params, items)
            for spec, path in zip(self.specs, self.paths, strict=True)
        ]
        return counts[0]


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as fh:
        for line in fh:
            if line.endswith(b"\n"):
                yield json.loads(line)


def job_start_time(jobdir: Path | None) -> float:
    """When the crawl started, for ``%(time)s``: a job's first run, so every run of a job
    writes the same files."""
    if jobdir is None:
        return time.time()
    stamp = jobdir / "started"
    try:
        return float(stamp.read_text())
    except (OSError, ValueError):
        now = time.time()
        with contextlib.suppress(OSError):  # the job folder is created, and checked, later
            jobdir.mkdir(parents=True, exist_ok=True)
            stamp.write_text(repr(now))
        return now
