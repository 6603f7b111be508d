"""The failure kinds: every reason the code can write to the failures file is in
``scraper.failures.FAILURE_KINDS`` (and nothing stale is), and README's table is that list."""

from __future__ import annotations

import ast
from pathlib import Path

import scraper
from scraper.failures import FAILURE_KINDS, markdown_table

PACKAGE = Path(scraper.__file__).resolve().parent
README = PACKAGE.parent / "README.md"
# Callables whose second argument is the failure's reason.
FAILING_CALLS = {"_fail", "on_failed", "request_failed", "failed", "record"}
# Outcomes whose first argument is the failure's reason.
OUTCOMES_WITH_KIND = {"Drop", "Refuse", "Fail"}  # Fail: a downloader middleware's
NOT_FAILURES = {
    "shutdown",  # passed to on_failed, never written: a job folder redoes the request
    "scheme_filtered",  # a link's refusal, counted; a start URL's is unsupported_scheme
    "ignored_request",  # a middleware's IgnoreRequest: counted, on purpose, never written
}


def _strings(node: ast.AST) -> set[str]:
    """String constants in an expression; an f-string "http_{status}" is http_NNN."""
    if isinstance(node, ast.Constant):
        return {node.value} if isinstance(node.value, str) else set()
    if isinstance(node, ast.JoinedStr):
        head = node.values[0]
        return {"http_NNN"} if isinstance(head, ast.Constant) and head.value == "http_" else set()
    return {s for child in ast.iter_child_nodes(node) for s in _strings(child)}


def _kinds_written_by_the_code() -> set[str]:
    kinds: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(
                    isinstance(t, ast.Name)
                    and t.id == "kind"
                    or isinstance(t, ast.Attribute)
                    and t.attr == "kind"
                    for t in targets
                ):
                    kinds |= _strings(node.value)
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in FAILING_CALLS and len(node.args) >= 2:
                    kinds |= _strings(node.args[1])
                if name in OUTCOMES_WITH_KIND and node.args:  # robots' Drop, redirect's Refuse
                    kinds |= _strings(node.args[0])
            elif isinstance(node, ast.FunctionDef) and node.name == "refuse":
                # (reason, detail) pairs: a start URL's refusal is written as a failure.
                for ret in ast.walk(node):
                    if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Tuple):
                        kinds |= _strings(ret.value.elts[0])
    return kinds - NOT_FAILURES - {""}


def test_every_kind_the_code_writes_is_listed_and_no_listed_kind_is_stale():
    written = _kinds_written_by_the_code()
    # The scan must see the kinds it is meant to see (a scan that finds nothing passes nothing).
    assert {"http_NNN", "protocol_error", "invalid_url", "worker_memory"} <= written
    assert {"robots_unavailable", "callback_error", "unsupported_scheme"} <= written
    assert written == set(FAILURE_KINDS)


def test_readme_failure_kind_table_lists_every_kind():
    assert markdown_table() in README.read_text(encoding="utf-8")
