"""A Scrapy project as input: its root on ``sys.path``, its settings module, its spiders by
name (``crawl NAME`` as ``scrapy crawl NAME``).

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
import inspect
import logging
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import SpiderLoadError

log = logging.getLogger("scraper.project")

PROJECT_FILES = ("scrapy.cfg", "scrapy-like.cfg")


@dataclass(slots=True)
class Project:
    root: Path
    settings_module: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # its upper-case names

    def spider_file(self, name: str) -> Path:
        """The file of the spider called ``name`` in the project's SPIDER_MODULES."""
        modules = self.settings.get("SPIDER_MODULES") or []
        from .spider import Spider  # the spider module imports this one

        for module_name in modules:
            for module in _walk(module_name):
                for obj in vars(module).values():
                    if (
                        inspect.isclass(obj)
                        and issubclass(obj, Spider)
                        and obj.__module__ == module.__name__
                        and getattr(obj, "name", None) == name
                    ):
                        return Path(inspect.getfile(obj)).resolve()
        where = ", ".join(modules) or "(no SPIDER_MODULES in the project settings)"
        raise SpiderLoadError(f"no spider named {name!r} in {where}")


def _walk(module_name: str) -> list[ModuleType]:
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise SpiderLoadError(
            f"cannot import spider module {module_name}: {type(exc).__name__}: {exc}"
        ) from exc
    modules = [module]
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), f"{module_name}."):
        modules += _walk(info.name) if info.ispkg else [importlib.import_module(info.name)]
    return modules


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


def resolve_target(target: str | Path, project: Project | None) -> tuple[Path, str | None]:
    """The spider file and spider name for ``crawl TARGET``: a file path as it is, or inside a
    project, a spider's name (as ``scrapy crawl NAME``)."""
    path = Path(target)
    looks_like_name = path.suffix != ".py" and len(path.parts) == 1
    if path.is_file() or not looks_like_name:
        return path, None
    if project is None:
        raise SpiderLoadError(
            f"spider file not found: {target} (a spider name needs a project: scrapy.cfg or "
            "scrapy-like.cfg with [settings] default = PROJECT.settings)"
        )
    return project.spider_file(str(target)), str(target)


def split_settings(project: Project | None) -> dict[str, Any]:
    """The project's settings.py values for ``build_settings``: ours and Scrapy's names (the
    rest, the project's own, stay readable through ``crawler.settings`` only)."""
    from .scrapy_settings import SCRAPY_ONLY
    from .settings import Settings

    if project is None:
        return {}
    known = set(Settings.names()) | SCRAPY_ONLY
    return {k: v for k, v in project.settings.items() if k in known}
