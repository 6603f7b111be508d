"""Part files: each worker of a distributed crawl writes its own item journal, and one merge
turns them into the output with every item exactly once.

Flow position: the exporter's place in a distributed crawl. ``out.jsonl``'s workers write
``out.parts/<worker id>.jsonl`` (an ``ItemJournal`` each: keyed lines, written before the ack);
the first worker to see the whole crawl finished, or ``crawl --merge``, writes ``out.jsonl``
with the journal's own finalise, reading every part (first line of each key wins).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..jobdir import ItemJournal

log = logging.getLogger("scraper.parts")


def parts_dir(output: Path) -> Path:
    """``output/news.jsonl`` -> ``output/news.parts``."""
    return output.with_name(f"{output.stem}.parts")


class PartJournal(ItemJournal):
    """This worker's part file; ``finalise`` merges the parts of every worker."""

    def __init__(self, output: Path, worker_id: str | None) -> None:
        self.parts = parts_dir(output)
        if worker_id is None:  # merge only: this process writes no part of its own
            self.path = self.parts
            self._fd = None
            return
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create part folder {self.parts}: {exc.strerror}") from exc
        super().__init__(self.parts / f"{worker_id}.jsonl")

    def entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for part in sorted(self.parts.glob("*.jsonl")):
            yield from _part_entries(part)


def _part_entries(part: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with open(part, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                # A worker killed mid-write: its page was not acked, so it is redone elsewhere.
                log.info("skipping a torn last line in %s", part)
                return
            entry = json.loads(line)
            yield entry["key"], entry["item"]


def merge_parts(output: Path) -> int:
    """``crawl --merge``: write ``output`` from its part files; returns the items written."""
    journal = PartJournal(output, None)
    if not journal.parts.is_dir():
        raise OutputError(f"no part files to merge: {journal.parts} does not exist")
    return journal.finalise(output)
