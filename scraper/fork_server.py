"""The last module the parse pool's fork server imports, and no other process.

Flow position: outside the flow, before it starts (see ``preload.preload_modules``). By now the
fork server holds the framework and the spider's modules; this imports what the spider's
callbacks import when they run (``preload.CALLBACK_IMPORTS_ENV``), builds what the modules
marked with ``warm.warm_up`` and freezes the garbage collector's view of it all: a collection in
a worker writes to every object it visits, which would copy each page the worker shares with
the others.
"""

import contextlib
import gc
import importlib
import os

from .preload import CALLBACK_IMPORTS_ENV
from .warm import warm_all

for _name in filter(None, os.environ.get(CALLBACK_IMPORTS_ENV, "").split(",")):
    # One that fails here (not installed, or ``from a import b`` where b is no submodule)
    # fails again in the worker that needs it, and is reported there.
    with contextlib.suppress(Exception):
        importlib.import_module(_name)
warm_all()
gc.freeze()
