"""``RedisFrontier``: the frontier shared by many crawl processes, on one Redis.

Flow position: the same place as ``MemoryFrontier`` (spider and callbacks -> **frontier** ->
fetch threads), behind the same ``store.CrawlStore`` contract, selected by ``FRONTIER_URL``. Its
rules and parameters are ``politeness.py``'s; the scripts apply them.

What lives where: every queue, lease, host clock and seen fingerprint lives in Redis, changed
only by the Lua scripts in ``scripts.py`` (one script per transition, so no worker ever sees half
of one). This process keeps only what it holds: its leases (token -> request id) and a local
gate that stops its fetch threads from asking Redis again before something can be ready.

Leases, not pops: ``next`` leases a request for ``REDIS_LEASE_TIMEOUT`` seconds under a fresh
fencing token; a keeper thread extends this worker's leases every third of that. A worker that
dies stops extending, and the first lease call after the expiry puts its requests back in their
queues (after ``REDIS_MAX_LEASE_EXPIRIES`` expiries, into the dead-letter list). A worker that
comes back late (stopped, swapped out, cut off) finds its token stale: a request it had not sent
yet is not sent (the host slot is someone else's by now), and its ack is refused, so its page,
already redone elsewhere, is not counted twice; its items are already in its part file under the
same keys as the redo's, and merging keeps one of each.

Children with the ack: the engine writes a page's items, then acks the page with its new
requests, and the ack queues them (deduplicated) and ends the lease in one step, only if the lease
is still this worker's. A worker that dies before the ack leaves the page leased and nothing of
its children queued; a worker fenced out adds nothing: in both cases the worker that redoes the
page queues them.

Politeness is global: the lease script hands out a request only from a host whose next time
(Redis clock) has come and whose in-flight count across all workers is below
CONCURRENT_REQUESTS_PER_DOMAIN; sending, the response, Retry-After, robots.txt Crawl-delay and
AutoThrottle all move that one host clock. The delay counts from each send, as in one process,
and from the end of each fetch as well (see end_fetch in ``scripts.py``): a worker's recorded
send time can run ahead of its request by its distance from the site, so only the response
bounds what the site sees. A reclaimed lease counts as a fetch ending at the reclaim: its
request may have reached the site as late as that.

What it hands on: the seeding claim is a ``seeding.SeedingClaim`` and the part files and merge
claim a ``part_registry.RedisPartRegistry``; both share this worker's connection and id, and
the keeper's heartbeat keeps the one and publishes the other. Merging: each worker records its
part file and how many items it wrote, with every heartbeat; the worker that merges checks
every recorded part is there and whole (``parts.py``).

Why one module of this length: it is the Redis side of every ``CrawlStore`` transition plus
the keeper thread that extends its leases and publishes this worker's stats.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from ..alarm import Alarm
from ..errors import LeaseLost
from ..models import Request
from ..politeness import Politeness, fingerprint_key
from ..records import InvalidRecord, decode_request, encode_request
from ..redact import redact_url
from ..stats import Stats
from ..store import IDLE, Clock, Lease, Next, Wait
from . import scripts
from .connection import CrawlRedis, Retrying, connect
from .part_registry import RedisPartRegistry
from .parts import PartJournal
from .seeding import SeedingClaim

log = logging.getLogger("scraper.redis")

LONGEST_WAIT = 0.2  # seconds: other workers' releases are noticed within this
SHORTEST_WAIT = 0.002  # never spin on Redis
HEARTBEAT_MAX = 2.0  # seconds between heartbeats (and lease extensions) at most
PRIORITY_LIMIT = 9000  # queue scores are id - priority * 1e12: exact in a double within this


def worker_name() -> str:
    """Unique per process, readable in ``crawl --status``: host name, pid, a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


def key_prefix(crawl_name: str) -> str:
    """``{name}:``: the braces make every key of a crawl hash to one cluster slot."""
    if not crawl_name or any(c in crawl_name for c in "{}"):
        raise ValueError(f"crawl name must be non-empty and without braces: {crawl_name!r}")
    return f"{{{crawl_name}}}:"


class RedisFrontier:
    """A ``CrawlStore`` whose state lives in Redis and is shared by every worker of one crawl.

    Thread-safe: the fetch threads, the export thread and the keeper thread share one
    connection pool; lease calls are serialised per process by the gate.
    """

    durable = False  # the crawl's state outlives this worker, but not as this worker's
    resumed = 0  # another worker's requests are the crawl's, not resumed here

    def __init__(
        self,
        url: str,
        crawl_name: str,
        politeness: Politeness | None = None,
        *,
        lease_timeout: float = 30.0,
        max_lease_expiries: int = 3,
        retry_timeout: float = 60.0,
        ca_certs: str = "",
        stats: Stats | None = None,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.crawl_name = crawl_name
        self.worker_id = worker_name()
        self.prefix = key_prefix(crawl_name)
        self.politeness = politeness = politeness or Politeness()
        self._state = self.prefix + "state"
        self._redis = connect(url, ca_certs)
        self._retrying = Retrying(url, retry_timeout)
        self._scripts = {
            name: self._redis.register_script(getattr(scripts, name))
            for name in ("ADD", "LEASE", "RELEASE", "ACK", "EXTEND", "MARK_SENT", "DEFER")
            + ("SET_DELAY", "BURY")
        }
        self._lease_timeout = lease_timeout
        self._max_expiries = max_lease_expiries
        self._stats = stats
        self._clock = clock
        self._rng = rng or random.Random()
        # The first worker's politeness settings hold for the whole crawl.
        conf = politeness.redis_conf()
        conf_key = self.prefix + "conf"
        self._retrying(lambda: [self._redis.hsetnx(conf_key, k, v) for k, v in conf.items()])

        self._held: dict[int, str] = {}  # fencing token -> request id, from lease until ack
        self._held_lock = threading.Lock()
        self._fetching: set[int] = set()  # tokens leased and not yet released (or acked)
        self._gate = threading.Lock()  # one lease call at a time per process
        self._not_before = 0.0  # clock time before which a lease call would find nothing
        self._changes_seen = 0  # local changes; a gate time computed before one is stale
        self._changed = threading.Condition()
        self._alarm = Alarm(self._changed)
        self._closed = False
        self._queued_seen = 0
        crawl = CrawlRedis(self._redis, self._retrying, crawl_name, self.prefix, self.worker_id)
        self._seeding = SeedingClaim(crawl, lease_timeout)
        self._parts = RedisPartRegistry(crawl, stats)
        self._stop_keeper = threading.Event()
        self._keeper = threading.Thread(target=self._keep_leases, name="redis-keeper", daemon=True)
        self._keeper.start()

    # -- calls -----------------------------------------------------------------------------
    def _run(self, name: str, *args: Any) -> Any:
        script = self._scripts[name]
        return self._retrying(lambda: script(keys=[self._state], args=[self.prefix, *args]))

    def _factor(self) -> float:
        return self.politeness.stretch(self._rng)

    def _wake_waiters(self, everyone: bool = False) -> None:
        """Something changed here: let waiting fetch threads ask Redis again."""
        with self._changed:
            self._changes_seen += 1
            self._not_before = 0.0
            if everyone:
                self._changed.notify_all()
            else:
                self._changed.notify()

    # -- the CrawlStore interface ----------------------------------------------------------
    def add(self, request: Request) -> bool:
        return self.add_many([request]) == 1

    def add_many(self, requests: Sequence[Request]) -> int:
        """``add`` for many requests in one round trip (each still one atomic script)."""
        wanted = [args for request in requests if (args := self._arguments_or_none(request))]
        script = self._scripts["ADD"]

        def run() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for args in wanted:
                script(keys=[self._state], args=[self.prefix, *args], client=pipe)
            return pipe.execute()  # type: ignore[no-any-return]

        if len(wanted) > 1:
            # Retrying after a cut connection is safe: what got in is found seen the second
            # time (reported as a duplicate, which only the local counts see).
            results = self._retrying(run)
        else:
            results = [self._run("ADD", *args) for args in wanted]
        added = sum(bool(result) for result in results)
        if added:
            self._wake_waiters()
        return added

    def _add_arguments(self, request: Request) -> list[Any] | None:
        """The ADD script's arguments, or None if the request is too deep to crawl."""
        if self.politeness.too_deep(request):
            return None
        if abs(request.priority) > PRIORITY_LIMIT:
            raise ValueError(f"request priority must be within ±{PRIORITY_LIMIT}: {request}")
        try:
            record = encode_request(request)
        except TypeError as exc:  # a meta value set after the Request was made
            raise ValueError(str(exc)) from None
        key = fingerprint_key(request).to_bytes(8, "big")
        return [
            key[:2].hex()[:3],  # the first 12 bits name the bucket
            key[1:8],  # the tail: 7 bytes (4 bits overlap the bucket's; simpler)
            "1" if request.dont_filter else "0",
            record,
            request.host,
            request.priority,
            redact_url(request.url),  # shown in dead letters only
        ]

    def next(self) -> Next:
        with self._gate:
            if self._closed:
                return IDLE
            wait = self._not_before - self._clock()
            if wait > 0:
                return Wait(wait)
            changes = self._changes_seen
            reply = self._run(
                "LEASE",
                self.worker_id,
                self._lease_timeout,
                self._max_expiries,
                self._factor(),
                LONGEST_WAIT,
            )
            wait = float(reply[-1])
            if self._changes_seen == changes:  # else something new may be ready already
                self._not_before = self._clock() + wait
            if reply[0] == 0:
                return Wait(max(wait, SHORTEST_WAIT))
            _, request_id, token, data, _ = reply
            try:
                request = decode_request(data)
            except InvalidRecord as exc:
                # Written by someone else than a worker: dropped, never run (see records.py).
                log.error("request %s in Redis is not a valid record (%s): dead-lettered",
                          request_id.decode(), exc)  # fmt: skip
                self._run("BURY", request_id, token, self.worker_id)
                if self._stats is not None:
                    self._stats.inc("invalid_records")
                return Wait(SHORTEST_WAIT)
            request.store_id = int(token)
            with self._held_lock:
                self._held[request.store_id] = request_id.decode()
                self._fetching.add(request.store_id)
            with self._changed:
                self._alarm.taken()
            return Lease(request)

    def release(self, request: Request, retry_at: float | None = None) -> None:
        token = request.store_id
        assert token is not None
        with self._held_lock:
            self._fetching.discard(token)
            request_id = self._held.get(token)
            if retry_at is not None:
                self._held.pop(token, None)
        if request_id is None:  # handed back at shutdown already
            return
        if retry_at is None:
            self._run("RELEASE", request_id, token, "", "", self._factor())
        else:
            wait = max(0.0, retry_at - self._clock())
            self._run(
                "RELEASE", request_id, token, repr(wait), encode_request(request), self._factor()
            )
        self._wake_waiters(everyone=True)

    def ack(self, request: Request, children: Sequence[Request] = ()) -> bool:
        """``request`` is done for good; ``children`` (its page's new requests) are queued in
        the same step. False if the lease is no longer this worker's: nothing was queued."""
        token = request.store_id
        if token is None:
            return False
        with self._held_lock:
            request_id = self._held.pop(token, None)
            self._fetching.discard(token)  # acked without a release: the ack ends the fetch
        if request_id is None:  # handed back at shutdown: whoever redoes it does its children
            return False
        arguments = [value for child in children for value in self._arguments_or_none(child)]
        outcome = self._run("ACK", request_id, token, self._factor(), *arguments)
        if isinstance(outcome, bytes):
            # Our lease expired and the request went back to the queue: someone else's ack
            # counts. Our items are written already, under the keys the redo writes too.
            log.warning("late ack of %s refused (lease %s)", request.url, outcome.decode())
            if self._stats is not None:
                self._stats.inc("acks_refused")
            return False
        if outcome:
            self._wake_waiters()
        return True

    def _arguments_or_none(self, child: Request) -> list[Any]:
        """ADD's arguments, or [] for a request not to queue (too deep, or not storable)."""
        try:
            return self._add_arguments(child) or []
        except ValueError as exc:  # one bad link must not cost the page its other links
            log.error("dropped %s: %s", child.url, exc)
            return []

    def mark_sent(self, request: Request) -> None:
        token = request.store_id
        with self._held_lock:
            request_id = self._held.get(token) if token is not None else None
        if request_id is None:  # robots.txt: fetched under the lease of the page that asked
            self._run("MARK_SENT", request.host, self._factor(), "", "")
            return
        outcome = self._run("MARK_SENT", request.host, self._factor(), request_id, token)
        if outcome != 1:
            with self._held_lock:
                self._held.pop(token, None)
                self._fetching.discard(token)
            raise LeaseLost(f"lease on {request.url} {outcome.decode()}: not sent")

    def sent(self, request: Request) -> None:
        """Kept: ``mark_sent`` set the host's clock (on Redis's time) a moment before the
        write, and the end of the fetch moves it again; a second round trip per request is
        not worth the write's microseconds."""

    def give_back_turn(self, request: Request) -> None:
        """Kept: other workers may have planned around the host's time since the lease."""

    def defer_host(self, host: str, until: float) -> None:
        self._run("DEFER", host, repr(max(0.0, until - self._clock())))
        self._wake_waiters(everyone=True)

    def set_host_delay(self, host: str, delay: float, throttle: bool = False) -> None:
        self._run("SET_DELAY", host, repr(delay), "throttle" if throttle else "delay")

    def wait(self, timeout: float) -> None:
        """Until something changes here, or ``timeout`` (at most LONGEST_WAIT: other workers'
        changes are seen by asking) for the few waiting threads that keep the time."""
        with self._changed:
            if not self._closed:
                now = self._clock()
                self._alarm.wait(now, now + timeout)

    def close(self) -> None:
        self._closed = True
        self._wake_waiters(everyone=True)

    @property
    def queued(self) -> int:
        """Requests queued in the whole crawl (the last known count if Redis is away)."""
        with contextlib.suppress(redis.RedisError):
            self._queued_seen = int(self._redis.hget(self._state, "queued") or 0)
        return self._queued_seen

    @property
    def leased(self) -> int:
        """Requests this worker is fetching."""
        return len(self._fetching)

    def queued_hosts(self) -> None:
        """Other workers share the queues: only the crawl as a whole could say."""

    def park_host(self, host: str) -> list[Request]:
        """Nothing is taken out: the requests stay queued for the crawl's other workers."""
        return []

    def item_journal(self, output: Path) -> PartJournal:
        return PartJournal(output, self._parts)

    def claim_output(self) -> bool:
        """True for the one worker that merges the part files: the crawl is done, and no other
        worker has claimed the merge."""
        return self.finished() and self._parts.claim_merge()

    # -- the crawl as a whole --------------------------------------------------------------
    def remember(self, key: str, value: str) -> str:
        name = self.prefix + "memo:" + key

        def store() -> list[Any]:
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(name, value, nx=True)
            pipe.get(name)
            return pipe.execute()  # type: ignore[no-any-return]

        _, stored = self._retrying(store)
        return str(stored.decode())

    def recall(self, key: str) -> str | None:
        stored = self._retrying(lambda: self._redis.get(self.prefix + "memo:" + key))
        return None if stored is None else str(stored.decode())

    def claim_seeding(self) -> bool:
        return self._seeding.claim()

    def seeding_lapsed(self) -> bool:
        return self._seeding.lapsed()

    def finish_seeding(self) -> None:
        self._seeding.finish()

    def finished(self) -> bool:
        """The whole crawl is done: seeded, nothing queued, nothing leased by any worker."""

        def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hmget(self._state, "queued", "leased")
            pipe.exists(self._seeding.seeded_key)
            return pipe.execute()  # type: ignore[no-any-return]

        (queued, leased), seeded = self._retrying(read)
        return bool(seeded) and int(queued or 0) == 0 and int(leased or 0) == 0

    # -- keeper: lease extension and heartbeat ---------------------------------------------
    def _keep_leases(self) -> None:
        interval = min(self._lease_timeout / 3, HEARTBEAT_MAX)
        while True:  # until shutdown; the first beat at once, so --status sees a new worker
            try:
                self._heartbeat()
            except Exception:  # the keeper must outlive any one bad beat
                log.exception("Redis heartbeat failed")
            if self._stop_keeper.wait(interval):
                return

    def _heartbeat(self) -> None:
        with self._held_lock:
            held = list(self._held.items())
        pairs = [value for token, request_id in held for value in (request_id, token)]
        lost = self._publish_heartbeat(*pairs)
        if lost:
            log.warning("%d leases of this worker expired before they could be extended", len(lost))
        self._seeding.keep()

    def _publish_heartbeat(self, *pairs: Any) -> Any:
        """Extend the leases in ``pairs`` (id, token, ...), publish stats and part."""
        part = self._parts.record()
        return self._run(
            "EXTEND", self.worker_id, self._lease_timeout, self._stats_json(), part, *pairs
        )

    def _stats_json(self) -> str:
        stats = self._stats
        if stats is None:
            return "{}"
        return json.dumps(
            {
                "pages": stats.counters["pages"],
                "items": stats.counters["items"],
                "responses": stats.counters["responses"],
                "http_429": stats.counters["http_429"],
                "errors": dict(stats.errors),
                "hosts": dict(stats.hosts),
                "fetching": len(self._fetching),
            }
        )

    def stop_heartbeat(self) -> None:
        """Extend no lease from now on, as a worker that froze or died: its leases expire and
        other workers reclaim them. The first step of ``shutdown``."""
        self._stop_keeper.set()
        self._keeper.join(HEARTBEAT_MAX + 1)

    def shutdown(self) -> None:
        """Stop the keeper, hand back leases this worker will never ack, say goodbye."""
        self.stop_heartbeat()
        with self._held_lock:
            held, self._held = dict(self._held), {}
        for token, request_id in held.items():
            # Back to the queue at once, without counting as an expiry.
            self._run("RELEASE", request_id, token, "0", "", 1.0)
        self._publish_heartbeat()
        self._retrying(lambda: self._redis.zrem(self.prefix + "workers", self.worker_id))
