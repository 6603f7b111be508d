"""Values a stored record can hold, and their JSON form.

Flow position: under ``models.py`` and ``records.py``. Every Request checks its ``meta`` and
``cb_kwargs`` here when it is made (``unstorable``), so a value no store could keep fails in the
spider's code; ``records.py`` writes and reads those values with ``encode_value`` and
``decode_value`` when it stores a request.

The values: JSON types plus the few in ``STORABLE``. Values JSON cannot say are tagged objects
with one ``$``-key (``{"$bytes": "..."}``); a dict of the spider's own whose only key starts with
``$`` is wrapped in ``{"$dict": ...}``. Decoding is parsing data: an item comes back as its class
only when that class is loaded already and builds itself with ``Item``'s constructor, and
anything unexpected is an ``InvalidRecord``.
"""

from __future__ import annotations

import base64
import sys
from datetime import date, datetime
from typing import Any

from .item import Item, as_dict

STORABLE = (
    "str, int, float, bool, None, list, tuple, dict (str keys), bytes, datetime, date, and "
    "items (Item, dataclass, attrs) holding those"
)

_SCALARS = frozenset({str, int, float, bool, type(None)})


class InvalidRecord(ValueError):
    """A stored record that cannot be turned back into a Request (it is skipped, not run)."""


def encode_value(value: Any) -> Any:
    """``value`` as JSON types, the others tagged; TypeError for a value a record cannot hold."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        if not all(type(key) is str for key in value):
            raise TypeError("a dict key that is not str cannot be stored")
        encoded = {key: encode_value(item) for key, item in value.items()}
        if len(value) == 1 and next(iter(value)).startswith("$"):
            return {"$dict": encoded}
        return encoded
    if kind is list:
        return [encode_value(item) for item in value]
    if kind is tuple:
        return {"$tuple": [encode_value(item) for item in value]}
    if kind is bytes:
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if kind is datetime:  # before date: a datetime is a date too
        return {"$datetime": value.isoformat()}
    if kind is date:
        return {"$date": value.isoformat()}
    if isinstance(value, str | int | float):  # str and int subclasses (enums): their value
        return value
    if _is_item(value):
        return {"$item": {"class": _class_name(kind), "fields": encode_value(as_dict(value))}}
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
    fields = decode_value(_typed(record.get("fields"), dict))
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
    "$dict": lambda raw: {key: decode_value(item) for key, item in _typed(raw, dict).items()},
    "$tuple": lambda raw: tuple(decode_value(item) for item in _typed(raw, list)),
    "$bytes": lambda raw: base64.b64decode(_typed(raw, str), validate=True),
    "$datetime": lambda raw: datetime.fromisoformat(_typed(raw, str)),
    "$date": lambda raw: date.fromisoformat(_typed(raw, str)),
    "$item": _item,
}


def _typed(raw: Any, kind: type) -> Any:
    if type(raw) is not kind:
        raise InvalidRecord(f"expected {kind.__name__}, found {type(raw).__name__}")
    return raw


def decode_value(value: Any) -> Any:
    """What ``encode_value`` was given; InvalidRecord for anything it cannot have written."""
    if type(value) is list:
        return [decode_value(item) for item in value]
    if type(value) is not dict:
        return value
    if len(value) == 1:
        tag, raw = next(iter(value.items()))
        if tag.startswith("$"):
            decoder = _DECODERS.get(tag)
            if decoder is None:
                raise InvalidRecord(f"unknown tag {tag!r}")
            return decoder(raw)
    return {key: decode_value(item) for key, item in value.items()}


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
