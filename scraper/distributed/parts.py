"""Part files: each worker of a distributed crawl writes its own item journal, and one merge
turns them into the output with every item exactly once.

Flow position: the exporter's place in a distributed crawl. ``out.jsonl``'s workers write
``out.parts/<worker id>.jsonl`` (an ``ItemJournal`` each: keyed lines, written before the ack)
and record it in Redis; the first worker to see the whole crawl finished merges the recorded
parts, each checked present and holding at least the items its worker recorded, or stops with
one error naming the part that is not. ``crawl --merge`` merges whatever parts the folder holds.
Either way the journal's own finalise writes ``out.jsonl`` (first line of each key wins), or
the output in any other format ``feeds.py`` writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from ..errors import OutputError
from ..feeds import FeedSet
from ..jobdir import ItemJournal, read_entries


class PartRegistry(Protocol):
    """Where the workers of a crawl record their part files (``RedisFrontier``)."""

    worker_id: str

    def register_part(self, name: str) -> None: ...

    def parts(self) -> dict[str, tuple[str, int]]: ...

    def merge_failed(self) -> None: ...


def parts_dir(output: Path) -> Path:
    """``output/news.jsonl`` -> ``output/news.parts``."""
    return output.with_name(f"{output.stem}.parts")


class PartJournal(ItemJournal):
    """This worker's part file; ``finalise`` merges the parts of every worker."""

    def __init__(self, output: Path, frontier: PartRegistry | None) -> None:
        self.parts = parts_dir(output)
        self.frontier = frontier
        if frontier is None:  # crawl --merge: this process writes no part of its own
            self.path = self.parts
            self._fd = None
            return
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create part folder {self.parts}: {exc.strerror}") from exc
        super().__init__(self.parts / f"{frontier.worker_id}.jsonl")
        frontier.register_part(self.path.name)

    def entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if self.frontier is None:
            for part in sorted(self.parts.glob("*.jsonl")):
                yield from read_entries(part)
            return
        for worker, part, recorded in self._recorded_parts(self.frontier):
            count = 0
            for entry in read_entries(part):  # a torn last line (a killed worker) is skipped
                count += 1
                yield entry
            if count < recorded:
                raise OutputError(
                    f"cannot merge: part file {part} of worker {worker} holds {count} of the "
                    f"{recorded} items written to it"
                )

    def _recorded_parts(self, frontier: PartRegistry) -> list[tuple[str, Path, int]]:
        """Every part the crawl's workers recorded: (worker, path, items), each checked there
        and readable before anything is merged."""
        parts = []
        for worker, (name, items) in sorted(frontier.parts().items()):
            path = self.parts / name
            if not os.access(path, os.R_OK):
                raise OutputError(
                    f"cannot merge: part file {path} of worker {worker} is missing or unreadable"
                )
            parts.append((worker, path, items))
        return parts

    def finalise(self, feeds: FeedSet) -> int:
        try:
            return super().finalise(feeds)
        except OutputError:
            if self.frontier is not None:
                self.frontier.merge_failed()
            raise


def merge_parts(output: Path) -> int:
    """``crawl --merge``: write ``output`` from its part files; returns the items written."""
    journal = PartJournal(output, None)
    if not journal.parts.is_dir():
        raise OutputError(f"no part files to merge: {journal.parts} does not exist")
    return journal.finalise(FeedSet.to_file(output))
