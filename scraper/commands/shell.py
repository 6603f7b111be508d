"""``crawl shell [URL|FILE] [-c CODE]``: try selectors on a live page without writing a spider.

Flow position: outside the crawl. The page is fetched as a crawl would fetch it (``pages.py``:
settings, User-Agent, HTTP cache) and the shell opens with ``response``, ``request``,
``fetch(url_or_request)``, ``view(response)``, ``settings`` and ``Request`` ready; IPython when
it is installed, Python's own REPL otherwise. ``-c CODE`` runs CODE instead and prints the value
of an expression (scripts and tests use that).
"""

from __future__ import annotations

import argparse
import code
import os
import sys
import tempfile
import webbrowser
from typing import Any

from ..errors import FetchError, ScraperError
from ..models import Request, Response
from .arguments import key_value
from .pages import PageFetcher, load_settings


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crawl shell", description="Fetch a page and open a Python shell on it."
    )
    parser.add_argument("target", nargs="?", metavar="URL|FILE", help="page to fetch first")
    parser.add_argument("-c", dest="code", metavar="CODE", help="run CODE, print its value, exit")
    parser.add_argument(
        "-s", dest="settings", action="append", default=[], type=key_value, metavar="NAME=VALUE"
    )
    return parser


class Shell:
    """The shell's namespace and its two helpers."""

    def __init__(self, fetcher: PageFetcher) -> None:
        self.fetcher = fetcher
        self.namespace: dict[str, Any] = {
            "fetch": self.fetch,
            "view": view,
            "settings": fetcher.settings,
            "Request": Request,
            "response": None,
            "request": None,
        }

    def fetch(self, target: str | Request) -> Response:
        """Fetch a URL, a Request or a file; ``response`` and ``request`` become it."""
        response = self.fetcher.fetch(target)
        self.namespace.update(response=response, request=response.request)
        return response


def view(response: Response) -> str:
    """Write the page to a temporary file, open it in a browser when there is one, and return
    its path."""
    fd, path = tempfile.mkstemp(suffix=".html", prefix="crawl-view-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(response.body)
    print(path)
    if os.environ.get("DISPLAY") or os.environ.get("BROWSER"):
        webbrowser.open(f"file://{path}")
    return path


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    fetcher = PageFetcher(load_settings(dict(args.settings)))
    shell = Shell(fetcher)
    try:
        if args.target:
            try:
                shell.fetch(args.target)
            except FetchError as exc:
                raise ScraperError(f"cannot fetch {args.target}: {exc}") from exc
        if args.code is not None:
            return _run_code(args.code, shell.namespace)
        _interact(shell.namespace)
        return 0
    finally:
        fetcher.close()


def _run_code(source: str, namespace: dict[str, Any]) -> int:
    try:
        compiled = compile(source, "<-c>", "eval")
    except SyntaxError:
        exec(compile(source, "<-c>", "exec"), namespace)
        return 0
    value = eval(compiled, namespace)
    if value is not None:
        print(value)
    return 0


def _interact(namespace: dict[str, Any]) -> None:
    banner = (
        "crawl shell: response, request, fetch(url_or_request), view(response), settings\n"
        f"response: {namespace['response']!r}"
    )
    try:
        import IPython
    except ImportError:
        code.interact(banner=banner, local=namespace, exitmsg="")
        return
    print(banner)
    IPython.start_ipython(argv=[], user_ns=namespace, display_banner=False)
    sys.stdout.flush()
