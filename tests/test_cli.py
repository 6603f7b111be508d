"""The ``crawl`` command: help, version, one-line errors for bad input, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TEST_SPIDERS, popen_cli, read_jsonl, run_cli

from scraper import __version__


def test_version_and_help(tmp_path):
    version = run_cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"crawl {__version__}"
    help_text = run_cli("--help", cwd=tmp_path)
    assert help_text.returncode == 0
    for expected in (
        "SPIDER_FILE",
        "-o PATH",
        "-s NAME=VALUE",
        "-a NAME=VALUE",
        "--config",
        "-L LEVEL",
        "CONCURRENT_REQUESTS_PER_DOMAIN",
        "PARSE_WORKERS",
    ):
        assert expected in help_text.stdout


def _spider_file(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "spider.py"
    path.write_text(source)
    return path


GOOD_SPIDER = """
from scraper import Spider

class Good(Spider):
    name = "good"
    start_urls = ["http://127.0.0.1:9/"]

    def parse(self, response):
        yield {"url": response.url}
"""


WORKER_ONLY_FAILURE = """
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        import multiprocessing
        if multiprocessing.parent_process() is not None:
            raise RuntimeError("no database connection in this process")
"""


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "spider file not found: nowhere.py"),
        ("syntax", "syntax error in spider file"),
        ("no_spider", "no Spider subclass defined in"),
        ("import_error", "error importing spider file"),
        ("unknown_setting", "unknown setting 'DOWNLOAD_DELAYS' (from -s)"),
        ("wrong_type", "setting CONCURRENT_REQUESTS (from -s): expected an integer, got 'many'"),
        ("bad_config", "config file not found"),
        ("unwritable_output", "cannot write output file"),
        ("unknown_format", "unsupported output format '.xml'"),
        ("workers_fail", "parse workers failed to start"),
    ],
)
def test_bad_input_gives_one_clear_line_and_non_zero_exit(tmp_path, case, message):
    args: list[str] = []
    if case == "missing":
        args = ["nowhere.py"]
    elif case == "syntax":
        args = [str(_spider_file(tmp_path, "from scraper import Spider\nclass S(Spider:\n"))]
    elif case == "no_spider":
        args = [str(_spider_file(tmp_path, "import os\nX = 1\n"))]
    elif case == "import_error":
        args = [str(_spider_file(tmp_path, "import not_a_module_anywhere\n"))]
    elif case == "workers_fail":  # imports in the main process, fails in every worker
        source = GOOD_SPIDER.replace("def parse", WORKER_ONLY_FAILURE + "\n    def parse")
        args = [str(_spider_file(tmp_path, source)), "-s", "PARSE_WORKERS=1"]
    else:
        good = str(_spider_file(tmp_path, GOOD_SPIDER))
        (tmp_path / "a_file").write_text("")
        args = {
            "unknown_setting": [good, "-s", "DOWNLOAD_DELAYS=1"],
            "wrong_type": [good, "-s", "CONCURRENT_REQUESTS=many"],
            "bad_config": [good, "--config", str(tmp_path / "none.cfg")],
            "unwritable_output": [good, "-o", str(tmp_path / "a_file" / "out.jsonl")],
            "unknown_format": [good, "-o", str(tmp_path / "out.xml")],
        }[case]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("crawl: error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(tmp_path):
    result = run_cli(str(TEST_SPIDERS / "fanout.py"), "-s", "NOEQUALSSIGN", cwd=tmp_path)
    assert result.returncode == 2 and "expected NAME=VALUE" in result.stderr


def _wait_for_lines(path: Path, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


def _slow_crawl(tmp_path: Path, site) -> tuple[subprocess.Popen[str], Path]:
    output = tmp_path / "out.jsonl"
    process = popen_cli(
        str(TEST_SPIDERS / "fanout.py"),
        "-O",
        str(output),
        "-a",
        f"start_urls={site.base_urls[0]}/fanout/0",
        "-s",
        "CONCURRENT_REQUESTS_PER_DOMAIN=4",
        "-s",
        "PARSE_WORKERS=2",
        cwd=tmp_path,
    )
    _wait_for_lines(output, 3)
    return process, output


def test_ctrl_c_finishes_in_flight_work_and_prints_the_summary(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, latency=0.3, fanout=20, fanout_total=400)
    process, output = _slow_crawl(tmp_path, site)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    items = read_jsonl(output)
    assert 3 <= len(items) < 400
    assert len({item["url"] for item in items}) == len(items)
    assert "press Ctrl-C again" in stderr and "Crawl shutdown" in stderr
    assert "not crawled:" in stderr
    # In-flight work finished: every page the server answered was exported.
    served = {r.path for r in site.requests() if r.status == 200 and r.path.startswith("/fanout")}
    assert {item["url"].split(":", 2)[2].split("/", 1)[1] for item in items} == {
        p.lstrip("/") for p in served
    }


def test_second_ctrl_c_exits_at_once_with_whole_lines(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, latency=0.3, fanout=20, fanout_total=400)
    process, output = _slow_crawl(tmp_path, site)
    process.send_signal(signal.SIGINT)
    time.sleep(0.1)  # let the first signal be handled before the second arrives
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 130, stderr
    assert "exiting now" in stderr
    items = read_jsonl(output)
    assert len(items) >= 3
    # The parse workers do not outlive the crawl.
    worker_pids = {item["pid"] for item in items}
    deadline = time.monotonic() + 10
    while worker_pids and time.monotonic() < deadline:
        worker_pids = {pid for pid in worker_pids if _alive(pid)}
        time.sleep(0.05)
    assert not worker_pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = (
        Path(f"/proc/{pid}/stat").read_text().split()[2]
        if Path(f"/proc/{pid}/stat").exists()
        else "X"
    )
    return status not in ("Z", "X")


def test_json_lines_are_utf8_objects(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0)
    result = run_cli(
        str(TEST_SPIDERS.parent.parent / "spiders" / "news.py"),
        "-O",
        str(tmp_path / "news.jsonl"),
        "-a",
        f"start_urls={site.base_urls[0]}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    raw = (tmp_path / "news.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.decode("utf-8").splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)
    assert any(ch in raw.decode() for ch in "éöøåí")  # written as UTF-8, not \\u escapes
