"""Command-line argument types shared by ``crawl`` and its commands (``-s NAME=VALUE``).

Flow position: outside the crawl's flow; parses what the user typed into settings overrides.
"""

from __future__ import annotations

import argparse


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key.strip(), value
