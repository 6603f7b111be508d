"""The ``crawl`` command: help, version, one-line errors for bad input, and Ctrl-C."""

from __future__ import annotations

import json
import os
import pty
import re
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import TEST_SPIDERS, _env, popen_cli, read_jsonl, run_cli
from mockserver import MockServer

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


RAISING_START = """
    def start_requests(self):
        raise RuntimeError("no start today")
"""

ITEM_AS_START = """
    def start_requests(self):
        yield {"a": 1}
"""

RAISING_INIT = """
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.token = kwargs["token"]
"""

SPIDER_FAULTS = {
    "start_requests_fails": RAISING_START,
    "start_requests_yields_item": ITEM_AS_START,
    "init_fails": RAISING_INIT,
}


def _faulty_spider(tmp_path: Path, case: str) -> str:
    source = GOOD_SPIDER.replace("    def parse", SPIDER_FAULTS[case] + "\n    def parse")
    return str(_spider_file(tmp_path, source))


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
        ("bad_config_syntax", "bad.cfg: line 2: 'this is not ini' comes before any [section]"),
        (
            "wrong_header_type",
            "setting DEFAULT_REQUEST_HEADERS (from -s): expected a JSON object of str to str",
        ),
        (
            "wrong_pipeline_order",
            "setting ITEM_PIPELINES (from -s): expected a JSON object of str or class to int",
        ),
        ("negative_limit", "DEPTH_LIMIT must not be negative, got -1 (from -s)"),
        ("start_requests_fails", "start_requests failed: RuntimeError: no start today"),
        ("start_requests_yields_item", "start_requests failed: TypeError: yielded {'a': 1}"),
        ("init_fails", "cannot create spider Good: KeyError: 'token'"),
        ("unwritable_output", "cannot write output file"),
        ("unknown_format", "unsupported output format '.txt'"),
        # Issue 11, item 11: with a job folder the format was not checked, and JSONL went
        # into a file of another format.
        ("unknown_format_with_jobdir", "unsupported output format '.txt'"),
        # Issue 11, item 10: ran 28 s, then died of "can't start new thread".
        ("too_many_threads", "CONCURRENT_REQUESTS must be at most 1024, got 5000000 (from -s)"),
        ("memory_limit_in_megabytes", "PARSE_MEMORY_LIMIT is in bytes: 0 (no limit) or at"),
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
        # No start URL: port 9's refusal would be logged (its host is down) meanwhile.
        args = [str(_spider_file(tmp_path, source)), "-s", "PARSE_WORKERS=1", "-a", "start_urls="]
    elif case in SPIDER_FAULTS:
        args = [_faulty_spider(tmp_path, case), "-s", "PARSE_WORKERS=0"]
    else:
        good = str(_spider_file(tmp_path, GOOD_SPIDER))
        (tmp_path / "a_file").write_text("")
        (tmp_path / "bad.cfg").write_text("# settings\nthis is not ini\n")
        args = {
            "unknown_setting": [good, "-s", "DOWNLOAD_DELAYS=1"],
            "wrong_type": [good, "-s", "CONCURRENT_REQUESTS=many"],
            "bad_config": [good, "--config", str(tmp_path / "none.cfg")],
            "bad_config_syntax": [good, "--config", str(tmp_path / "bad.cfg")],
            "wrong_header_type": [good, "-s", 'DEFAULT_REQUEST_HEADERS={"a":1}'],
            "wrong_pipeline_order": [good, "-s", 'ITEM_PIPELINES={"pkg.Pipe":"high"}'],
            "negative_limit": [good, "-s", "DEPTH_LIMIT=-1"],
            "unwritable_output": [good, "-o", str(tmp_path / "a_file" / "out.jsonl")],
            "unknown_format": [good, "-o", str(tmp_path / "out.txt")],
            "unknown_format_with_jobdir": [
                *(good, "-O", str(tmp_path / "out" / "j.txt"), "--jobdir", str(tmp_path / "j"))
            ],
            "too_many_threads": [good, "-s", "CONCURRENT_REQUESTS=5000000"],
            "memory_limit_in_megabytes": [good, "-s", "PARSE_MEMORY_LIMIT=512"],
        }[case]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("crawl: error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing written where nothing could be


def test_usage_errors_exit_2(tmp_path):
    result = run_cli(str(TEST_SPIDERS / "fanout.py"), "-s", "NOEQUALSSIGN", cwd=tmp_path)
    assert result.returncode == 2 and "expected NAME=VALUE" in result.stderr


@pytest.mark.parametrize("case", ["start_requests_fails", "init_fails"])
def test_a_failing_spider_shows_its_traceback_at_debug_level(tmp_path, case):
    result = run_cli(
        _faulty_spider(tmp_path, case), "-s", "PARSE_WORKERS=0", "-L", "DEBUG", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    # The spider's own line is in it, and the one-line error still ends the output.
    assert (
        'raise RuntimeError("no start today")'
        if case == "start_requests_fails"
        else 'kwargs["token"]'
    ) in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("crawl: error: ")


SUMMARY_SPIDER = """
import os
from scraper import Spider

class Summary(Spider):
    name = "summary"

    def parse(self, response):
        if response.url.endswith("/page/die"):
            os._exit(3)  # kills its parse worker, every time
        yield {"url": response.url}
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href)
"""


def _summary_figures(stderr: str) -> dict[str, str]:
    """The summary's lines after the first, as {label: rest}."""
    summary = stderr[stderr.index("\nCrawl finished") :].strip().splitlines()
    return dict(line.strip().split(": ", 1) for line in summary[1:])


def _counts(text: str) -> dict[str, int]:
    """Parse "a 1, b 2" into {"a": 1, "b": 2}."""
    return {k: int(v) for k, v in (part.rsplit(" ", 1) for part in text.split(", "))}


def test_summary_counts_agree_with_the_server_log_and_the_failures_file(tmp_path):
    """A 404, a 503 then success, a 429 then success, a host whose robots.txt answers 500, a
    page that kills its parse worker, undecodable bytes and two non-http links: the summary
    reports each, and its per-host request counts are the server's own."""
    spider = str(_spider_file(tmp_path, SUMMARY_SPIDER))
    with MockServer(hosts=2, robots={1: "500"}) as server:
        links = [
            "/status/404",
            "/flaky/503/1/summary",
            "/retry-after/429/1/summary",
            "/encoding/invalid-utf8",
            "/page/good",
            "/page/die",
            server.url("/page/elsewhere", host=1),
            "mailto:someone@example.test",
            "ftp://127.0.0.2/file",
        ]
        start = server.url("/page/start?to=" + quote(",".join(links), safe="/"))
        settings = {
            "CONCURRENT_REQUESTS": 4,
            "PARSE_WORKERS": 1,
            "PARSE_INLINE_BELOW": 0,
            "PARSE_RETRY_TIMES": 1,
            "RETRY_BACKOFF_BASE": 0.1,
            "ROBOTSTXT_RETRY_DELAY": 0.2,
            "ROBOTSTXT_RETRY_TIMES": 1,
        }
        result = run_cli(
            spider,
            *("-O", str(tmp_path / "out.jsonl"), "-a", f"start_urls={start}"),
            *(arg for name, value in settings.items() for arg in ("-s", f"{name}={value}")),
            cwd=tmp_path,
        )
        served = server.log()
    assert result.returncode == 0, result.stderr
    figures = _summary_figures(result.stderr)
    head = result.stderr[result.stderr.index("Crawl finished") :].splitlines()[0]
    assert re.search(r": 5 pages, 5 items -> ", head), head  # start, good, utf-8, 503, 429
    rates = dict(re.findall(r"(\S[^:]*): (\d+(?:\.\d+)?)", figures["pages/s"]))
    assert rates["retries"] == "2" and rates["429s seen"] == "1", figures["pages/s"]

    # Errors by kind: exactly the failures file's reasons, robots.txt and parse failures too.
    failures = read_jsonl(tmp_path / "out.failures.jsonl")
    errors = _counts(figures["errors"])
    assert errors == {"http_404": 1, "robots_unavailable": 1, "worker_died": 1}
    assert errors == Counter(f["reason"] for f in failures)
    attempts = {f["reason"]: f["attempts"] for f in failures}
    assert attempts == {"http_404": 1, "robots_unavailable": 2, "worker_died": 2}
    assert _counts(figures["filtered before fetching"]) == {"scheme_filtered": 2}
    assert figures["undecodable bytes replaced with U+FFFD"] == "2"  # the two in \xff\xfe

    # Requests per host, robots.txt included (the mock server answers it too), as served.
    robots = sum(1 for r in served if r["path"] == "/robots.txt")
    assert robots == 3  # one per host, and host 1's asked again after its retry delay
    (label,) = (k for k in figures if k.startswith("requests per host"))
    assert label == f"requests per host (incl. {robots} robots.txt)"
    assert _counts(figures[label]) == Counter(r["host"] for r in served)

    # Queue high-water marks within their bounds; busy figures for both pools.
    high, high_bytes, bound, bound_bytes = map(
        int,
        re.match(
            r"(\d+), (\d+) B \(bound (\d+) / (\d+) B\)", figures["response queue high-water"]
        ).groups(),
    )
    assert 1 <= high <= bound == 32 and high_bytes <= bound_bytes
    high, bound = map(
        int, re.match(r"(\d+) \(bound (\d+)\)", figures["parsed-page queue high-water"]).groups()
    )
    assert 1 <= high <= bound == 256
    assert re.fullmatch(
        r"4, busy \d+% on the network, \d+% held back by per-host limits", figures["fetch threads"]
    )
    assert re.fullmatch(r"1 processes, busy \d+% in callbacks", figures["parse workers"])


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


def test_full_disk_without_jobdir_leaves_whole_lines_and_one_clear_error(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, fanout=4, fanout_total=60)
    output = tmp_path / "out.jsonl"
    result = run_cli(
        str(TEST_SPIDERS / "fanout.py"),
        "-O",
        str(output),
        "-a",
        f"start_urls={site.base_urls[0]}/fanout/0",
        cwd=tmp_path,
        env={
            "PYTHONPATH": str(Path(__file__).parent / "faults"),
            "SCRAPER_TEST_ENOSPC": "out.jsonl",
            # The disk fills mid-line: the kernel takes part of a batch, then says ENOSPC.
            "SCRAPER_TEST_ENOSPC_AFTER": "3000",
        },
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("crawl: error:")]
    assert errors == [f"crawl: error: cannot write output file {output}: No space left on device"]
    assert "Traceback" not in result.stderr
    assert 0 < len(read_jsonl(output)) < 60  # the part of the batch that fitted was cut back


def test_a_terminal_gets_a_progress_line_and_a_pipe_does_not(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=0, latency=0.1, fanout=3, fanout_total=13)
    args = [
        str(TEST_SPIDERS / "fanout.py"), "-O", str(tmp_path / "out.jsonl"),
        "-a", f"start_urls={site.base_urls[0]}/fanout/0",
        "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1", "-s", "PARSE_WORKERS=1",
    ]  # fmt: skip
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "scraper", *args], cwd=tmp_path, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    screen = b""
    while chunk := _read_terminal(main):
        screen += chunk
    os.close(main)
    assert process.wait(timeout=60) == 0, screen.decode(errors="replace")
    text = screen.decode()
    progress = re.findall(r"\r\x1b\[K(\d+) pages, (\d+) items, \d+ errors \| .* pages/s", text)
    assert progress, text  # at least one update while the crawl ran
    assert all(int(pages) <= 13 for pages, _ in progress)
    assert "Crawl finished" in text.rsplit("\x1b[K", 1)[1]  # the line is cleared first
    piped = run_cli(*args[:2], str(tmp_path / "again.jsonl"), *args[3:], cwd=tmp_path)
    assert piped.returncode == 0 and "\x1b[K" not in piped.stderr


def _read_terminal(fd: int) -> bytes:
    """What the terminal shows next; b"" once the crawl has closed it (EIO on Linux)."""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


def test_threads_the_system_refuses_are_one_line_too(tmp_path):
    """Issue 11, item 10: within the setting's bound the system may still refuse a thread
    (here its address space is cut to 1.5 GB, 8 MB of stack a thread): one line, exit 1."""
    good = str(_spider_file(tmp_path, GOOD_SPIDER))

    def small_address_space() -> None:
        resource.setrlimit(
            resource.RLIMIT_AS, (1536 << 20, resource.getrlimit(resource.RLIMIT_AS)[1])
        )

    settings = ["PARSE_WORKERS=0", "CONCURRENT_REQUESTS=1000", "ROBOTSTXT_OBEY=false"]
    result = subprocess.run(
        [sys.executable, "-m", "scraper", good, *(a for s in settings for a in ("-s", s))],
        cwd=tmp_path,
        env=_env(),
        preexec_fn=small_address_space,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("crawl: error: cannot start 1000 fetch threads (CONCURRENT_REQUESTS): ")
    assert "Traceback" not in result.stderr


def test_the_crawl_process_hands_the_gil_over_less_often_than_python_does():
    # A forced hand-off every 5 ms among the fetch threads cost the main process CPU.
    code = (
        "import sys\n"
        "from scraper import cli, fetch\n"
        "before = sys.getswitchinterval()\n"
        "try:\n"
        "    cli.main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(before, sys.getswitchinterval(), fetch.GIL_SWITCH_INTERVAL)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60
    )
    before, after, wanted = (float(x) for x in out.stdout.split()[-3:])
    assert before == 0.005 and after == wanted > before
