"""``crawl --status``: what a distributed crawl is doing, read from Redis while it runs.

Flow position: outside the flow, beside it. Workers publish their own stats with every
heartbeat (``RedisFrontier``'s keeper); this sums them with the frontier's counts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import redis

from .frontier import HEARTBEAT_MAX, key_prefix

ALIVE_AFTER = 3 * HEARTBEAT_MAX  # a worker silent for longer is reported as gone
DEAD_LETTERS_SHOWN = 5


def dedup_bytes(client: redis.Redis, crawl_name: str) -> int:
    """Bytes Redis uses for the crawl's seen fingerprints (MEMORY USAGE of every bucket)."""
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", key_prefix(crawl_name)) + "s:*"
    total = 0
    for keys in _batches(client.scan_iter(match=pattern, count=1000), 1000):
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key, samples=0)
        total += sum(size or 0 for size in pipe.execute())
    return total


def _batches(keys: Any, size: int) -> Any:
    batch: list[bytes] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_status(client: redis.Redis, crawl_name: str) -> dict[str, Any]:
    """The crawl's counts, its workers (alive or gone) and their summed stats."""
    prefix = key_prefix(crawl_name)
    pipe = client.pipeline(transaction=True)
    pipe.hgetall(prefix + "state")
    pipe.zrange(prefix + "workers", 0, -1, withscores=True)
    pipe.hgetall(prefix + "wstats")
    pipe.lrange(prefix + "dead", -DEAD_LETTERS_SHOWN, -1)
    pipe.exists(prefix + "seeded")
    pipe.time()
    state, beats, wstats, dead, seeded, (seconds, micros) = pipe.execute()
    now = seconds + micros / 1e6
    counts = {k.decode(): int(v) for k, v in state.items()}
    totals: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    hosts: Counter[str] = Counter()
    for raw in wstats.values():
        worker = json.loads(raw)
        for name in ("pages", "items", "responses", "http_429"):
            totals[name] += worker.get(name, 0)
        errors.update(worker.get("errors", {}))
        hosts.update(worker.get("hosts", {}))
    return {
        "crawl": crawl_name,
        "counts": counts,
        "workers": {w.decode(): round(now - beat, 1) for w, beat in beats},
        "totals": dict(totals),
        "errors": dict(errors),
        "hosts": dict(hosts),
        "dead_letters": [json.loads(entry) for entry in dead],
        "started": bool(counts) or bool(beats),
        "finished": bool(seeded) and counts.get("queued", 0) == 0 and counts.get("leased", 0) == 0,
    }


def render_status(status: dict[str, Any]) -> str:
    counts = status["counts"]
    if not status["started"]:
        return f"crawl {status['crawl']}: nothing in Redis under this name"
    state = "finished" if status["finished"] else "running"
    alive = {w: age for w, age in status["workers"].items() if age <= ALIVE_AFTER}
    gone = len(status["workers"]) - len(alive)
    totals = status["totals"]
    lines = [
        f"crawl {status['crawl']}: {state}",
        f"  frontier: {counts.get('queued', 0)} queued, {counts.get('leased', 0)} leased, "
        f"{counts.get('done', 0)} done, {counts.get('seen', 0)} URLs seen, "
        f"{counts.get('duplicates', 0)} duplicates dropped",
        f"  leases: {counts.get('reclaimed', 0)} reclaimed after expiry, "
        f"{counts.get('sends_refused', 0)} late sends and "
        f"{counts.get('acks_rejected', 0)} late acks refused, "
        f"{counts.get('dead', 0)} dead letters",
        f"  workers alive: {len(alive)}"
        + "".join(f"\n    {w} (heartbeat {age}s ago)" for w, age in sorted(alive.items()))
        + (f"\n  workers gone (no heartbeat): {gone}" if gone else ""),
        f"  pages: {totals.get('pages', 0)}, items: {totals.get('items', 0)}, "
        f"responses: {totals.get('responses', 0)}, 429s: {totals.get('http_429', 0)}",
        "  errors: "
        + (", ".join(f"{k} {v}" for k, v in sorted(status["errors"].items())) or "none"),
        "  requests per host: "
        + (", ".join(f"{h} {n}" for h, n in Counter(status["hosts"]).most_common(10)) or "none"),
    ]
    for letter in status["dead_letters"]:
        lines.append(f"  dead letter: {letter['url']} ({letter['reason']}, {letter['worker']})")
    return "\n".join(lines)
