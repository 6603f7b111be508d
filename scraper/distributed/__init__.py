"""Beyond one machine: many ``crawl`` processes sharing one frontier in Redis.

    crawl (worker 1) --+                          +--> out.parts/<worker 1>.jsonl --+
    crawl (worker 2) --+--> Redis: frontier.py  --+--> out.parts/<worker 2>.jsonl --+--> out.jsonl
    crawl (worker N) --+    (scripts.py)          +--> out.parts/<worker N>.jsonl --+   (parts.py)

- ``frontier.py``: ``RedisFrontier``, the ``CrawlStore`` every worker shares (leases, fencing,
  global politeness, dedup);
- ``scripts.py``: its Lua scripts, one per state transition, and the key layout;
- ``connection.py``: the client, and retry with backoff around every call;
- ``seeding.py``: which worker adds the start requests (a claim that lapses if it dies);
- ``parts.py``: per-worker part files and the exactly-once merge;
- ``part_registry.py``: the part files recorded in Redis, and the one claim to merge them;
- ``status.py``: ``crawl --status``, read from Redis while a crawl runs.
"""

from ..extras import require

require("redis", "the shared Redis frontier")  # one clear line, not an ImportError

from .connection import RedisUnavailable  # noqa: E402
from .frontier import RedisFrontier  # noqa: E402
from .parts import PartJournal, merge_parts, parts_dir  # noqa: E402

__all__ = ["PartJournal", "RedisFrontier", "RedisUnavailable", "merge_parts", "parts_dir"]
