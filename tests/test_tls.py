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

from scraper.fetcher import Fetcher
from scraper.models import Request
from scraper.robots import HostDown, RobotsCache
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
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", tmp_path / "cert.pem"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _crawl(
    tmp_path: Path, start: str, *settings: str, env: dict[str, str] | None = None, status: int = 0
):
    result = run_cli(
        SPIDER,
        *("-O", str(tmp_path / "out.jsonl"), "-a", f"start_urls={start}"),
        *("-s", "RETRY_TIMES=0", "-s", "RETRY_BACKOFF_BASE=0.05"),
        *("-s", "HOST_DOWN_BACKOFF_MAX=0.2", "-s", "HOST_DOWN_TIMEOUT=0.5", *settings),
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == status, result.stderr
    return result, read_jsonl(tmp_path / "out.jsonl"), read_jsonl(tmp_path / "out.failures.jsonl")


@pytest.mark.parametrize("robots", [True, False])
def test_an_untrusted_certificate_is_named_in_the_failure_and_the_log(tmp_path, https_site, robots):
    """A certificate that does not verify: no connection can be made, so the host is down
    (waited for, then given up on: exit 3), and the cause is in the failure and the log."""
    base, _ = https_site
    result, items, failures = _crawl(
        tmp_path, base + "/", "-s", f"ROBOTSTXT_OBEY={str(robots).lower()}", status=3
    )
    assert items == []
    (failure,) = failures
    assert failure["reason"] == "host_unreachable"
    assert CAUSE in failure["detail"]
    host = base.split("//", 1)[1].rsplit(":", 1)[0]
    down = [line for line in result.stderr.splitlines() if f"host {host} cannot be reached" in line]
    assert len(down) == 1 and CAUSE in down[0], result.stderr  # said once, with the cause


def test_ssl_cert_file_trusts_a_self_signed_certificate(tmp_path, https_site):
    """README's recipe for a private CA or a self-signed certificate."""
    base, cert_file = https_site
    _, items, failures = _crawl(tmp_path, base + "/", env={"SSL_CERT_FILE": str(cert_file)})
    assert sorted(item["url"] for item in items) == [base + "/", base + "/second"]
    assert failures == []


def test_a_dns_failure_is_the_cause_of_a_down_host():
    """No server needed: the resolver's error, as the transport raises it, reaches the
    verdict that holds the host back (the fetch threads back it off as a whole)."""

    def unresolvable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    fetcher = Fetcher.from_settings(Settings(), httpx.MockTransport(unresolvable))
    now = [0.0]
    robots = RobotsCache(fetcher, "scraper/0.1", lambda: now[0], retry_delay=1.0, retry_times=1)
    request = Request("http://nowhere.invalid/page")
    waiting = robots.verdict(request)
    assert isinstance(waiting, HostDown) and "Name or service not known" in waiting.cause
    now[0] = 2.0  # asked again: still unresolvable, still down, never written off here
    again = robots.verdict(request)
    assert isinstance(again, HostDown) and "Name or service not known" in again.cause


def test_the_connection_pool_and_the_proxies_share_one_tls_context(monkeypatch):
    # Each context holds the whole CA bundle (1.2 MB, 20 ms to load): a crawl loads it once,
    # when the first HTTPS connection needs it, never for plain HTTP.
    import httpx

    from scraper.fetcher import Fetcher
    from scraper.settings import Settings

    made = []
    create = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *a, **k: made.append(1) or create())
    fetcher = Fetcher.from_settings(Settings())
    try:
        assert made == []
        assert fetcher.proxies._tls is fetcher.transport._tls
        assert fetcher.proxies._tls.get() is fetcher.transport._tls.get()
        assert len(made) == 1
    finally:
        fetcher.close()


def test_the_tls_context_is_made_by_the_first_https_connection_only(monkeypatch, https_site):
    import httpx

    made = []
    create = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *a, **k: made.append(1) or create())
    plain = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=plain.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    fetcher = Fetcher.from_settings(Settings(DOWNLOAD_VERIFY=False))
    try:
        for _ in range(2):
            response = fetcher.fetch(Request(f"http://127.0.0.1:{plain.server_address[1]}/"))
            assert response.status == 200 and made == []  # plain HTTP: never loaded
        base, _ = https_site
        for _ in range(2):
            assert fetcher.fetch(Request(base + "/")).status == 200
            assert made == [1]  # loaded once, by the first HTTPS connection
    finally:
        fetcher.close()
        plain.shutdown()
        plain.server_close()
        thread.join(5)
