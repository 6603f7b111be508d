"""The Spider base class (Scrapy's API) and the loader that imports a spider from its file, or
finds it by name in a project (``project.py``).

The same spider module is imported in the main process (for its name, settings and start
requests) and once in every parse worker (for its callbacks), under the same module name so
objects defined in it pickle across the boundary.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import logging
import pkgutil
import re
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import ScraperError, SpiderLoadError
from .models import Request, Response
from .project import Project, import_root, module_name_in

if TYPE_CHECKING:
    from .crawler import Crawler

_NEXT_URL = re.compile(r",(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")


class Spider:
    """Subclass this: set ``name`` and ``start_urls`` and write callbacks.

    Callbacks receive a Response and yield items (dicts or dataclasses) and Requests. They run in
    the parse workers, so attributes they set stay in that worker; carry per-request state in
    ``meta`` or ``cb_kwargs``.
    """

    name: ClassVar[str] = ""
    start_urls: list[str] | tuple[str, ...] = ()
    allowed_domains: list[str] | tuple[str, ...] = ()
    custom_settings: ClassVar[dict[str, Any] | None] = None
    handle_httpstatus_list: ClassVar[list[int] | tuple[int, ...]] = ()

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        if name is not None:
            self.name = name  # type: ignore[misc]
        if not self.name:
            raise ValueError(f"{type(self).__name__} must have a name")
        # Scrapy sets -a arguments as attributes; comma lists for start_urls and allowed_domains
        # are a convenience (a string left as it is would be iterated letter by letter).
        for key, value in kwargs.items():
            if key == "start_urls" and isinstance(value, str):
                # Split only where the next URL begins (any scheme, any case: an ftp:// start
                # URL is reported, not glued to the one before): a comma inside a URL stays.
                value = [u.strip() for u in _NEXT_URL.split(value) if u.strip()]
            elif key == "allowed_domains" and isinstance(value, str):
                value = [d.strip() for d in value.split(",") if d.strip()]
            setattr(self, key, value)
        self.logger = logging.getLogger(self.name)
        self.settings: Any = None  # set by the engine before any callback runs
        # Set by the engine in the main process: values kept for the whole crawl, across
        # resumes and workers (store.CrawlState); None in the parse workers.
        self.crawl_state: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Spider:
        """Scrapy's constructor hook: override it to read ``crawler.settings`` or connect
        ``crawler.signals``; call this one to build the spider. Runs in the main process and
        once in each parse worker, with the worker's own crawler (see crawler.py)."""
        spider = cls(*args, **kwargs)
        spider.crawler = crawler
        spider.settings = crawler.settings
        crawler.spider = spider
        return spider

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        """Scrapy's hook for settings set in code (main process, before the crawl): override
        it and call ``settings.set(NAME, VALUE)``; this one applies ``custom_settings``."""
        settings.setdict(cls.custom_settings or {})

    def start_requests(self) -> Iterable[Request]:
        """Runs in the main process. Override to start from something else than start_urls."""
        for url in self.start_urls:
            yield Request(url, dont_filter=True)

    async def start(self) -> AsyncIterator[Request]:
        """Scrapy 2.13's form of ``start_requests()``, an async generator, which Scrapy's newer
        spiders override instead (runs in the main process; see ``iterate_start``)."""
        for request in self.start_requests():
            yield request

    def parse(self, response: Response) -> Iterable[Any]:
        raise NotImplementedError(f"{type(self).__name__}.parse callback is not defined")

    def closed(self, reason: str) -> None:
        """Called once in the main process when the crawl ends."""

    def log(self, message: str, level: int = logging.DEBUG) -> None:
        self.logger.log(level, message)


def module_name_for(path: Path) -> str:
    """A stable module name per spider file, the same in the main process and in workers."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    return f"_spider_{path.stem}_{digest}"


def import_spider_module(path: str | Path) -> ModuleType:
    spider_path = Path(path).resolve()
    if not spider_path.is_file():
        raise SpiderLoadError(f"spider file not found: {path}")
    root = import_root(spider_path)
    name = module_name_in(root, spider_path) or module_name_for(spider_path)
    if name in sys.modules:
        return sys.modules[name]
    try:
        if "." in name:  # inside a package: imported as part of it, so relative imports work
            return importlib.import_module(name)
        spec = importlib.util.spec_from_file_location(name, spider_path)
        if spec is None or spec.loader is None:
            raise SpiderLoadError(f"cannot import spider file {path}: not a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except ScraperError:  # a spider's own clear error (a missing extra, say) stays one line
        sys.modules.pop(name, None)
        raise
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise SpiderLoadError(
            f"syntax error in spider file {path}, line {exc.lineno}: {exc.msg}"
        ) from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        raise SpiderLoadError(
            f"error importing spider file {path}: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def find_spider_class(
    module: ModuleType, path: str | Path, name: str | None = None
) -> type[Spider]:
    """The Spider subclass defined in the module: the one called ``name`` if given, else the
    only one, or the one named like the file."""
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Spider)
        and obj.__module__ == module.__name__
        and obj.name  # a base class for the file's other spiders is not one to run
    ]
    if name is not None:
        found = [cls for cls in found if cls.name == name]
        if len(found) != 1:
            raise SpiderLoadError(f"no spider named {name!r} in {path}")
    if not found:
        raise SpiderLoadError(f"no Spider subclass defined in {path}")
    if len(found) > 1:
        stem = Path(path).stem
        named = [cls for cls in found if cls.name == stem]
        if len(named) != 1:
            names = ", ".join(sorted(cls.name for cls in found))
            raise SpiderLoadError(
                f"{path} defines several spiders ({names}): run one by its name "
                f"(crawl NAME in its project), or name one {stem!r}"
            )
        return named[0]
    return found[0]


def load_spider_class(path: str | Path, name: str | None = None) -> type[Spider]:
    return find_spider_class(import_spider_module(path), path, name)


def project_spider_file(project: Project, name: str) -> Path:
    """The file of the spider called ``name`` in the project's SPIDER_MODULES."""
    modules = project.settings.get("SPIDER_MODULES") or []
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
    return project_spider_file(project, str(target)), str(target)


def iterate_start(spider: Spider) -> Iterator[Any]:
    """What the spider starts from: its ``start()`` if it overrides it, else its
    ``start_requests()``. ``start()`` is driven to its end on an event loop of its own, one
    request at a time, so the crawl begins as the first requests come."""
    if type(spider).start is Spider.start:
        yield from spider.start_requests()
        return
    import asyncio  # here: every parse worker imports this module, and none needs asyncio

    agen = spider.start()
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(agen.aclose())
        loop.close()


def iterate_callback_output(output: Any) -> Iterator[Any]:
    """Callbacks may return None, one object, or an iterable of items and requests; an
    ``async def`` callback's coroutine or async generator is run to its end here."""
    if output is None:
        return iter(())
    if inspect.iscoroutine(output) or inspect.isasyncgen(output):
        return iterate_callback_output(_run_async(output))
    if isinstance(output, dict | Request | str | bytes) or not isinstance(output, Iterable):
        return iter((output,))
    return iter(output)


def _run_async(output: Any) -> Any:
    import asyncio  # here: most spiders never need it (see iterate_start)

    async def drain() -> list[Any]:
        return [obj async for obj in output]

    return asyncio.run(output if inspect.iscoroutine(output) else drain())
