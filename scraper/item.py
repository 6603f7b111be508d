"""Items as classes, as in Scrapy: ``class Product(Item): name = Field()``.

Flow position: callbacks (in the parse workers) build items; they cross to the main process
pickled, go through the pipelines as the objects the spider made, and become dicts only in the
exporter (``as_dict``). Every item type ``itemadapter`` knows (dicts, our ``Item``, dataclasses,
attrs and pydantic classes) takes that path unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, KeysView, MutableMapping
from types import MappingProxyType
from typing import Any, ClassVar


class Field(dict[str, Any]):
    """A declared field's metadata (serializer, input/output processors...)."""


class ItemMeta(type(MutableMapping)):  # type: ignore[misc]
    """Collects the class's ``Field`` attributes, inherited ones included, into ``fields``."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> ItemMeta:
        fields: dict[str, Field] = {}
        for base in reversed(bases):
            fields.update(getattr(base, "fields", {}))
        declared = {key: value for key, value in namespace.items() if isinstance(value, Field)}
        fields.update(declared)
        body = {key: value for key, value in namespace.items() if key not in declared}
        cls = super().__new__(mcs, name, bases, body)
        cls.fields = fields
        return cls


class Item(MutableMapping[str, Any], metaclass=ItemMeta):
    """A dict whose keys must be declared fields: a misspelt field name is a KeyError."""

    fields: ClassVar[dict[str, Field]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._values: dict[str, Any] = {}
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self.fields:
            raise KeyError(f"{type(self).__name__} does not support field: {key}")
        self._values[key] = value

    def __delitem__(self, key: str) -> None:
        del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        if name in type(self).fields:
            raise AttributeError(f"use item[{name!r}] to get field value")
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            raise AttributeError(f"use item[{name!r}] = {value!r} to set field value")
        super().__setattr__(name, value)

    def __getstate__(self) -> dict[str, Any]:
        return self._values

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setattr__("_values", state)

    def copy(self) -> Item:
        return type(self)(self)

    def deepcopy(self) -> Item:
        import copy

        return copy.deepcopy(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._values!r})"


@functools.cache
def item_adapter() -> Any:
    """itemadapter's ``ItemAdapter``, taught our Item (as it knows Scrapy's). Imported on first
    use: itemadapter imports Scrapy when it is installed, a fifth of a second for every process
    that starts, and plain dict items never need it."""
    from itemadapter import ItemAdapter
    from itemadapter.adapter import AdapterInterface

    class _ItemAdapter(AdapterInterface):
        @classmethod
        def is_item_class(cls, item_class: type) -> bool:
            return issubclass(item_class, Item)

        @classmethod
        def get_field_meta_from_class(cls, item_class: type, field_name: str) -> Any:
            return MappingProxyType(item_class.fields[field_name])  # type: ignore[attr-defined]

        @classmethod
        def get_field_names_from_class(cls, item_class: type) -> list[str]:
            return list(item_class.fields)  # type: ignore[attr-defined]

        def field_names(self) -> KeysView[str]:
            return KeysView(self.item.fields)

        def __getitem__(self, name: str) -> Any:
            return self.item[name]

        def __setitem__(self, name: str, value: Any) -> None:
            self.item[name] = value

        def __delitem__(self, name: str) -> None:
            del self.item[name]

        def __iter__(self) -> Iterator[str]:
            return iter(self.item)

        def __len__(self) -> int:
            return len(self.item)

    ItemAdapter.ADAPTER_CLASSES.appendleft(_ItemAdapter)
    return ItemAdapter


def is_item(obj: Any) -> bool:
    return isinstance(obj, dict) or item_adapter().is_item(obj)


def as_dict(item: Any) -> dict[str, Any]:
    """The item as the exporter writes it (a dict is passed through as it is)."""
    return item if type(item) is dict else item_adapter()(item).asdict()
