"""The job folder (``--jobdir DIR``): a crawl that survives crashes and resumes.

Flow position: beside the frontier and the exporter. ``SQLiteJournal`` journals every transition
of the memory frontier to ``DIR/frontier.sqlite`` (WAL), and ``ItemJournal`` keeps every
exported item with a stable key in ``DIR/items.jsonl``; the output files (``feeds.py``) are
rebuilt from the journal at the end of every run.

Exactly once, across any number of crashes:
- a request is a row: queued -> leased -> deleted (done), each step one transaction; on start,
  leased rows go back to queued, so work in flight at a crash is done again;
- a page's items are written to the journal before its request is acknowledged, so nothing
  written is lost and nothing acknowledged is missing;
- a page done twice writes its items twice under the same keys (request fingerprint and position,
  or the spider's ``item_key`` field), and finalising keeps the first line of each key;
- a line torn by a crash is cut off when the journal is opened, and skipped if read before;
- a write that fails (a full disk) is cut back to whole lines before the error is raised;
- a frontier step that fails (SQLite says the disk is full) is rolled back and raised as one
  ``StoreError`` naming the file: the engine stops, and nothing is acknowledged that was not
  written (an acknowledgement lost with it is redone on resume, under the same item keys).

Requests are stored as data (``records.py``), never pickled: a job folder from elsewhere can
hold nothing that runs. A row that is not a valid record is logged and set aside (state
INVALID), and the crawl goes on without it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import OutputError, ScraperError, StoreError
from .export import encode_line, write_all
from .feed_spec import ClassedItem
from .models import Request
from .records import InvalidRecord, decode_request, encode_request

if TYPE_CHECKING:
    from .feeds import FeedSet

log = logging.getLogger("scraper.jobdir")

QUEUED, LEASED, INVALID = 0, 1, 2


class SQLiteJournal:
    """The memory frontier's transitions, journaled to ``DIR/frontier.sqlite`` (a
    ``frontier.Journal``): the frontier calls each hook under its lock, inside ``step()``."""

    durable = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = path = folder / "frontier.sqlite"
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript("""
                CREATE TABLE IF NOT EXISTS requests (
                    id INTEGER PRIMARY KEY, state INTEGER NOT NULL, data BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS seen (fp INTEGER PRIMARY KEY);
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            """)
        except sqlite3.Error as exc:
            raise ScraperError(f"cannot open job state {path}: {exc}") from exc

    @contextmanager
    def step(self) -> Iterator[None]:
        """One transaction for what the frontier changes in one call. An SQLite error (a full
        disk) rolls the step back and becomes a StoreError naming the file."""
        try:
            yield
            if self._db.in_transaction:
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            raise StoreError(f"cannot write job state {self.path}: {exc}") from exc

    def _write(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        if not self._db.in_transaction:  # begun at the first write: a step that only reads
            self._db.execute("BEGIN")  # (a duplicate link) costs no transaction
        return self._db.execute(sql, args)

    def restore(self) -> tuple[set[int], list[Request]]:
        """The saved state; leased requests go back to the queue (work in flight at a crash
        is done again). A row that is not a valid record is set aside."""
        seen = {fp % (1 << 64) for (fp,) in self._db.execute("SELECT fp FROM seen")}
        self._write("UPDATE requests SET state = ? WHERE state = ?", (QUEUED, LEASED))
        rows = self._db.execute(
            "SELECT id, data FROM requests WHERE state = ? ORDER BY id", (QUEUED,)
        ).fetchall()
        requests = []
        for row_id, data in rows:
            try:
                request = decode_request(data)
            except InvalidRecord as exc:
                log.error("job state: request %d is not a valid record (%s): skipped",
                          row_id, exc)  # fmt: skip
                self._write("UPDATE requests SET state = ? WHERE id = ?", (INVALID, row_id))
                continue
            request.store_id = row_id
            requests.append(request)
        return seen, requests

    def added(self, request: Request, key: int) -> None:
        try:
            record = encode_request(request)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        self._write("INSERT OR IGNORE INTO seen (fp) VALUES (?)", (_signed(key),))
        cursor = self._write("INSERT INTO requests (state, data) VALUES (?, ?)", (QUEUED, record))
        request.store_id = cursor.lastrowid

    def leased(self, request: Request) -> None:
        self._write("UPDATE requests SET state = ? WHERE id = ?", (LEASED, request.store_id))

    def requeued(self, request: Request) -> None:  # with its attempt count
        self._write(
            "UPDATE requests SET state = ?, data = ? WHERE id = ?",
            (QUEUED, encode_request(request), request.store_id),
        )

    def acked(self, request: Request) -> None:
        self._write("DELETE FROM requests WHERE id = ?", (request.store_id,))

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def setdefault(self, key: str, value: str) -> str:
        self._write("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
        stored = self.get(key)
        assert stored is not None
        return stored

    def item_journal(self) -> ItemJournal:
        return ItemJournal(self.folder / "items.jsonl")

    def close(self) -> None:
        self._db.close()


def _signed(key: int) -> int:
    """SQLite integers are signed 64-bit."""
    return key - (1 << 64) if key >= 1 << 63 else key


class ItemJournal:
    """Append-only ``{"key": ..., "item": ...}`` lines; the source of the final output."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._repair()
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot write item journal {path}: {exc.strerror}") from exc

    def _repair(self) -> None:
        """Cut a last line torn by a crash (everything after the last newline)."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            tail_start = max(0, size - (1 << 20))
            while True:
                fh.seek(tail_start)
                tail = fh.read(size - tail_start)
                cut = tail.rfind(b"\n")
                if cut >= 0 or tail_start == 0:
                    break
                tail_start = max(0, tail_start - (1 << 20))
            keep = tail_start + cut + 1 if cut >= 0 else 0
            if keep < size:
                fh.truncate(keep)

    def write(self, keyed: list[tuple[str, dict[str, Any]]]) -> None:
        assert self._fd is not None
        data = b"".join(encode_line(_entry(key, item)) for key, item in keyed)
        write_all(self._fd, data, self.path)

    def finalise(self, feeds: FeedSet) -> int:
        """Write every feed from the journal, each file replaced atomically; returns the
        items written to the first."""
        return feeds.finalise(lambda: unique_items(read_entries(self.path)))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _entry(key: str, item: dict[str, Any]) -> dict[str, Any]:
    """A journal line: the item's key, the item, and its classes when feeds choose by class."""
    if isinstance(item, ClassedItem):
        return {"key": key, "item": item, "classes": item.classes}
    return {"key": key, "item": item}


def unique_items(entries: Iterable[tuple[str, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """Every item once: the first line of each key (a page done twice wrote its items twice)."""
    seen: set[str] = set()
    for key, item in entries:
        if key not in seen:
            seen.add(key)
            yield item


def read_entries(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ``(key, item)`` pairs of a journal file. A last line without its newline was torn by
    a crash: it is skipped (its page was never acknowledged, so it is done again)."""
    with open(path, "rb") as fh:  # bytes: a torn line may end inside a UTF-8 sequence
        for number, line in enumerate(fh, 1):
            if not line.endswith(b"\n"):
                return
            try:
                entry = json.loads(line)
                key, item = entry["key"], entry["item"]
                if "classes" in entry:
                    item = ClassedItem(item, entry["classes"])
            except (ValueError, KeyError, TypeError) as exc:
                raise OutputError(
                    f"item journal {path} is damaged at line {number}: {exc}"
                ) from exc
            yield key, item
