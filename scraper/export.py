"""Exporters: the end of the flow, where items become lines in a file.

Flow position: pipelines -> feeds (``feeds.py``: formats, several outputs) -> **exporter** ->
``output/<spider>.jsonl`` (or ``-o PATH``); the failures file too.

The JSON Lines exporter writes each batch of complete lines with one ``os.write`` loop on an
unbuffered file descriptor, so whatever is in the file at any instant, even after the process
is killed, is whole lines: a torn line would need a write to be cut mid-batch by the kernel.
A full disk does cut a batch (the kernel takes what fits, then says ENOSPC): the file is cut
back to its size before the batch, so it still holds whole lines only.

JSON has no NaN or infinity: a float field holding one is written as ``null`` (what
JavaScript's ``JSON.stringify`` does), and the field is named in a warning, once per field.
Python's own ``NaN`` token would make every strict reader reject the whole line.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from .errors import OutputError
from .item import as_dict, is_item

log = logging.getLogger("scraper.export")

_named_non_finite: set[str] = set()  # fields already named in a warning


class Exporter(Protocol):
    path: Path

    def write(self, items: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


def _default(obj: Any) -> Any:
    # Dates, sets, paths and the like: their text form rather than a failed export; dates,
    # times and nested items as Scrapy's exporters write them.
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    if isinstance(obj, datetime.date | datetime.time):  # datetimes too
        return obj.isoformat()
    if is_item(obj):
        return as_dict(obj)
    return str(obj)


def dumps(obj: Any, indent: int | None = None, ensure_ascii: bool = False) -> str:
    """The one JSON encoding of items, in every format and the item journal."""
    try:
        return json.dumps(
            obj, ensure_ascii=ensure_ascii, default=_default, indent=indent, allow_nan=False
        )
    except ValueError:  # NaN or infinity somewhere (rare: only then is the item walked)
        fields: list[str] = []
        text = json.dumps(
            _finite(obj, "", fields, set()),
            ensure_ascii=ensure_ascii,
            default=_default,
            indent=indent,
        )
        for name in fields:
            if name not in _named_non_finite:
                _named_non_finite.add(name)
                log.warning("item field %s is NaN or infinite: written as null", name or "(item)")
        return text


def encode_line(obj: Any) -> bytes:
    return dumps(obj).encode("utf-8") + b"\n"


def _finite(obj: Any, path: str, fields: list[str], walking: set[int]) -> Any:
    """``obj`` with every NaN and infinity replaced by None; their paths added to ``fields``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        fields.append(path)
        return None
    if not isinstance(obj, dict | list | tuple) or id(obj) in walking:
        return obj  # a cycle is left for json.dumps to report, as without NaN
    walking.add(id(obj))
    try:
        if isinstance(obj, dict):
            return {
                k: _finite(v, f"{path}.{k}" if path else str(k), fields, walking)
                for k, v in obj.items()
            }
        return [_finite(v, f"{path}[{i}]", fields, walking) for i, v in enumerate(obj)]
    finally:
        walking.discard(id(obj))


@contextlib.contextmanager
def replacing(path: Path, what: str = "output file") -> Iterator[Path]:
    """A temporary file beside ``path`` that replaces it in one rename when the block ends
    without an error, so ``path`` is never seen half written; otherwise it is removed. An
    OSError becomes OutputError naming ``path`` (as ``what``)."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temp
        os.replace(temp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(OSError):  # gone after the replace; else half a copy
            temp.unlink()


def write_all(fd: int, data: bytes, path: Path) -> None:
    """Append every byte of ``data`` to the file, or none of it: on an error (a full disk, say)
    the file is cut back to its size before the call and OutputError names the file."""
    start = os.fstat(fd).st_size
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        # Not a regular file (a pipe): nothing to cut. The write's error is the one to report.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
            os.lseek(fd, start, os.SEEK_SET)  # without O_APPEND: no hole before the next write
        raise OutputError(f"cannot write output file {path}: {exc.strerror}") from exc


class JsonLinesExporter:
    """One UTF-8 JSON object per line."""

    def __init__(self, path: Path, append: bool = False) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(path, flags, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot write output file {path}: {exc.strerror}") from exc

    def write(self, items: list[dict[str, Any]]) -> None:
        assert self._fd is not None
        write_all(self._fd, b"".join(encode_line(item) for item in items), self.path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
