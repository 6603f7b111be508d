"""Lean installs: the core distribution pulls no extraction or Redis library; each extra that
is missing is one clear line naming the command that installs it."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, TEST_SPIDERS, run_cli

OPTIONAL = {
    "trafilatura",
    "justext",
    "htmldate",
    "lxml_html_clean",
    "lxml-html-clean",
    "redis",
    "pyarrow",
}


def _distribution(tmp_path: Path) -> importlib.metadata.Distribution:
    """The distribution an install of this checkout gets: the installed one, else its metadata
    built by the build backend from pyproject.toml."""
    try:
        return importlib.metadata.distribution("scraper")
    except importlib.metadata.PackageNotFoundError:
        pass
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "scraper", source / "scraper", ignore=shutil.ignore_patterns("*.pyc"))
    (tmp_path / "meta").mkdir()
    # setuptools' own metadata step (what pip runs first), with no wheel package needed.
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "egg_info",
         "--egg-base", str(tmp_path / "meta")],
        cwd=source, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return importlib.metadata.Distribution.at(tmp_path / "meta" / "scraper.egg-info")


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0]


def test_the_core_install_pulls_no_extraction_or_redis_library(tmp_path):
    requires = _distribution(tmp_path).requires or []
    core = {_name(r).strip().lower() for r in requires if "extra ==" not in r}
    assert core and not core & OPTIONAL, core & OPTIONAL
    assert {"httpx", "httpcore", "parsel", "lxml", "protego"} <= core
    by_extra: dict[str, set[str]] = {}
    for requirement in requires:
        if "extra ==" in requirement:
            extra = requirement.split("extra ==")[1].strip().strip("'\"")
            by_extra.setdefault(extra, set()).add(_name(requirement).strip().lower())
    assert {"trafilatura", "justext", "htmldate"} <= by_extra["news"]
    assert by_extra["redis"] == {"redis"} and by_extra["parquet"] == {"pyarrow"}
    assert by_extra["all"] == {"scraper"} and "scraper" in by_extra["test"]


def _without(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment where importing ``modules`` fails, as on a core install."""
    blocker = tmp_path / "blocked"
    for module in modules:
        (blocker / module).mkdir(parents=True)
        (blocker / module / "__init__.py").write_text("raise ImportError('not installed')\n")
    # find_spec finds the stubs: make the checks see them missing as on a real core install.
    (blocker / "sitecustomize.py").write_text(
        "import importlib.util, sys\n"
        f"_blocked = {set(modules)!r}\n"
        "_find = importlib.util.find_spec\n"
        "def _hidden(name, *args):\n"
        "    return None if name in _blocked else _find(name, *args)\n"
        "importlib.util.find_spec = _hidden\n"
    )
    return {"PYTHONPATH": str(blocker)}


def test_a_missing_news_extra_is_one_line_naming_the_install_command(tmp_path):
    env = _without(tmp_path, "trafilatura")
    result = run_cli(
        str(ROOT / "spiders" / "news.py"),
        "-a",
        "start_urls=http://127.0.0.1:9/",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "crawl: error: the news extraction (scraper.extract) needs trafilatura: "
        "pip install 'scraper[news]'"
    ]


def test_a_missing_redis_extra_is_one_line_naming_the_install_command(tmp_path):
    env = _without(tmp_path, "redis")
    result = run_cli(
        str(TEST_SPIDERS / "follow.py"),
        "--frontier",
        "redis://127.0.0.1:9/0",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "crawl: error: the shared Redis frontier needs redis: pip install 'scraper[redis]'"
    ]
