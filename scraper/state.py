"""Which spiders keep state on ``self`` across callbacks, and so must run in one process.

Flow position: decided once in the main process before the crawl starts (``build.build_crawl``).
A callback that does ``self.page += 1`` (or ``self.seen.add(url)``) and builds the next request
from it counts on every callback seeing the same spider, as Scrapy's single process gives it.
Across parse workers each worker would count on its own, and the output would differ from run
to run without any error. Such a spider's callbacks therefore all run in the main process
(``PARSE_WORKERS = 0``), said once at start; ``stateless = True`` on the spider opts back
into the worker pool, ``stateless = False`` opts in without the check. As a safety net, each
worker reports the attributes a callback rebound (parse.py), and the engine warns once.

The check reads the source of the spider's own methods (not ``__init__`` and the other methods
that run once in the main process, nor helpers only they call): an assignment to ``self.X``
(``=``, ``+=``, ``self.X[k] =``, ``setattr(self, ...)``) or a mutating call on it
(``self.X.append(...)``, ``.add``...).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import logging
import textwrap
from typing import Any

from .settings import Settings

log = logging.getLogger("scraper.state")

# Methods that run once, in the main process, where state they set is where Scrapy has it.
_ONCE = frozenset(
    {"__init__", "from_crawler", "start_requests", "start", "closed", "update_settings"}
)
_MUTATORS = frozenset(
    {
        "append", "extend", "insert", "add", "update", "pop", "popitem", "remove", "discard",
        "clear", "setdefault", "appendleft", "popleft", "__setitem__",
    }
)  # fmt: skip


def _is_self_attr(node: ast.AST) -> bool:
    """``self.X``, or something inside it (``self.X[k]``, ``self.X.y``)."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return node.value.id == "self"
        node = node.value
    return False


def _writes(function: ast.AST) -> bool:
    for node in ast.walk(function):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "setattr" and node.args:
                targets = [ast.Attribute(value=node.args[0], attr="x")]
            elif isinstance(func, ast.Attribute) and func.attr in _MUTATORS:
                targets = [func.value]
        if any(_is_self_attr(t) for t in targets):
            return True
    return False


def _self_references(function: ast.AST) -> set[str]:
    """Names ``X`` of every ``self.X`` the function mentions (called, or passed as a callback)."""
    return {
        node.attr
        for node in ast.walk(function)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    }


def _run_once(methods: dict[str, ast.AST]) -> set[str]:
    """The methods that only ever run in the main process before or after the crawl: those in
    ``_ONCE``, and the helpers mentioned only by them (``start_requests`` calling
    ``self._serve_demo()``). Any other method may be a callback, by reference or by name."""
    refs = {name: _self_references(tree) for name, tree in methods.items()}
    once = set(_ONCE) & set(methods)
    while True:
        mentioned = set().union(*(refs[name] for name in once)) & set(methods)
        helpers = {
            name
            for name in mentioned - once
            if all(name not in refs[other] for other in methods if other not in once)
        }
        if not helpers:
            return once
        once |= helpers


def stateful_methods(spider_cls: type) -> list[str]:
    """Names of the spider's methods (its own classes', not the framework's) that change its
    state while the crawl runs; empty if it declares ``stateless = True`` (``stateless =
    False`` declares state).
    """
    declared = getattr(spider_cls, "stateless", None)
    if declared is not None:  # the spider's own word, either way
        return [] if declared else ["declared stateless = False"]
    methods: dict[str, ast.AST] = {}
    for cls in spider_cls.__mro__:
        if cls.__module__.split(".")[0] == "scraper" or cls is object:
            continue
        for name, member in vars(cls).items():
            if name in methods or not inspect.isfunction(member):
                continue
            try:
                methods[name] = ast.parse(textwrap.dedent(inspect.getsource(member)))
            except (OSError, TypeError, SyntaxError):
                continue
    once = _run_once(methods)
    return [name for name, tree in methods.items() if name not in once and _writes(tree)]


def spider_attribute_settings(spider: Any, settings: Settings) -> Settings:
    """The settings a spider's own attributes change, as in Scrapy: ``download_delay`` sets its
    hosts' delay; a spider that keeps state on ``self`` runs its callbacks in the main process
    (said once, here)."""
    delay = getattr(spider, "download_delay", None)
    if isinstance(delay, int | float) and delay != settings.DOWNLOAD_DELAY:
        settings = dataclasses.replace(settings, DOWNLOAD_DELAY=float(delay))
    writers = stateful_methods(type(spider))
    if writers and settings.PARSE_WORKERS:
        log.info(
            "spider %s keeps state on self (%s): its callbacks run in the main process, as in "
            "Scrapy (set stateless = True on the spider to use the parse workers)",
            spider.name,
            ", ".join(writers),
        )
        settings = dataclasses.replace(settings, PARSE_WORKERS=0)
    return settings
