"""What the parse pool's fork server imports before it forks the workers.

Flow position: outside the flow, before it starts. ``ParsePool`` hands ``preload_modules`` to
the fork server (``parse.py``), which imports them once; every worker forked from it then shares
those pages instead of holding a copy of its own. A module a worker imports after the fork is
private to it: lxml is about 5 MB a worker, BeautifulSoup another 5.

Three sources: the modules the spider's names come from; what every worker needs (the worker
board, ``response.text``); and what the spider's callbacks import when they run: the import
statements in the code reachable from the spider's methods and from the functions its instance
holds (``self.parse_page = helpers.parse``), through the functions of the spider's own code
they name, read from their compiled code (never run), with what the Response attributes they
use import on first use (``response.css``: parsel and lxml; ``response.soup``: BeautifulSoup).
Installed libraries and the framework are not followed: their lazy imports serve features a
spider may never use. A library imported only on a path no page takes costs its pages once, in
the fork server; one every worker uses costs them once instead of once per worker.

The callbacks' imports may never have been imported in this process and may fail in the fork
server; they travel in an environment variable to ``scraper.fork_server``, which imports each
on its own and skips one that fails (the worker that needs it fails there, as it would have).
"""

from __future__ import annotations

import dis
import os
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from types import CodeType, FunctionType, MethodType, ModuleType

from .spider import Spider

# Read by scraper.fork_server: the modules the spider's callbacks import, comma-separated.
CALLBACK_IMPORTS_ENV = "SCRAPER_FORK_SERVER_IMPORTS"

# What every worker imports on its first page: the worker board's shared memory and locks
# (unpickled in its initializer) and the body's decoding (``response.text``).
FRAMEWORK_MODULES = (
    "multiprocessing.sharedctypes",
    "multiprocessing.synchronize",
    "w3lib.encoding",
)

# What a Response attribute imports on first use. Not ``xpath``: lxml's elements have one too.
ATTRIBUTE_MODULES = {
    "css": ("parsel", "scraper.htmltree"),
    "selector": ("parsel", "scraper.htmltree"),
    "soup": ("bs4", "scraper.htmltree"),
}

# Functions read at most, a bound for a spider whose code names a great many functions.
MAX_FUNCTIONS = 500

_LIBRARY_DIRS = tuple(
    {str(Path(sysconfig.get_path(key)).resolve()) for key in ("stdlib", "purelib", "platlib")}
)
_FRAMEWORK_DIR = str(Path(__file__).resolve().parent)


def preload_modules(spider: Spider) -> list[str]:
    """The modules for the fork server to import, in order: the framework's parse module, what
    every worker needs, the modules the spider's names come from, and last
    ``scraper.fork_server`` (which imports the callbacks' imports, set here in the environment,
    and builds what the others marked ``warm_up``). The spider's own module only when it lies in
    a package: a spider file imported on its own has a private module name that no other
    process can import (its workers run the file; that is cheap once its imports are there)."""
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
    os.environ[CALLBACK_IMPORTS_ENV] = ",".join(sorted(callback_imports(spider)))
    return [*sorted(names), "scraper.fork_server"]  # last: it builds on the others


def callback_imports(spider: Spider) -> set[str]:
    """The modules the code reachable from ``spider``'s callbacks imports (``import a.b``: a.b;
    ``from a import b``: a, and a.b in case b is a submodule), and those the Response
    attributes it uses import. Relative imports are left out (the spider's modules are
    preloaded already when it lies in a package)."""
    todo = [*_spider_functions(spider)]
    read: set[CodeType] = set()
    found: set[str] = set()
    while todo and len(read) < MAX_FUNCTIONS:
        function = todo.pop()
        if function.__code__ in read or not _own_code(function.__code__):
            continue
        read.add(function.__code__)
        for code in _codes(function.__code__):
            found |= _imports(code)
            for name in code.co_names:
                found.update(ATTRIBUTE_MODULES.get(name, ()))
                named = function.__globals__.get(name)
                if isinstance(named, FunctionType):
                    todo.append(named)
    # The framework's modules a spider imports in its code serve the main process (the demo
    # site in start_requests), but for those of the Response attributes.
    attributes = {name for names in ATTRIBUTE_MODULES.values() for name in names}
    return {name for name in found if name in attributes or name.split(".")[0] != "scraper"}


def _spider_functions(spider: Spider) -> Iterator[FunctionType]:
    for cls in type(spider).__mro__:
        for value in vars(cls).values():
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if isinstance(value, FunctionType):
                yield value
    for value in vars(spider).values():
        if isinstance(value, MethodType):
            value = value.__func__
        if isinstance(value, FunctionType):
            yield value


def _own_code(code: CodeType) -> bool:
    """Whether ``code`` is the spider's own (not an installed library's, not the framework's)."""
    path = str(Path(code.co_filename).resolve())
    return not path.startswith((*_LIBRARY_DIRS, _FRAMEWORK_DIR))


def _codes(code: CodeType) -> Iterator[CodeType]:
    """``code`` and the code nested in it (inner functions, comprehensions, lambdas)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _codes(const)


def _imports(code: CodeType) -> set[str]:
    found: set[str] = set()
    level = module = None
    for instruction in dis.get_instructions(code):
        if instruction.opname == "IMPORT_NAME":
            module = instruction.argval if level == 0 else None
            if module:
                found.add(module)
        elif instruction.opname == "IMPORT_FROM" and module:
            found.add(f"{module}.{instruction.argval}")
        elif instruction.opname == "LOAD_CONST":  # the level comes two constants before
            level = instruction.argval if isinstance(instruction.argval, int) else level
    return found
