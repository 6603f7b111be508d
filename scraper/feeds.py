"""Feeds: the files items end in, in the format the next tool reads.

Flow position: pipelines -> **feeds** -> one file per feed: ``-o``/``-O PATH[:FORMAT]`` and the
``FEEDS`` setting (several outputs at once, each a ``feed_spec.FeedSpec``). The format comes
from ``:FORMAT``, the feed's ``format`` option or the file's extension: JSON Lines, a JSON array,
CSV, XML or Parquet.

No torn output, every format:
- without ``--jobdir``, JSON Lines is appended whole lines at a time as the crawl runs
  (``export.py``);
- every other format (a batched or re-encoded JSON Lines feed too), and every format with
  ``--jobdir``, is *assembled*: the items are kept as JSON lines in a staging file (with
  ``--jobdir``, in the job's item journal, which stays the source of truth across crashes and
  resumes), and the final file (``feed_formats.py`` writes each format) is written
  from them into a temporary file that replaces the target in one rename at the end of each
  run. A reader sees the previous file or the new one, never half of one; after a ``kill -9``
  and a resume the job's next run assembles a valid file with every item once.

Assembly streams: a first pass learns the columns (CSV header, Parquet schema) and a second
writes, Parquet in row groups of ``row_group_size`` rows, so memory stays bounded by one group.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import OutputError, SettingsError
from .export import JsonLinesExporter, encode_line, replacing, write_all
from .feed_formats import ItemSource, encoder, project, read_feed, require_pyarrow, survey
from .feed_spec import ClassedItem, FeedSpec, class_names
from .item import as_dict

if TYPE_CHECKING:
    from .store import CrawlState

STAGING_SUFFIX = ".staging.jsonl"


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
    count = 0
    with replacing(path) as temp, open(temp, "wb") as fh:
        document = encoder(fh, spec, layout)
        for item in items:
            document.write(item)
            count += 1
        document.finish()
        fh.flush()
        os.fsync(fh.fileno())
    return count


def assemble(
    spec: FeedSpec, path: Path, params: URIParams, items: ItemSource, before: Path | None = None
) -> int:
    """One feed from ``items``: one file, or with ``batch_item_count`` one file per batch (all
    batches share the columns learnt from every item). A feed that does not overwrite keeps
    what ``before`` (default: the file itself) holds, ahead of the items."""

    def projected() -> Iterator[dict[str, Any]]:
        return (project(item, spec.fields) for item in items() if spec.accepts(item))

    if not spec.batch_item_count:
        source = _with_existing(before or path, spec, projected)
        return write_file(path, spec, source(), survey(source, spec))
    layout = survey(projected, spec)
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
    _kept: dict[int, Path] = field(default_factory=dict)  # feed index -> its content before

    @classmethod
    def open(cls, specs: list[FeedSpec], params: URIParams, journaled: bool = False) -> FeedSet:
        feeds = cls(specs, params, journaled)
        feeds.paths = [params.render(spec.uri) for spec in specs]
        if any(spec.format == "parquet" for spec in specs):
            require_pyarrow()  # a missing extra is said before the crawl, not after it
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

    @property
    def by_class(self) -> bool:
        """Whether some feed takes only some item classes (``item_classes``)."""
        return any(spec.item_classes is not None for spec in self.specs)

    def row(self, item: Any) -> dict[str, Any]:
        """The item as the feeds write it: a dict, which remembers its classes when some
        feed chooses items by class."""
        fields = as_dict(item)
        return ClassedItem(fields, class_names(item)) if self.by_class else fields

    def write(self, items: list[dict[str, Any]]) -> None:
        for spec, exporter in self._streams:
            exporter.write([project(item, spec.fields) for item in items if spec.accepts(item)])
        if self._staging_fd is not None and self._staging is not None:
            lines = map(encode_line, map(self._staged, items))
            write_all(self._staging_fd, b"".join(lines), self._staging)

    def _staged(self, item: dict[str, Any]) -> dict[str, Any]:
        # Feeds by class stage each item in an envelope with its classes; the others stage the
        # bare item, which a user can read back after a crash.
        return {"item": item, "classes": item.classes} if isinstance(item, ClassedItem) else item

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
                    assemble(spec, path, self.params, lambda: self._read_staged(staging))
        except OutputError as exc:
            raise OutputError(f"{exc} (the items are kept in {staging})") from exc
        staging.unlink()

    def keep_existing(self, state: CrawlState, folder: Path) -> None:
        """With a journal, ``-o`` (a feed that does not overwrite): each run rewrites the feed
        from the journal, after what the file held before the job began. That content is
        copied into the job's ``folder`` on the job's first run and recorded in its state, so
        a resume neither loses it nor keeps it twice (the file by then holds items too)."""
        for index, (spec, path) in enumerate(zip(self.specs, self.paths, strict=True)):
            if spec.overwrite or spec.batch_item_count:
                continue
            copy = folder / f".kept-{index}.before"
            if state.get(f"feed_kept:{index}") is None:
                held = path.is_file() and path.stat().st_size > 0
                if held:
                    _with_existing(path, spec, lambda: ())  # a file -o cannot add to: said now
                    with replacing(copy, f"the copy of {path} at") as temp:
                        shutil.copyfile(path, temp)
                state.setdefault(f"feed_kept:{index}", held)
            if state.get(f"feed_kept:{index}") and copy.is_file():
                self._kept[index] = copy

    def finalise(self, items: ItemSource) -> int:
        """With a journal: every feed from the journal's items (the job's, earlier runs'
        too), after what it held before the job began (``keep_existing``), replacing the
        file. Returns the items in the first feed."""
        counts = [
            assemble(
                dataclasses.replace(spec, overwrite=index not in self._kept),
                path,
                self.params,
                items,
                before=self._kept.get(index),
            )
            for index, (spec, path) in enumerate(zip(self.specs, self.paths, strict=True))
        ]
        return counts[0]

    def _read_staged(self, path: Path) -> Iterator[dict[str, Any]]:
        with open(path, "rb") as fh:
            for line in fh:
                if line.endswith(b"\n"):
                    entry = json.loads(line)
                    yield ClassedItem(entry["item"], entry["classes"]) if self.by_class else entry


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
