"""Tests of the misbehaving test server itself (tests/mockserver.py), with raw sockets and
http.client only: the crawler is not involved, so a failure here is the server's fault.
"""

from __future__ import annotations

import gzip
import http.client
import json
import re
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from mockserver import (
    ENCODING_EXPECTED,
    ROBOTS_HUGE_RULE_AT,
    ROBOTS_LOOP_HOPS,
    ROBOTS_MODES,
    MockServer,
)

MOCKSERVER = Path(__file__).resolve().parent / "mockserver.py"
HOST_URL = re.compile(r"^http://127\.0\.0\.(\d+):(\d+)$")


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    """One server for the route tests: starting one costs a Python start-up."""
    with MockServer(hosts=2) as running:
        yield running


def _address(server: MockServer, host: int = 0) -> tuple[str, int]:
    split = urlsplit(server.hosts[host])
    assert split.hostname is not None and split.port is not None
    return split.hostname, split.port


def _connect(server: MockServer, host: int = 0, timeout: float = 5) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(*_address(server, host), timeout=timeout)


def _get(
    server: MockServer,
    path: str,
    host: int = 0,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = _connect(server, host)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _raw(server: MockServer, path: str, timeout: float = 5) -> tuple[bytes, OSError | None]:
    """Everything the server sends on one connection, and how the connection ended
    (None: a clean close)."""
    with socket.create_connection(_address(server), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        data = b""
        for _ in range(10_000):
            try:
                chunk = sock.recv(65536)
            except OSError as exc:
                return data, exc
            if not chunk:
                return data, None
            data += chunk
    raise AssertionError("the server kept sending")


def _wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    for _ in range(1000):
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)
    return predicate()


def _records(server: MockServer, path: str) -> list[dict[str, Any]]:
    return [record for record in server.log() if record["path"] == path]


def _finished_log(server: MockServer) -> list[dict[str, Any]]:
    """The log once every request in it is over: a handler stamps ``end`` after its response
    has gone, so the client can read the response first."""
    return _wait_for(
        lambda: (log := server.log()) and all(r["end"] is not None for r in log) and log
    )


# --- process lifecycle ---------------------------------------------------------------------


def test_prints_one_json_line_then_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, str(MOCKSERVER), "--hosts", "3"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["pid"] == process.pid
        matches = [HOST_URL.match(url) for url in info["hosts"]]
        assert all(matches)
        assert [int(m.group(1)) for m in matches if m] == [2, 3, 4]
        assert all(int(m.group(2)) > 0 for m in matches if m)
        process.terminate()
        assert process.wait(5) == 0
        assert process.stdout.read() == b"", "nothing after the JSON line"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def test_exits_when_stdin_closes() -> None:
    with MockServer(hosts=1) as running:
        process = running.process
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(5) == 0


def test_ignore_stdin_and_robots_from_the_command_line() -> None:
    # One server for both options: each start costs a Python start-up.
    with MockServer(hosts=2, robots={1: "404"}, ignore_stdin=True) as running:
        process = running.process
        assert process.stdin is not None
        process.stdin.close()
        assert _get(running, "/robots.txt", host=0)[0] == 200
        assert _get(running, "/robots.txt", host=1)[0] == 404
        time.sleep(0.2)
        assert process.poll() is None, "stdin EOF is ignored"
        assert _get(running, "/page/still-here")[0] == 200
    assert process.returncode == 0  # __exit__ sent SIGTERM and the server shut down cleanly


# --- ordinary routes ---------------------------------------------------------------------------


def test_page_with_links_on_every_host(server: MockServer) -> None:
    for host in (0, 1):
        status, headers, body = _get(server, "/page/home?links=a,b&to=/status/500,/x%20y", host)
        assert status == 200
        assert headers["Content-Type"].startswith("text/html")
        text = body.decode()
        assert "<title>home</title>" in text and "<h1>home</h1>" in text
        hrefs = re.findall(r'href="([^"]*)"', text)
        assert hrefs == ["/page/a", "/page/b", "/status/500", "/x y"]


def test_keep_alive_across_statuses(server: MockServer) -> None:
    connection = _connect(server)
    try:
        socks = []
        for path in ("/page/one", "/status/404", "/status/500", "/page/two"):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert not response.will_close
            socks.append(connection.sock)
        assert len(set(map(id, socks))) == 1, "one connection for all four requests"
    finally:
        connection.close()


@pytest.mark.parametrize("code", [200, 204, 301, 404, 418, 429, 500, 503, 599])
def test_status(server: MockServer, code: int) -> None:
    status, _, body = _get(server, f"/status/{code}")
    assert status == code
    assert (body == b"") == (code == 204)


@pytest.mark.parametrize("code", ["100", "600", "abc"])
def test_status_rejects_nonsense(server: MockServer, code: str) -> None:
    assert _get(server, f"/status/{code}")[0] == 400


def test_head_and_post(server: MockServer) -> None:
    status, headers, body = _get(server, "/page/h", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    connection = _connect(server)
    try:
        connection.request("POST", "/echo-headers", body=b"x" * 5000)
        first = connection.getresponse()
        assert first.status == 200 and json.loads(first.read())["content-length"] == "5000"
        connection.request("GET", "/page/after-post")  # the body was drained: still in sync
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def test_flaky_counts_per_key(server: MockServer) -> None:
    statuses = [_get(server, "/flaky/503/2/flaky-one")[0] for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert _get(server, "/flaky/500/1/flaky-two", host=1)[0] == 500
    assert _get(server, "/flaky/500/1/flaky-two", host=0)[0] == 200


def test_retry_after_seconds_and_http_date(server: MockServer) -> None:
    status, headers, _ = _get(server, "/retry-after/429/3/ra-seconds")
    assert status == 429 and headers["Retry-After"] == "3"
    assert _get(server, "/retry-after/429/3/ra-seconds")[0] == 200
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    status, headers, _ = _get(server, f"/retry-after/503/{quote(date)}/ra-date")
    assert status == 503 and headers["Retry-After"] == date
    assert _get(server, f"/retry-after/503/{quote(date)}/ra-date")[0] == 200


def test_slow(server: MockServer) -> None:
    started = time.monotonic()
    status, _, body = _get(server, "/slow/0.3")
    assert status == 200 and b"<title>" in body
    assert time.monotonic() - started >= 0.3


def test_hang_holds_until_the_client_leaves(server: MockServer) -> None:
    path = "/hang?probe=leaves"
    with socket.create_connection(_address(server), timeout=0.3) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        with pytest.raises(TimeoutError):
            sock.recv(1)
        [held] = _wait_for(lambda: _records(server, path))
        assert held["status"] == "hang" and held["end"] is None
        left = time.monotonic()
    # The server notices the hang-up instead of holding a dead connection for 120 s.
    [done] = _wait_for(lambda: [r for r in _records(server, path) if r["end"] is not None])
    assert left <= done["end"] < left + 1.0


def test_hang_gives_up_after_its_limit(server: MockServer) -> None:
    started = time.monotonic()
    data, error = _raw(server, "/hang?seconds=0.3")
    assert data == b"" and error is None  # no answer, then a clean close
    assert 0.3 <= time.monotonic() - started < 3


def test_trickle_beats_a_per_read_timeout(server: MockServer) -> None:
    # Each byte arrives within a 0.8 s read timeout, but the whole body takes about 1 s.
    connection = _connect(server, timeout=0.8)
    try:
        started = time.monotonic()
        connection.request("GET", "/trickle/1")
        response = connection.getresponse()
        assert response.status == 200 and response.headers["Content-Length"] == "2"
        assert time.monotonic() - started < 0.4, "headers come at once"
        assert response.read() == b".."
        assert time.monotonic() - started >= 0.9
    finally:
        connection.close()


def test_trickle_headers(server: MockServer) -> None:
    connection = _connect(server, timeout=0.8)  # each line comes within a read timeout
    try:
        started = time.monotonic()
        connection.request("GET", "/trickle-headers/1")
        response = connection.getresponse()
        assert time.monotonic() - started >= 0.9, "the headers took the whole second"
        assert response.status == 200
        assert [response.headers[f"X-Trickle-{i}"] for i in range(2)] == [".", "."]
        assert b"trickled headers" in response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_truncated_encoding(server: MockServer, encoding: str) -> None:
    """Framing intact (the body is exactly Content-Length), the compressed stream cut."""
    status, headers, body = _get(server, f"/truncated-encoding/{encoding}")
    assert status == 200 and headers["Content-Encoding"] == encoding
    assert int(headers["Content-Length"]) == len(body) > 0
    if encoding in ("gzip", "deflate"):
        decoder = zlib.decompressobj(31 if encoding == "gzip" else 15)
        assert decoder.decompress(body) and not decoder.eof


# --- connection-level faults -----------------------------------------------------------------


def test_reset_mid_body(server: MockServer) -> None:
    data, error = _raw(server, "/reset-mid-body")
    assert isinstance(error, ConnectionResetError)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 10000" in head and len(body) == 3000
    connection = _connect(server)
    try:
        connection.request("GET", "/reset-mid-body")
        response = connection.getresponse()
        with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
            response.read()
    finally:
        connection.close()
    assert _records(server, "/reset-mid-body")[-1]["status"] == "reset"


def test_reset_before_response(server: MockServer) -> None:
    data, error = _raw(server, "/reset-before-response")
    assert data == b"" and isinstance(error, ConnectionResetError)
    connection = _connect(server)
    try:
        connection.request("GET", "/reset-before-response")
        with pytest.raises(ConnectionResetError):
            connection.getresponse()
    finally:
        connection.close()
    assert _records(server, "/reset-before-response")[-1]["status"] == "reset"


def test_short_content_length_closes_cleanly(server: MockServer) -> None:
    data, error = _raw(server, "/short-content-length")
    assert error is None
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 10000" in head and len(body) == 4000
    connection = _connect(server)
    try:
        connection.request("GET", "/short-content-length")
        with pytest.raises(http.client.IncompleteRead) as caught:
            connection.getresponse().read()
        assert len(caught.value.partial) == 4000
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path, head",
    [
        ("/bad-status-line", b"HTTP/1.1 OK-ish no status\r\n\r\n"),
        ("/bad-header-line", b"HTTP/1.1 200 OK\r\nthis line is not a header\r\n\r\nbody"),
    ],
)
def test_malformed_heads(server: MockServer, path: str, head: bytes) -> None:
    data, _ = _raw(server, path)
    assert data == head
    assert _records(server, path)[-1]["status"] == "malformed"


def test_broken_chunked(server: MockServer) -> None:
    data, error = _raw(server, "/broken-chunked")
    assert error is None
    assert b"Transfer-Encoding: chunked" in data and b"\r\nzz-not-hex\r\n" in data
    connection = _connect(server)
    try:
        connection.request("GET", "/broken-chunked")
        with pytest.raises(http.client.IncompleteRead):
            connection.getresponse().read()
    finally:
        connection.close()


# --- compression bombs -------------------------------------------------------------------------


def _decoder(encoding: str) -> Callable[[bytes], bytes]:
    """Decode a prefix of an encoded stream, never producing more than ~16 MiB from one call."""
    limit = 16 << 20
    if encoding in ("gzip", "deflate"):
        stream = zlib.decompressobj(31 if encoding == "gzip" else 15)
        return lambda data: stream.decompress(data, limit)
    if encoding == "br":
        import brotli

        stream = brotli.Decompressor()
        return stream.process
    import zstandard

    stream = zstandard.ZstdDecompressor().decompressobj()
    return stream.decompress


def _optional(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    ("route", "encoding", "module"),
    [
        ("gzip-bomb", "gzip", "zlib"),
        ("deflate-bomb", "deflate", "zlib"),
        ("br-bomb", "br", "brotli"),
        ("zstd-bomb", "zstd", "zstandard"),
    ],
)
def test_bombs(server: MockServer, route: str, encoding: str, module: str) -> None:
    if not _optional(module):
        assert _get(server, f"/{route}")[0] == 404
        return
    connection = _connect(server)
    try:
        connection.request("GET", f"/{route}")
        response = connection.getresponse()
        assert response.status == 200
        assert response.headers["Content-Encoding"] == encoding
        length = int(response.headers["Content-Length"])
        if encoding in ("gzip", "deflate"):
            assert 900_000 <= length <= 1_200_000  # ~1 MB on the wire for 1 GiB decoded
        else:
            assert length < 1_200_000
        prefix = response.read(min(length, 1 << 20))  # the first ~1 MB only, as a crawler would
    finally:
        connection.close()
    decode = _decoder(encoding)
    decoded = 0
    # Small slices keep each call's output small: br and zstd encode 1 MiB in a few dozen bytes.
    for offset in range(0, len(prefix), 16):
        out = decode(prefix[offset : offset + 16])
        assert out.count(0) == len(out), "zeros only"
        decoded += len(out)
        if decoded >= 4 << 20:
            break
    assert decoded >= 4 << 20


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_small_bombs_decode_exactly(server: MockServer, encoding: str) -> None:
    # Checks the piecewise construction (and the gzip/zlib checksums) end to end.
    size = 3 * (1 << 20) + 12345
    status, headers, body = _get(server, f"/{encoding}-bomb?size={size}")
    if not _optional({"br": "brotli", "zstd": "zstandard"}.get(encoding, "zlib")):
        assert status == 404
        return
    assert status == 200 and headers["Content-Encoding"] == encoding
    if encoding == "gzip":
        decoded = gzip.decompress(body)
    elif encoding == "deflate":
        decoded = zlib.decompress(body)
    elif encoding == "br":
        import brotli

        decoded = brotli.decompress(body)
    else:
        import zstandard

        decoded = zstandard.ZstdDecompressor().decompressobj().decompress(body)
    assert decoded == bytes(size)


def test_bomb_rejects_bad_size(server: MockServer) -> None:
    assert _get(server, "/gzip-bomb?size=-1")[0] == 400
    assert _get(server, "/gzip-bomb?size=lots")[0] == 400


# --- redirects and headers ---------------------------------------------------------------------


def test_redirect_chain(server: MockServer) -> None:
    hops = []
    path = "/redirect/3"
    for _ in range(10):
        status, headers, _ = _get(server, path)
        if status != 302:
            break
        path = headers["Location"]
        hops.append(path)
    assert hops == ["/redirect/2", "/redirect/1", "/page/redirected"]
    assert status == 200


@pytest.mark.parametrize(
    ("key", "location"),
    [("a", "/redirect-loop/b"), ("b", "/redirect-loop/a"), ("k1a", "/redirect-loop/k1b")],
)
def test_redirect_loop(server: MockServer, key: str, location: str) -> None:
    status, headers, _ = _get(server, f"/redirect-loop/{key}")
    assert status == 302 and headers["Location"] == location


def test_redirect_loop_to_itself(server: MockServer) -> None:
    assert _get(server, "/redirect-loop/self")[1]["Location"] == "/redirect-loop/self"


@pytest.mark.parametrize(
    "target", ["ftp://example.invalid/file", "javascript:alert(1)", "http://127.0.0.3:1/x"]
)
def test_redirect_to_anywhere(server: MockServer, target: str) -> None:
    status, headers, _ = _get(server, f"/redirect-to?url={quote(target, safe='')}&status=301")
    assert status == 301 and headers["Location"] == target
    status, headers, _ = _get(server, f"/redirect-to?url={quote(target, safe='')}")
    assert status == 302 and headers["Location"] == target


def test_redirect_to_rejects_non_redirect_status(server: MockServer) -> None:
    assert _get(server, "/redirect-to?url=/x&status=200")[0] == 400


def test_echo_headers(server: MockServer) -> None:
    sent = {"Authorization": "Bearer secret", "Cookie": "a=1", "X-Custom": "yes"}
    status, headers, body = _get(server, "/echo-headers", headers=sent)
    assert status == 200 and headers["Content-Type"] == "application/json"
    echoed = json.loads(body)
    assert echoed["authorization"] == "Bearer secret"
    assert echoed["cookie"] == "a=1" and echoed["x-custom"] == "yes"


# --- text encodings ----------------------------------------------------------------------------


def test_encoding_latin1_header(server: MockServer) -> None:
    _, headers, body = _get(server, "/encoding/latin1-header")
    assert headers["Content-Type"] == "text/html; charset=iso-8859-1"
    assert b"caf\xe9" in body and ENCODING_EXPECTED["latin1-header"] in body.decode("latin-1")


def test_encoding_meta(server: MockServer) -> None:
    _, headers, body = _get(server, "/encoding/meta")
    assert "charset" not in headers["Content-Type"]
    assert b'<meta charset="windows-1252">' in body and b"\x80" in body  # the euro sign
    assert ENCODING_EXPECTED["meta"] in body.decode("cp1252")


def test_encoding_bom(server: MockServer) -> None:
    _, headers, body = _get(server, "/encoding/bom")
    assert "charset" not in headers["Content-Type"]
    assert body.startswith(b"\xef\xbb\xbf")
    assert ENCODING_EXPECTED["bom"] in body.decode("utf-8-sig")


def test_encoding_invalid_utf8(server: MockServer) -> None:
    _, headers, body = _get(server, "/encoding/invalid-utf8")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"\xff\xfe" in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert ENCODING_EXPECTED["invalid-utf8"] in body.decode("utf-8", "replace")


def test_encoding_detect(server: MockServer) -> None:
    _, headers, body = _get(server, "/encoding/detect")
    assert "charset" not in headers["Content-Type"] and b"charset" not in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert ENCODING_EXPECTED["detect"] in body.decode("cp1252")


# --- robots.txt --------------------------------------------------------------------------------


@pytest.fixture
def robots(server: MockServer) -> Iterator[Callable[[str], None]]:
    """Set host 0's robots mode for one test; every host is back to ``allow`` afterwards."""

    def set_mode(mode: str) -> None:
        server.set_robots(mode, host=0)

    yield set_mode
    server.set_robots("allow")


def test_robots_default_allow_and_per_host(
    server: MockServer, robots: Callable[[str], None]
) -> None:
    assert _get(server, "/robots.txt")[2] == b"User-agent: *\nAllow: /\n"
    assert server.set_robots("disallow-private", host=1) == ["allow", "disallow-private"]
    assert b"Disallow: /private/" in _get(server, "/robots.txt", host=1)[2]
    assert b"Allow: /" in _get(server, "/robots.txt", host=0)[2]
    assert server.set_robots("404") == ["404", "404"]
    assert _get(server, "/robots.txt", host=1)[0] == 404


def test_robots_bad_control_requests(server: MockServer) -> None:
    assert _get(server, "/__robots?host=0&mode=nonsense")[0] == 400
    assert _get(server, "/__robots?host=7&mode=allow")[0] == 400


@pytest.mark.parametrize(
    ("mode", "status", "contains"),
    [
        ("allow", 200, b"User-agent: *\nAllow: /\n"),
        ("disallow-private", 200, b"User-agent: *\nDisallow: /private/\n"),
        ("crawl-delay-2", 200, b"User-agent: *\nCrawl-delay: 2\nAllow: /\n"),
        ("agent-specific", 200, b"User-agent: scraper\nDisallow: /private/\n"),
        ("agent-custom", 200, b"User-agent: custombot\nDisallow: /private/\n"),
        ("crawl-delay-30", 200, b"User-agent: *\nCrawl-delay: 30\nAllow: /\n"),
        ("404", 404, b""),
        ("500", 500, b""),
        ("redirect", 301, b""),
    ],
)
def test_robots_simple_modes(
    server: MockServer, robots: Callable[[str], None], mode: str, status: int, contains: bytes
) -> None:
    robots(mode)
    got_status, headers, body = _get(server, "/robots.txt")
    assert got_status == status and contains in body
    if mode == "agent-specific":
        assert body.endswith(b"User-agent: *\nAllow: /\n")
    if mode == "redirect":
        assert headers["Location"] == "/robots-real.txt"
        assert b"Disallow: /private/" in _get(server, "/robots-real.txt")[2]


def test_robots_redirect_loop(server: MockServer, robots: Callable[[str], None]) -> None:
    robots("redirect-loop")
    path, seen = "/robots.txt", []
    for _ in range(ROBOTS_LOOP_HOPS + 1):
        status, headers, _ = _get(server, path)
        assert status == 301
        path = headers["Location"]
        seen.append(path)
    assert len(seen) >= 6 and seen[-1] == "/robots.txt", "a loop back to the start"


@pytest.mark.parametrize("hops", [5, 6])
def test_robots_redirect_chains(
    server: MockServer, robots: Callable[[str], None], hops: int
) -> None:
    robots(f"redirect-{hops}")
    path, seen = "/robots.txt", 0
    for _ in range(10):
        status, headers, body = _get(server, path)
        if status != 301:
            break
        path, seen = headers["Location"], seen + 1
    assert (seen, path) == (hops, "/robots-real.txt") and b"Disallow: /private/" in body


def test_robots_500_then_allow_and_off_host(
    server: MockServer, robots: Callable[[str], None]
) -> None:
    robots("500-then-allow")
    assert [_get(server, "/robots.txt")[0] for _ in range(3)] == [500, 200, 200]
    robots("redirect-off-host")
    status, headers, _ = _get(server, "/robots.txt")
    assert status == 301 and headers["Location"] == server.hosts[1] + "/echo-headers"
    robots("redirect-invalid")
    status, headers, _ = _get(server, "/robots.txt")
    assert status == 301 and headers["Location"] == "http://[::1/robots.txt"


def test_robots_huge(server: MockServer, robots: Callable[[str], None]) -> None:
    robots("huge")
    status, _, body = _get(server, "/robots.txt")
    assert status == 200 and len(body) == 1 << 20
    assert body.index(b"Disallow: /private/") == ROBOTS_HUGE_RULE_AT > 500 * 1024
    assert body.startswith(b"User-agent: *\n") and b"Disallow" not in body[: 500 * 1024]
    lines = body.split(b"\n")
    assert all(line.startswith((b"#", b"User-agent", b"Disallow")) for line in lines[:-1])


def test_robots_timeout_and_reset(server: MockServer, robots: Callable[[str], None]) -> None:
    robots("timeout")
    connection = _connect(server, timeout=0.3)
    try:
        connection.request("GET", "/robots.txt")
        with pytest.raises(TimeoutError):
            connection.getresponse()
    finally:
        connection.close()
    assert _records(server, "/robots.txt")[-1]["status"] == "hang"
    robots("reset")
    data, error = _raw(server, "/robots.txt")
    assert data == b"" and isinstance(error, ConnectionResetError)
    assert _records(server, "/robots.txt")[-1]["status"] == "reset"


def test_every_robots_mode_is_tested() -> None:
    tested = {"allow", "disallow-private", "crawl-delay-2", "agent-specific", "404", "500"}
    tested |= {"redirect", "redirect-loop", "huge", "timeout", "reset"}
    tested |= {"agent-custom", "crawl-delay-30", "redirect-5", "redirect-6"}
    tested |= {"500-then-allow", "redirect-off-host", "redirect-invalid"}
    assert tested == set(ROBOTS_MODES)


def test_private_page(server: MockServer) -> None:
    status, _, body = _get(server, "/private/secret")
    assert status == 200 and b"<title>secret</title>" in body


def test_unknown_route(server: MockServer) -> None:
    assert _get(server, "/no/such/route")[0] == 404


# --- the request log ---------------------------------------------------------------------------


def test_log_records_requests_on_every_host(server: MockServer) -> None:
    server.clear_log()
    assert server.log() == []
    before = time.monotonic()
    _get(server, "/page/logged?links=a", host=0, headers={"User-Agent": "log-test"})
    _get(server, "/status/418", host=1)
    _get(server, "/__robots")  # control routes are not logged
    log = _finished_log(server)
    after = time.monotonic()
    assert [(r["host"], r["path"], r["status"]) for r in log] == [
        (urlsplit(server.hosts[0]).hostname, "/page/logged?links=a", 200),
        (urlsplit(server.hosts[1]).hostname, "/status/418", 418),
    ]
    for record in log:
        assert before <= record["start"] <= record["end"] <= after  # one clock for both processes
        assert record["method"] == "GET"
    assert log[0]["headers"]["user-agent"] == "log-test"
    server.clear_log()
    assert server.log() == []


def test_log_times_a_slow_request(server: MockServer) -> None:
    _get(server, "/slow/0.2")
    [record] = [r for r in _finished_log(server) if r["path"] == "/slow/0.2"][-1:]
    assert record["end"] - record["start"] >= 0.2
