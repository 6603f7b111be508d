"""What the parse pool's fork server imports before it forks the workers.

Flow position: outside the flow, before it starts. ``ParsePool`` hands ``preload_modules`` to
the fork server (``parse.py``), which imports them once; every worker forked from it then shares
those pages instead of holding a copy of its own. A module a worker imports after the fork is
private to it: lxml alone is about 5 MB a worker, BeautifulSoup another 5.

Three sources: the modules the spider's names come from; the modules every worker needs
(``response.text``, the worker board); and what the spider's own code imports, read from its
source, not run: import statements anywhere, inside callbacks too (``import lxml.html``), and
the Response attributes it names that import a library on first use (``response.css``: parsel
and lxml; ``response.soup``: BeautifulSoup). A library named but never used costs its pages
once, in the fork server; one used costs them once instead of once per worker. Those last may
never have been imported in this process and may fail in the fork server; they travel in an
environment variable to ``scraper.fork_server``, which imports each one on its own and skips
one that fails (the worker that needs it fails there, as it would have anyway).
"""

from __future__ import annotations

import ast
import os
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

from .spider import Spider

# Read by scraper.fork_server: the spider's imports found in its source, comma-separated.
SOURCE_IMPORTS_ENV = "SCRAPER_FORK_SERVER_IMPORTS"

# What every worker imports on its first page: the worker board's shared memory and locks
# (unpickled in the initializer) and the body's decoding (``response.text``).
FRAMEWORK_MODULES = (
    "multiprocessing.sharedctypes",
    "multiprocessing.synchronize",
    "w3lib.encoding",
)
# What a Response attribute imports on first use, preloaded when the spider's source names it.
ATTRIBUTE_MODULES = {
    "css": ("parsel", "scraper.htmltree"),
    "xpath": ("parsel", "scraper.htmltree"),
    "selector": ("parsel", "scraper.htmltree"),
    "soup": ("bs4", "scraper.htmltree"),
}

# Installed code (the standard library, site-packages) and the framework are not read: their
# lazy imports serve features a spider may never use.
_LIBRARY_DIRS = tuple(
    {str(Path(sysconfig.get_path(key)).resolve()) for key in ("stdlib", "purelib", "platlib")}
)


def preload_modules(spider: Spider) -> list[str]:
    """The modules for the fork server to import, in order: the framework's parse module and
    what every callback needs, the modules the spider's names come from, and last
    ``scraper.fork_server`` (it imports the spider's source imports and builds what the others
    marked ``warm_up``). The spider's own module only when it lies in a package: a spider file
    imported on its own has a private module name that no other process can import (its workers
    run the file; that is cheap once its imports are there)."""
    own = type(spider).__module__
    names = {"scraper.parse", *FRAMEWORK_MODULES}
    if "." in own:
        names.add(own)
    for key, value in vars(sys.modules[own]).items():
        if key.startswith("__"):  # the module's own machinery (__spec__, __builtins__)
            continue
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", "")
        if isinstance(name, str) and name in sys.modules and name not in ("__main__", own):
            names.add(name)
    os.environ[SOURCE_IMPORTS_ENV] = ",".join(sorted(source_imports(sys.modules[own])))
    return [*sorted(names), "scraper.fork_server"]  # last: it builds on the others


def source_imports(module: ModuleType) -> set[str]:
    """Every module named by an import statement in ``module``'s source, at any depth, and in
    the source of the spider's own modules it imports (not installed libraries, not the
    framework), with what the Response attributes it names import (``.css``: parsel, lxml).
    ``from a import b`` names both ``a`` and ``a.b`` (``b`` may be a submodule)."""
    found: set[str] = set()
    read: set[str] = set()
    todo = [module.__name__]
    while todo:
        name = todo.pop()
        path = _own_source(name)
        if name in read or path is None:
            continue
        read.add(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        try:
            tree = ast.parse(path.read_bytes())
        except (OSError, SyntaxError, ValueError):
            continue
        for node in _imports(tree):
            new = _named(node, package)
            found |= new
            todo.extend(new)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                found.update(ATTRIBUTE_MODULES.get(node.attr, ()))
    # The framework's own modules a spider imports lazily serve the main process (the demo
    # site), but for those its Response attributes need.
    attributes = {name for names in ATTRIBUTE_MODULES.values() for name in names}
    return {
        name
        for name in found - {module.__name__}
        if name in attributes or name.split(".")[0] not in ("__future__", "scraper")
    }


def _own_source(name: str) -> Path | None:
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if module is None or not file or not file.endswith(".py") or name.split(".")[0] == "scraper":
        return None
    path = Path(file).resolve()
    return None if str(path).startswith(_LIBRARY_DIRS) else path


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of ``tree``, but those under ``if TYPE_CHECKING:``."""
    out: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return out


def _named(node: ast.Import | ast.ImportFrom, package: str) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:  # relative: from the importing module's package
        parts = package.split(".") if package else []
        if node.level - 1 > len(parts) or not package:
            return set()
        base = ".".join([*parts[: len(parts) - (node.level - 1)], *([base] if base else [])])
    if not base:
        return set()
    return {base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")}
