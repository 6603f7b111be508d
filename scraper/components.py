"""Components named in settings with an order number: ``ITEM_PIPELINES``,
``DOWNLOADER_MIDDLEWARES`` and ``SPIDER_MIDDLEWARES``.

Flow position: before the flow starts (the engine, and each parse worker for its spider
middlewares). As in Scrapy, a mapping names each component by dotted path (importable from the
project root) or by the class itself (in a spider's ``custom_settings``), with an order number;
``None`` as the number turns an entry off. A component is built by ``from_crawler(crawler)``
if its class has one, else ``from_settings(settings)``, else its plain constructor; raising
``NotConfigured`` there turns it off.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from .errors import SettingsError
from .exceptions import NotConfigured

ComponentRef = str | type


def component_path(ref: ComponentRef) -> str:
    """The dotted path of ``ref``: what a parse worker imports it by (a class of the spider's
    own file too: the worker imports that file under the same module name first)."""
    return ref if isinstance(ref, str) else f"{ref.__module__}.{ref.__qualname__}"


def load_component(ref: ComponentRef, setting: str) -> type:
    if isinstance(ref, type):
        return ref
    module_name, _, attr = ref.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SettingsError(f"{setting}: cannot import {ref!r}: {exc}") from exc
    if not isinstance(cls, type):
        raise SettingsError(f"{setting}: {ref!r} is not a class")
    return cls


def build_component(cls: type, settings: Any, crawler: Any) -> Any:
    """As Scrapy: ``from_crawler(crawler)`` if the class has it, else ``from_settings``, else
    the class called with no arguments. Raises NotConfigured if the component turns itself
    off."""
    if crawler is not None and callable(getattr(cls, "from_crawler", None)):
        return cls.from_crawler(crawler)
    factory = getattr(cls, "from_settings", None)
    return factory(crawler.settings if crawler else settings) if callable(factory) else cls()


def build_components(
    mapping: Mapping[ComponentRef, int | None], setting: str, settings: Any, crawler: Any
) -> list[Any]:
    """The enabled components of ``mapping``, built, lowest order number first."""
    enabled = sorted(
        ((ref, order) for ref, order in mapping.items() if order is not None),
        key=lambda pair: pair[1],
    )
    built = []
    for ref, _order in enabled:
        try:
            built.append(build_component(load_component(ref, setting), settings, crawler))
        except NotConfigured:  # the component turned itself off, as Scrapy allows
            continue
    return built
