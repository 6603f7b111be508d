"""Requests as stored records: versioned JSON, never pickles.

Flow position: between the frontier and its persistent stores. The job folder's SQLite table
(``jobdir.py``) and the shared Redis frontier (``distributed/frontier.py``) keep each queued
request as one ``encode_request`` record and rebuild it with ``decode_request``. Anyone who can
write to those stores can hand a worker a record, so loading one is parsing data, nothing more:
a record that does not parse, has an unknown version or holds unexpected types is an
``InvalidRecord`` for that request alone, and no code runs (a pickle would run whatever it
names).

What a record holds: url, method, headers, body (base64), callback name, meta, cb_kwargs,
priority, dont_filter and attempts (depth lives in meta, as in Scrapy). ``meta`` and
``cb_kwargs`` values are those ``storable.py`` can write; ``Request`` refuses anything else when
it is made, so a bad value fails in the spider's code, not at resume.
"""

from __future__ import annotations

import base64
import binascii
import json

from .models import Request
from .storable import InvalidRecord, decode_value, encode_value, unstorable

__all__ = ["InvalidRecord", "decode_request", "encode_request"]

VERSION = 1


def encode_request(request: Request) -> bytes:
    """The request as one record (UTF-8 JSON). TypeError, saying where, for a value a record
    cannot hold: only a meta changed after the Request was made can have one."""
    try:
        record = {
            "v": VERSION,
            "url": request.url,
            "method": request.method,
            "headers": encode_value(request.headers),
            "body": base64.b64encode(request.body).decode("ascii"),
            "callback": request.callback,
            "meta": encode_value(request.meta),
            "cb_kwargs": encode_value(request.cb_kwargs),
            "priority": request.priority,
            "dont_filter": request.dont_filter,
            "attempts": request.attempts,
        }
    except TypeError:
        for name in ("meta", "cb_kwargs", "headers"):
            where = unstorable(getattr(request, name))
            if where is not None:
                raise TypeError(f"{name}{where}, which a stored request cannot hold") from None
        raise
    # ASCII escapes: a lone surrogate in a URL or a value still makes a record.
    return json.dumps(record, separators=(",", ":")).encode("ascii")


# Meta keys the framework itself reads as numbers or lists: a record with another type there
# would fail deep in the crawl instead of here.
_META_TYPES: dict[str, type] = {
    "depth": int,
    "redirect_times": int,
    "robots_waits": int,
    "redirect_urls": list,
}

_FIELDS: dict[str, type | tuple[type, ...]] = {
    "url": str,
    "method": str,
    "headers": dict,
    "body": str,
    "callback": (str, type(None)),
    "meta": dict,
    "cb_kwargs": dict,
    "priority": int,
    "dont_filter": bool,
    "attempts": int,
}


def decode_request(data: bytes | str) -> Request:
    """The Request in a record; InvalidRecord (saying why) for anything else."""
    try:
        record = json.loads(data)
    except (ValueError, TypeError, RecursionError) as exc:  # a pickle, cut short, too deep...
        raise InvalidRecord(f"not a JSON record ({type(exc).__name__})") from None
    if type(record) is not dict:
        raise InvalidRecord(f"a JSON {type(record).__name__}, not a record")
    if record.get("v") != VERSION:
        raise InvalidRecord(f"unknown record version {record.get('v')!r}")
    for name, kind in _FIELDS.items():
        if not isinstance(record.get(name), kind):
            raise InvalidRecord(f"field {name!r} missing or not {kind}")
    callback = record["callback"]
    if callback is not None and (not callback.isidentifier() or callback.startswith("_")):
        raise InvalidRecord(f"callback {callback[:50]!r} is not a spider method name")
    try:
        headers = decode_value(record["headers"])
        if not all(type(v) in (str, bytes) for v in headers.values()):
            raise InvalidRecord("header values must be text or bytes")
        meta = decode_value(record["meta"])
        for key, kind in _META_TYPES.items():
            if key in meta and type(meta[key]) is not kind:
                raise InvalidRecord(f"meta[{key!r}] is not {kind.__name__}")
        if not all(type(url) is str for url in meta.get("redirect_urls", ())):
            raise InvalidRecord("meta['redirect_urls'] holds something else than URLs")
        request = Request(
            record["url"],
            callback=callback,
            method=record["method"],
            headers=headers,
            body=base64.b64decode(record["body"], validate=True),
            meta=meta,
            cb_kwargs=decode_value(record["cb_kwargs"]),
            priority=record["priority"],
            dont_filter=record["dont_filter"],
        )
    except InvalidRecord:
        raise
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise InvalidRecord(f"{type(exc).__name__}: {exc}"[:200]) from None
    request.attempts = record["attempts"]
    return request
