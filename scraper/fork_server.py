"""The last module the parse pool's fork server imports, and no other process.

Flow position: outside the flow, before it starts (see ``parse.preload_modules``). By now the
fork server holds the framework and the spider's modules; this builds what they marked with
``warm.warm_up`` and freezes the garbage collector's view of it all: a collection in a worker
writes to every object it visits, which would copy each page the worker shares with the
others.
"""

import gc

from .warm import warm_all

warm_all()
gc.freeze()
