"""The spider developer's commands: ``crawl shell``, ``crawl startproject``, ``crawl genspider``
and ``crawl check``.

Flow position: outside the crawl's flow. Each fetches single pages with the crawl's own settings,
client, User-Agent and HTTP cache (``pages.py``), and runs callbacks in this process.
``cli.main`` hands ``crawl COMMAND ...`` here when the first argument names one of them.
"""

from __future__ import annotations

from collections.abc import Callable

COMMANDS = ("shell", "startproject", "genspider", "check")


def command(name: str) -> Callable[[list[str]], int]:
    """The ``main(argv) -> exit status`` of a command; imported only when it runs."""
    if name == "shell":
        from .shell import main
    elif name == "check":
        from .check import main
    else:
        from .project import genspider_main, startproject_main

        main = startproject_main if name == "startproject" else genspider_main
    return main
