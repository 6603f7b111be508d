"""A Scrapy project as input: its root on ``sys.path``, its settings module and the modules
its spiders are in (``spider.py`` finds a spider there by name: ``crawl NAME`` as ``scrapy
crawl NAME``).

Flow position: outside the flow, before it starts. The main process and every parse worker call
``import_root`` before they import a spider file, so ``from myproject.items import Product`` and
relative imports in ``myproject/spiders/x.py`` work in both (a worker is a fresh process: it imports
the spider by its file path, and find its package the same way).

The project root is the folder holding the nearest ``scrapy.cfg`` or ``scrapy-like.cfg`` above
the spider file (or above the working directory); its ``[settings] default = pkg.settings``
names the settings module, as Scrapy reads it.
"""

from __future__ import annotations

import configparser
import importlib
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpiderLoadError

log = logging.getLogger("scraper.project")

PROJECT_FILES = ("scrapy.cfg", "scrapy-like.cfg")


@dataclass(slots=True)
class Project:
    root: Path
    settings_module: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # its upper-case names


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding a project file."""
    for folder in (start, *start.parents):
        if any((folder / name).is_file() for name in PROJECT_FILES):
            return folder
    return None


def import_root(spider_path: Path) -> Path:
    """Put the spider's project root (else the working directory) first on ``sys.path``, as
    Scrapy does for its project folder; returns it."""
    root = find_root(spider_path.parent) or Path.cwd().resolve()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return root


def module_name_in(root: Path, spider_path: Path) -> str | None:
    """``pkg.spiders.x`` for a spider file inside a package under ``root`` (so relative imports
    work), else None (the file is imported on its own)."""
    if not (spider_path.parent / "__init__.py").is_file() or not spider_path.is_relative_to(root):
        return None
    parts = spider_path.relative_to(root).with_suffix("").parts
    return ".".join(parts) if all(p.isidentifier() for p in parts) else None


def load_project(start: Path | None = None) -> Project | None:
    """The project around ``start`` (default: the working directory), its settings read."""
    root = find_root((start or Path.cwd()).resolve())
    if root is None:
        return None
    project = Project(root)
    for name in PROJECT_FILES:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(root / name, encoding="utf-8")
        except configparser.Error:
            continue  # scrapy-like.cfg's own reader reports its errors
        if parser.has_option("settings", "default"):
            project.settings_module = parser.get("settings", "default")
            break
    if project.settings_module:
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        try:
            module = importlib.import_module(project.settings_module)
        except Exception as exc:
            raise SpiderLoadError(
                f"cannot import project settings {project.settings_module}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        project.settings = {k: v for k, v in vars(module).items() if k.isupper()}
    return project


def split_settings(project: Project | None) -> dict[str, Any]:
    """The project's settings.py values for ``build_settings``: ours and Scrapy's names (the
    rest, the project's own, stay readable through ``crawler.settings`` only)."""
    from .scrapy_settings import SCRAPY_ONLY
    from .settings import Settings

    if project is None:
        return {}
    known = set(Settings.names()) | SCRAPY_ONLY
    return {k: v for k, v in project.settings.items() if k in known}
