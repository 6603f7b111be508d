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
``cb_kwargs`` values are JSON types plus the few in ``STORABLE``; ``Request`` refuses anything
else when it is made (``check_storable``), so a bad value fails in the spider's code, not at
resume. Values JSON cannot say are tagged objects with one ``$``-key (``{"$bytes": "..."}``); a
dict of the spider's own whose only key starts with ``$`` is wrapped in ``{"$dict": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from .item import Item, as_dict

if TYPE_CHECKING:
    from .models import Request

VERSION = 1
STORABLE = (
    "str, int, float, bool, None, list, tuple, dict (str keys), bytes, datetime, date, and "
    "items (Item, dataclass, attrs) holding those"
)

_SCALARS = frozenset({str, int, float, bool, type(None)})


class InvalidRecord(ValueError):
    """A stored record that cannot be turned back into a Request (it is skipped, not run)."""


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        if not all(type(key) is str for key in value):
            raise TypeError("a dict key that is not str cannot be stored")
        encoded = {key: _encode(item) for key, item in value.items()}
        if len(value) == 1 and next(iter(value)).startswith("$"):
            return {"$dict": encoded}
        return encoded
    if kind is list:
        return [_encode(item) for item in value]
    if kind is tuple:
        return {"$tuple": [_encode(item) for item in value]}
    if kind is bytes:
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if kind is datetime:  # before date: a datetime is a date too
        return {"$datetime": value.isoformat()}
    if kind is date:
        return {"$date": value.isoformat()}
    if isinstance(value, str | int | float):  # str and int subclasses (enums): their value
        return value
    if _is_item(value):
        return {"$item": {"class": _class_name(kind), "fields": _encode(as_dict(value))}}
    raise TypeError(f"a {kind.__name__} cannot be stored")


def _is_item(value: Any) -> bool:
    """An item (Scrapy's idiom ``meta={"item": item}``): a dict subclass, an ``Item``, a
    dataclass, attrs or pydantic object."""
    from .item import is_item  # itemadapter: imported only when such a value turns up

    return is_item(value)


def _class_name(kind: type) -> str:
    return f"{kind.__module__}:{kind.__qualname__}"


def _item(raw: Any) -> Any:
    """An ``Item`` back as its class when that class is already loaded (the spider's module
    has been imported by now) and builds itself with ``Item``'s own constructor, which only
    sets declared fields; any other item comes back as a dict of its fields. Nothing is
    imported and no constructor of the spider's runs for a record: a record names a class, it
    cannot make code load or run."""
    record = _typed(raw, dict)
    fields = _decode(_typed(record.get("fields"), dict))
    module, _, qualname = _typed(record.get("class"), str).partition(":")
    cls: Any = sys.modules.get(module)
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
    if not (isinstance(cls, type) and issubclass(cls, Item) and cls.__init__ is Item.__init__):
        return fields
    try:
        return cls(fields)
    except KeyError:  # a field the class no longer declares: the data still counts
        return fields


_DECODERS = {
    "$dict": lambda raw: {key: _decode(item) for key, item in _typed(raw, dict).items()},
    "$tuple": lambda raw: tuple(_decode(item) for item in _typed(raw, list)),
    "$bytes": lambda raw: base64.b64decode(_typed(raw, str), validate=True),
    "$datetime": lambda raw: datetime.fromisoformat(_typed(raw, str)),
    "$date": lambda raw: date.fromisoformat(_typed(raw, str)),
    "$item": _item,
}


def _typed(raw: Any, kind: type) -> Any:
    if type(raw) is not kind:
        raise InvalidRecord(f"expected {kind.__name__}, found {type(raw).__name__}")
    return raw


def _decode(value: Any) -> Any:
    if type(value) is list:
        return [_decode(item) for item in value]
    if type(value) is not dict:
        return value
    if len(value) == 1:
        tag, raw = next(iter(value.items()))
        if tag.startswith("$"):
            decoder = _DECODERS.get(tag)
            if decoder is None:
                raise InvalidRecord(f"unknown tag {tag!r}")
            return decoder(raw)
    return {key: _decode(item) for key, item in value.items()}


def unstorable(value: Any) -> str | None:
    """Where in ``value`` (a meta or cb_kwargs dict) a value a record cannot hold sits, as
    ``['key'] is a TYPE``; None if every value can be stored. On the path of every Request
    made, so the common values cost one set lookup each."""
    kind = type(value)
    if kind in _SCALARS or kind is bytes or kind is datetime or kind is date:
        return None
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return f" has a {type(key).__name__} key {key!r} (keys must be str)"
            if type(item) not in _SCALARS:
                inner = unstorable(item)
                if inner is not None:
                    return f"[{key!r}]{inner}"
        return None
    if kind is list or kind is tuple:
        for position, item in enumerate(value):
            if type(item) not in _SCALARS:
                inner = unstorable(item)
                if inner is not None:
                    return f"[{position}]{inner}"
        return None
    if isinstance(value, str | int | float):
        return None
    if _is_item(value):
        return unstorable(dict(as_dict(value)))
    return f" is a {kind.__name__}"


def encode_request(request: Request) -> bytes:
    """The request as one record (UTF-8 JSON). TypeError, saying where, for a value a record
    cannot hold: only a meta changed after the Request was made can have one."""
    try:
        record = {
            "v": VERSION,
            "url": request.url,
            "method": request.method,
            "headers": _encode(request.headers),
            "body": base64.b64encode(request.body).decode("ascii"),
            "callback": request.callback,
            "meta": _encode(request.meta),
            "cb_kwargs": _encode(request.cb_kwargs),
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
    # Imported here: models imports this module, for the check every Request makes.
    from .models import Request

    try:
        headers = _decode(record["headers"])
        if not all(type(v) in (str, bytes) for v in headers.values()):
            raise InvalidRecord("header values must be text or bytes")
        meta = _decode(record["meta"])
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
            cb_kwargs=_decode(record["cb_kwargs"]),
            priority=record["priority"],
            dont_filter=record["dont_filter"],
        )
    except InvalidRecord:
        raise
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise InvalidRecord(f"{type(exc).__name__}: {exc}"[:200]) from None
    request.attempts = record["attempts"]
    return request
