"""HTTPS with a certificate the default bundle does not trust: the failure names the cause
(issue 11, item 7), and SSL_CERT_FILE, as README documents, makes the site crawlable (item 18).
The DNS case, which needs no server, is a fetch-layer test at the end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import TEST_SPIDERS, read_jsonl, run_cli
from test_transport import _self_signed

from scraper.fetch import Fetcher, make_client
from scraper.models import Request
from scraper.robots import RobotsCache
from scraper.settings import Settings

SPIDER = str(TEST_SPIDERS / "follow.py")
CAUSE = "CERTIFICATE_VERIFY_FAILED"


class _Pages(BaseHTTPRequestHandler):
    """/robots.txt: 404 (no rules); any other path: a page linking /second."""

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        if self.path == "/robots.txt":
            body, status = b"", 404
        else:
            body, status = b'<html><title>tls</title><a href="/second">2</a></html>', 200
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def https_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate: (base URL, cert file)."""
    context, _ = _self_signed(tmp_path)  # writes tmp_path / "cert.pem"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", tmp_path / "cert.pem"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _crawl(tmp_path: Path, start: str, *settings: str, env: dict[str, str] | None = None):
    result = run_cli(
        SPIDER,
        *("-O", str(tmp_path / "out.jsonl"), "-a", f"start_urls={start}"),
        *("-s", "RETRY_TIMES=0", "-s", "ROBOTSTXT_RETRY_DELAY=0.2"),
        *("-s", "ROBOTSTXT_RETRY_TIMES=1", *settings),
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result, read_jsonl(tmp_path / "out.jsonl"), read_jsonl(tmp_path / "out.failures.jsonl")


@pytest.mark.parametrize("robots", [True, False])
def test_an_untrusted_certificate_is_named_in_the_failure_and_the_log(tmp_path, https_site, robots):
    base, _ = https_site
    result, items, failures = _crawl(
        tmp_path, base + "/", "-s", f"ROBOTSTXT_OBEY={str(robots).lower()}"
    )
    assert items == []
    (failure,) = failures
    assert failure["reason"] == ("robots_unavailable" if robots else "connect_error")
    assert CAUSE in failure["detail"]
    assert CAUSE in result.stderr
    if robots:  # said when the host became unreachable, not at every retry
        assert result.stderr.count(f"robots.txt of {base} unreachable (connect_error") == 1


def test_ssl_cert_file_trusts_a_self_signed_certificate(tmp_path, https_site):
    """README's recipe for a private CA or a self-signed certificate."""
    base, cert_file = https_site
    _, items, failures = _crawl(tmp_path, base + "/", env={"SSL_CERT_FILE": str(cert_file)})
    assert sorted(item["url"] for item in items) == [base + "/", base + "/second"]
    assert failures == []


def test_a_dns_failure_is_the_cause_of_robots_unavailable():
    """No server needed: the resolver's error, as the transport raises it, reaches the
    verdict that fails the request."""

    def unresolvable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    fetcher = Fetcher(make_client(Settings(), httpx.MockTransport(unresolvable)), 1 << 20, 5.0)
    now = [0.0]
    robots = RobotsCache(fetcher, "scraper/0.1", lambda: now[0], retry_delay=1.0, retry_times=1)
    request = Request("http://nowhere.invalid/page")
    waiting = robots.verdict(request)
    assert not waiting.allowed and waiting.retry_at == 1.0
    now[0] = 2.0  # asked again after the delay: still unresolvable, and out of waits
    final = robots.verdict(request)
    assert final.reason == "robots_unavailable"
    assert final.detail == (
        "robots.txt unreachable: connect_error: ConnectError: [Errno -2] Name or service not known"
    )
