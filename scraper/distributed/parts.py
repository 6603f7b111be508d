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
from ..jobdir import ItemJournal, read_entries, unique_items


class PartRegistry(Protocol):
    """Where the workers of a crawl record their part files (``part_registry.py``, in Redis)."""

    worker_id: str

    def register_part(self, name: str) -> None: ...

    def parts(self) -> dict[str, tuple[str, int]]: ...

    def merge_failed(self) -> None: ...


def parts_dir(output: Path) -> Path:
    """``output/news.jsonl`` -> ``output/news.parts``."""
    return output.with_name(f"{output.stem}.parts")


class PartJournal:
    """This worker's part file (an ``ItemJournal`` of its own, recorded in the registry at
    once); ``finalise`` merges the parts of every worker the registry knows."""

    def __init__(self, output: Path, registry: PartRegistry) -> None:
        self.parts = parts_dir(output)
        self.registry = registry
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create part folder {self.parts}: {exc.strerror}") from exc
        self._own = ItemJournal(self.parts / f"{registry.worker_id}.jsonl")
        self.path = self._own.path
        registry.register_part(self.path.name)

    def write(self, keyed: list[tuple[str, dict[str, Any]]]) -> None:
        self._own.write(keyed)

    def close(self) -> None:
        self._own.close()

    def finalise(self, feeds: FeedSet) -> int:
        """Write every feed from the recorded parts; a merge that fails gives its claim back."""
        try:
            return feeds.finalise(lambda: unique_items(self._entries()))
        except OutputError:
            self.registry.merge_failed()
            raise

    def _entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for worker, part, recorded in self._recorded_parts():
            count = 0
            for entry in read_entries(part):  # a torn last line (a killed worker) is skipped
                count += 1
                yield entry
            if count < recorded:
                raise OutputError(
                    f"cannot merge: part file {part} of worker {worker} holds {count} of the "
                    f"{recorded} items written to it"
                )

    def _recorded_parts(self) -> list[tuple[str, Path, int]]:
        """Every part the crawl's workers recorded: (worker, path, items), each checked there
        and readable before anything is merged."""
        parts = []
        for worker, (name, items) in sorted(self.registry.parts().items()):
            path = self.parts / name
            if not os.access(path, os.R_OK):
                raise OutputError(
                    f"cannot merge: part file {path} of worker {worker} is missing or unreadable"
                )
            parts.append((worker, path, items))
        return parts


def merge_parts(output: Path) -> int:
    """``crawl --merge``: write ``output`` from whatever part files its folder holds (this
    process writes none of its own); returns the items written."""
    folder = parts_dir(output)
    if not folder.is_dir():
        raise OutputError(f"no part files to merge: {folder} does not exist")

    def entries() -> Iterator[tuple[str, dict[str, Any]]]:
        for part in sorted(folder.glob("*.jsonl")):
            yield from read_entries(part)

    return FeedSet.to_file(output).finalise(lambda: unique_items(entries()))
