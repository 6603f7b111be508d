"""The part files of a shared crawl, recorded in Redis, and the one claim to merge them.

Flow position: beside the exporter of each worker. A worker's ``parts.PartJournal`` records its
part file here as soon as it opens it, and the frontier's keeper thread publishes the items
written to it with every heartbeat (``record``, in the EXTEND script); at the end the first
worker to find the crawl finished claims the merge (``RedisFrontier.claim_output``) and reads
every recorded part from here.

Two keys: ``parts`` (worker id -> ``{"file": name, "items": written}``) and ``merged`` (the
worker that claimed the merge; deleted again if its merge failed, so a later worker retries).
"""

from __future__ import annotations

import json

from ..stats import Stats
from .connection import CrawlRedis


class RedisPartRegistry:
    """A ``parts.PartRegistry`` in Redis, for one worker. Thread-safe: its calls are single
    Redis commands, and the part's name is set once, before the keeper first reads it."""

    def __init__(self, crawl: CrawlRedis, stats: Stats | None = None) -> None:
        self.worker_id = crawl.worker_id
        self._redis = crawl.client
        self._retrying = crawl.retrying
        self._parts_key = crawl.key("parts")
        self._merged_key = crawl.key("merged")
        self._stats = stats
        self._part: str | None = None  # this worker's part file (its name), once it has one

    def register_part(self, name: str) -> None:
        """This worker writes its items to the part file ``name``: recorded at once, so the
        merge looks for it even if this worker dies before its first heartbeat."""
        self._part = name
        part = self.record()
        self._retrying(lambda: self._redis.hset(self._parts_key, self.worker_id, part))

    def record(self) -> str:
        """This worker's entry in ``parts`` as JSON, published with each heartbeat; "" before
        it has a part file."""
        if self._part is None:
            return ""
        # Counted after each write to the part file: never more than it holds.
        items = self._stats.counters["items"] if self._stats is not None else 0
        return json.dumps({"file": self._part, "items": items})

    def parts(self) -> dict[str, tuple[str, int]]:
        """Every worker's part file: worker id -> (file name, items written at its latest
        heartbeat, a lower bound of the items in the file)."""
        raw = self._retrying(lambda: self._redis.hgetall(self._parts_key))
        records = {worker.decode(): json.loads(value) for worker, value in raw.items()}
        return {worker: (r["file"], int(r["items"])) for worker, r in records.items()}

    def claim_merge(self) -> bool:
        """True for the one worker that should merge the part files (ask only once the crawl
        is finished): no other worker has claimed the merge (``merge_failed`` gives it back)."""
        return bool(
            self._retrying(lambda: self._redis.set(self._merged_key, self.worker_id, nx=True))
        )

    def merge_failed(self) -> None:
        """The merge this worker claimed did not happen: a worker that ends later tries again."""
        self._retrying(lambda: self._redis.delete(self._merged_key))
