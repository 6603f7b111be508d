"""Security: stored requests are data (a pickle planted in a job folder or in Redis is refused,
never run), Redis with a password and TLS, secrets kept out of what is printed, and the
private-network guard."""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import pickle
import socket
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from conftest import TEST_SPIDERS, read_jsonl, run_cli
from mockserver import MockServer

from scraper.distributed import RedisFrontier
from scraper.distributed.connection import warn_if_open
from scraper.errors import PrivateAddress
from scraper.fetcher import Fetcher
from scraper.frontier import MemoryFrontier
from scraper.guard import AddressGuard
from scraper.item import Field, Item
from scraper.jobdir import SQLiteJournal
from scraper.models import Request
from scraper.records import InvalidRecord, decode_request, encode_request
from scraper.redact import redact_text, redact_url
from scraper.settings import Settings

# fixtures: redis_server, secured_redis, crawl_name
pytest_plugins = ["redis_server"]
PASSWORD = (
    "pw-6Jq2rZ"  # redis_server.SECRET_PASSWORD: a string that appears nowhere unless it leaks
)


class _Planted:
    """Unpickling this opens ``path`` for writing: the file appearing means code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.path), "w"))


def planted_pickle(marker: Path) -> bytes:
    payload = pickle.dumps(_Planted(marker))
    pickle.loads(payload).close()  # the payload is live: loading it makes the file
    assert marker.exists()
    marker.unlink()
    return payload


# -- records ---------------------------------------------------------------------------------
def test_a_request_round_trips_through_its_record():
    request = Request(
        "https://example.org/a?b=c",
        callback="parse_item",
        method="post",
        headers={"Authorization": "Bearer x", "X-Raw": b"\xff"},  # type: ignore[dict-item]
        body=b"\x00\x01binary",
        meta={
            "depth": 2,
            "blob": b"\x00\xff",
            "pair": (1, "two"),
            "when": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
            "day": date(2024, 5, 1),
            "dollar": {"$bytes": "not a tag"},
            "nested": [{"a": None, "b": [1.5, True]}],
        },
        cb_kwargs={"item": {"title": "x"}},
        priority=-3,
        dont_filter=True,
    )
    request.attempts = 2
    copy = decode_request(encode_request(request))
    assert copy.__getstate__() == request.__getstate__()
    assert type(copy.meta["pair"]) is tuple and copy.meta["dollar"] == {"$bytes": "not a tag"}


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x04K\x01.",  # a pickle
        b"not json",
        b"[1, 2]",
        b'{"v": 99, "url": "http://a/"}',
        b'{"v": 1}',
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser goes
        encode_request(Request("http://a.example/", meta={"depth": "deep"})),
        encode_request(Request("http://a.example/", meta={"redirect_urls": [1]})),
        encode_request(Request("http://a.example/")).replace(  # nested past the recursion limit
            b'"meta":{}', b'"meta":{"a":' + b'{"$tuple":[' * 5000 + b"]}" * 5000 + b"}"
        ),
    ],
)
def test_a_record_that_does_not_parse_is_invalid(data):
    with pytest.raises(InvalidRecord):
        decode_request(data)


def test_a_record_cannot_name_a_private_callback():
    record = json.loads(encode_request(Request("http://a.example/", callback="parse")))
    record["callback"] = "__init__"
    with pytest.raises(InvalidRecord, match="not a spider method"):
        decode_request(json.dumps(record))


@pytest.mark.parametrize(
    ("meta", "where"),
    [
        ({"handle": "FILE"}, "meta['handle'] is a TextIOWrapper"),
        ({"fn": lambda: 0}, "meta['fn'] is a function"),
        ({"deep": {"list": [1, object()]}}, "meta['deep']['list'][1] is a object"),
        ({"keys": {1: "x"}}, "meta['keys'] has a int key 1"),
    ],
)
def test_a_value_no_record_can_hold_is_refused_when_the_request_is_made(meta, where, tmp_path):
    with open(tmp_path / "f", "w") as handle:
        meta = {k: (handle if v == "FILE" else v) for k, v in meta.items()}
        with pytest.raises(TypeError) as refused:
            Request("http://a.example/", meta=meta)
    message = str(refused.value)
    assert message.startswith(f"Request {where}") and "\n" not in message
    with pytest.raises(TypeError, match=r"Request cb_kwargs\['x'\] is a function"):
        Request("http://a.example/", cb_kwargs={"x": lambda: 0})


class Product(Item):
    name = Field()
    tags = Field()


class Guarded(Product):
    built = 0

    def __init__(self, *args, **kwargs):  # a constructor of the spider's: never run by a record
        type(self).built += 1
        super().__init__(*args, **kwargs)


@dataclasses.dataclass
class Listing:
    title: str
    when: date


def test_items_in_meta_are_stored_as_their_fields_as_scrapy_spiders_pass_them():
    """Scrapy's idiom meta={"item": item}: an Item comes back as its class (its own
    constructor, which only sets fields); other items, and Items with a constructor of their
    own, come back as dicts of their fields."""
    request = Request(
        "http://a.example/",
        meta={"item": Product(name="n", tags=("a", b"b"))},
        cb_kwargs={"listing": Listing("t", date(2026, 1, 2)), "plain": OrderedDict(a=1)},
    )
    back = decode_request(encode_request(request))
    assert type(back.meta["item"]) is Product
    assert dict(back.meta["item"]) == {"name": "n", "tags": ("a", b"b")}
    assert back.cb_kwargs == {
        "listing": {"title": "t", "when": date(2026, 1, 2)},
        "plain": {"a": 1},
    }
    guarded = Request("http://a.example/", meta={"item": Guarded(name="g")})
    assert decode_request(encode_request(guarded)).meta["item"] == {"name": "g"}
    assert Guarded.built == 1
    with pytest.raises(TypeError, match=r"Request meta\['item'\]\['name'\] is a function"):
        Request("http://a.example/", meta={"item": Product(name=lambda: 0)})


def test_a_spider_putting_a_lambda_in_meta_gets_one_line(tmp_path):
    spider = tmp_path / "bad.py"
    spider.write_text(
        "from scraper import Spider, Request\n"
        "class Bad(Spider):\n"
        "    name = 'bad'\n"
        "    def start_requests(self):\n"
        "        yield Request('http://127.0.0.1:9/', meta={'hook': lambda r: r})\n"
    )
    result = run_cli(str(spider), "-O", str(tmp_path / "out.jsonl"), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("crawl: error: "), result.stderr
    assert "meta['hook'] is a function" in lines[0]


# -- planted pickles -------------------------------------------------------------------------
def fanout_args(site, tmp_path: Path, *extra: str) -> list[str]:
    return [
        str(TEST_SPIDERS / "fanout.py"),
        "-O",
        str(tmp_path / "out.jsonl"),
        "-s",
        "PARSE_WORKERS=0",
        "-s",
        "ROBOTSTXT_OBEY=false",
        *extra,
    ]


def test_a_pickle_planted_in_a_job_folder_is_skipped_never_run(tmp_path, demo_site):
    site = demo_site(hosts=1, rate=1000, fanout=2, fanout_total=3)
    marker = tmp_path / "pwned"
    payload = planted_pickle(marker)
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    frontier = MemoryFrontier(journal=SQLiteJournal(jobdir))
    frontier.add(Request(f"{site.base_urls[0]}/fanout/0"))
    frontier.finish_seeding()
    frontier.shutdown()
    with sqlite3.connect(jobdir / "frontier.sqlite") as db:
        db.execute("INSERT INTO requests (state, data) VALUES (0, ?)", (payload,))

    start = f"start_urls={site.base_urls[0]}/fanout/0"  # the same command as the first run
    result = run_cli(*fanout_args(site, tmp_path, "-a", start, "--jobdir", str(jobdir)),
                     cwd=tmp_path)  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "request 2 is not a valid record (not a JSON record" in result.stderr
    assert not marker.exists()
    urls = {item["url"] for item in read_jsonl(tmp_path / "out.jsonl")}
    assert urls == {f"{site.base_urls[0]}/fanout/{i}" for i in range(3)}


def test_a_pickle_planted_in_redis_is_dead_lettered_never_run(
    tmp_path, demo_site, redis_server, crawl_name
):
    site = demo_site(hosts=1, rate=1000, fanout=2, fanout_total=3)
    marker = tmp_path / "pwned"
    payload = planted_pickle(marker)
    seeder = RedisFrontier(redis_server.url, crawl_name)
    seeder.add_many([Request(f"{site.base_urls[0]}/fanout/{i}") for i in (0, 9)])
    seeder.finish_seeding()
    seeder.shutdown()
    client = redis.Redis.from_url(redis_server.url)
    client.hset(f"{{{crawl_name}}}:req", "2", payload)  # the /fanout/9 request

    start = f"start_urls={site.base_urls[0]}/fanout/0"  # as the seeding worker's
    args = ["-a", start, "--frontier", redis_server.url, "--crawl-name", crawl_name]
    result = run_cli(*fanout_args(site, tmp_path, *args), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "request 2 in Redis is not a valid record (not a JSON record" in result.stderr
    assert not marker.exists()
    urls = {item["url"] for item in read_jsonl(tmp_path / "out.jsonl")}
    assert urls == {f"{site.base_urls[0]}/fanout/{i}" for i in range(3)}
    dead = [json.loads(e) for e in client.lrange(f"{{{crawl_name}}}:dead", 0, -1)]
    assert dead == [
        {"url": f"{site.base_urls[0]}/fanout/9", "reason": "invalid_record", "expiries": 0,
         "worker": dead[0]["worker"]}
    ]  # fmt: skip


# -- Redis with a password and TLS -----------------------------------------------------------
def redis_cli_args(server, url: str | None = None) -> list[str]:
    args = ["--frontier", url or server.url]
    if server.tls is not None:
        args += ["-s", f"REDIS_SSL_CA_CERTS={server.tls.ca}"]
    return args


def test_a_crawl_on_a_secured_redis_works_and_never_shows_the_password(
    tmp_path, demo_site, secured_redis, crawl_name
):
    site = demo_site(hosts=1, rate=1000, fanout=2, fanout_total=6)
    start = f"start_urls={site.base_urls[0]}/fanout/0"
    args = [*redis_cli_args(secured_redis), "--crawl-name", crawl_name]

    crawl = run_cli(*fanout_args(site, tmp_path, "-a", start, "-L", "DEBUG", *args), cwd=tmp_path)
    status = run_cli("--status", *args, cwd=tmp_path)

    assert crawl.returncode == 0, crawl.stderr
    urls = {item["url"] for item in read_jsonl(tmp_path / "out.jsonl")}
    assert urls == {f"{site.base_urls[0]}/fanout/{i}" for i in range(6)}, crawl.stderr[-3000:]
    assert status.returncode == 0 and f"crawl {crawl_name}: finished" in status.stdout
    written = [p.read_text() for p in tmp_path.rglob("*.jsonl")]
    for text in (crawl.stdout, crawl.stderr, status.stdout, status.stderr, *written):
        assert PASSWORD not in text
    assert "takes no password" not in crawl.stderr


def test_a_wrong_redis_password_is_one_line(tmp_path, demo_site, secured_redis, crawl_name):
    site = demo_site(hosts=1, rate=1000, fanout=2, fanout_total=2)
    wrong = secured_redis.url.replace(PASSWORD, "wrong-Zq81")

    result = run_cli(*fanout_args(site, tmp_path, *redis_cli_args(secured_redis, wrong)),
                     cwd=tmp_path)  # fmt: skip

    assert result.returncode == 1
    shown = wrong.replace("wrong-Zq81", "***")
    assert result.stderr.splitlines() == [
        f"crawl: error: Redis at {shown} refused the credentials: "
        "invalid username-password pair or user is disabled."
    ]
    assert not site.requests()


@pytest.mark.parametrize("secured_redis", ["password+tls"], indirect=True)
def test_tls_without_the_ca_is_one_line(tmp_path, secured_redis, crawl_name):
    result = run_cli("--status", "--frontier", secured_redis.url, "--crawl-name", crawl_name,
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.startswith("crawl: error: cannot reach Redis at rediss://:***@127.0.0.1:")
    assert "certificate verify failed" in line and "\n" not in line and PASSWORD not in line


def test_a_redis_off_this_machine_without_a_password_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="scraper.redis"):
        warn_if_open("127.0.0.1", "redis://127.0.0.1:6379/0")
        warn_if_open("localhost", "redis://localhost:6379/0")
        assert caplog.messages == []
        warn_if_open("10.20.30.40", "redis://10.20.30.40:6379/0")
    assert len(caplog.messages) == 1
    assert caplog.messages[0].startswith("Redis at redis://10.20.30.40:6379/0 is not on this")


# -- the private-network guard ---------------------------------------------------------------
# 127.0.0.2 stands in for a public site, 127.0.0.3 for a private address and 127.0.0.4 for an
# intranet network on the allow-list.
GUARDED = [
    *("-s", "PRIVATE_NETWORKS=127.0.0.3/32,127.0.0.4/32"),
    *("-s", "ALLOWED_NETWORKS=127.0.0.4/32"),
]


def guarded_crawl(server: MockServer, tmp_path: Path, start: str, *settings: str):
    result = run_cli(
        str(TEST_SPIDERS / "follow.py"),
        "-O",
        str(tmp_path / "out.jsonl"),
        "-a",
        f"start_urls={start}",
        *("-s", "PARSE_WORKERS=0"),  # callbacks are beside the point here: no pool to start
        *GUARDED,
        *settings,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return read_jsonl(tmp_path / "out.jsonl"), read_jsonl(tmp_path / "out.failures.jsonl")


def test_links_and_redirects_to_denied_addresses_fail_as_private_address(tmp_path):
    with MockServer(hosts=3) as server:
        linked, redirected = server.url("/page/linked", 1), server.url("/page/redirected", 1)
        allowed = server.url("/page/allowed", 2)
        to = [linked, f"/redirect-to?url={quote(redirected, safe='')}", allowed]
        start = server.url(f"/page/start?to={quote(','.join(to), safe='/')}")
        items, failures = guarded_crawl(server, tmp_path, start)
        log = server.log()
    assert {(f["url"], f["reason"], f["attempts"]) for f in failures} == {
        (linked, "private_address", 1),
        (redirected, "private_address", 1),
    }
    assert "127.0.0.3 connected" not in str(failures) and "resolves to 127.0.0.3" in str(failures)
    assert {item["url"] for item in items} == {start, allowed}
    assert not [r for r in log if r["host"] == "127.0.0.3"]  # not even robots.txt
    assert {(r["host"], r["path"]) for r in log if r["host"] == "127.0.0.4"} == {
        ("127.0.0.4", "/robots.txt"),
        ("127.0.0.4", "/page/allowed"),
    }


def test_a_start_url_on_a_private_address_turns_the_guard_off_by_default(tmp_path):
    with MockServer(hosts=2) as server:
        linked = server.url("/page/linked", 0)
        start = server.url(f"/page/start?to={quote(linked, safe='/')}", 1)  # on 127.0.0.3
        items, failures = guarded_crawl(server, tmp_path, start)
        forced, forced_failures = guarded_crawl(
            server, tmp_path, start, "-s", "DENY_PRIVATE_ADDRESSES=true"
        )
    assert failures == [] and {item["url"] for item in items} == {start, linked}
    assert forced == [] and [f["reason"] for f in forced_failures] == ["private_address"]


class _CountingServer(ThreadingHTTPServer):
    """Answers every GET with its own address and counts the connections it accepted."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.connections = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.server.server_address[0].encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(address, Handler)

    def process_request(self, request, client_address):  # type: ignore[no-untyped-def]
        self.connections += 1
        super().process_request(request, client_address)


@pytest.fixture
def public_and_private_on_one_port() -> Iterator[tuple[_CountingServer, _CountingServer]]:
    for _ in range(20):  # the port the kernel picked on one address may be taken on the other
        public = _CountingServer(("127.0.0.2", 0))
        try:
            private = _CountingServer(("127.0.0.3", public.server_address[1]))
            break
        except OSError as exc:
            public.server_close()
            if exc.errno != errno.EADDRINUSE:
                raise
    else:
        pytest.fail("no port free on both 127.0.0.2 and 127.0.0.3 in 20 tries")
    servers = (public, private)
    threads = [threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield public, private
    for server in (public, private):
        server.shutdown()
        server.server_close()


def test_a_dns_answer_that_changes_between_lookups_cannot_slip_through(
    public_and_private_on_one_port, monkeypatch
):
    """rebind.example answers a public address to its first lookup and a private one to every
    later lookup. A guard that checked the name and then let the connection look it up again
    would connect to the private one; here the connection goes to the address checked."""
    public, private = public_and_private_on_one_port
    lookup = socket.getaddrinfo
    answers = iter(["127.0.0.2"])

    def rebinding(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "rebind.example":
            host = next(answers, "127.0.0.3")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    guard = AddressGuard("true", private=["127.0.0.3/32"])
    fetcher = Fetcher.from_settings(Settings(), guard=guard)
    url = f"http://rebind.example:{public.server_address[1]}/"
    try:
        first = fetcher.fetch(Request(url))
        with pytest.raises(PrivateAddress, match="rebind.example resolves to 127.0.0.3"):
            fetcher.fetch(Request(url))  # the server closed the first connection: a new one
    finally:
        fetcher.close()
    assert first.body == b"127.0.0.2"
    assert (public.connections, private.connections) == (1, 0)


# -- secrets stay secret ---------------------------------------------------------------------
SECRETS = ("hunter2-pw", "tok-5521", "sid-7734", "proxy-pw-99")


@pytest.mark.parametrize("workers", ["0", "1"])
def test_credentials_never_reach_the_log_or_the_failures_file(tmp_path, workers):
    """A page fetched with a password in its URL, an Authorization header and a cookie, whose
    callback logs its request's headers and URL and fails; a link of it that fails too; a proxy
    with a password for other hosts. No secret appears in the output or the failures file."""
    spider = tmp_path / "secretive.py"
    spider.write_text(
        "from scraper import Request, Spider\n"
        "class Secretive(Spider):\n"
        "    name = 'secretive'\n"
        "    page = ''\n"
        "    def start_requests(self):\n"
        "        yield Request(self.page, headers={'Authorization': 'Bearer tok-5521',\n"
        "                                            'Cookie': 'sid=sid-7734'})\n"
        "    def parse(self, response):\n"
        "        self.logger.warning('fetched %s with %r', response.request.url,\n"
        "                            response.request.headers)\n"
        "        yield response.follow('/status/404', headers=response.request.headers)\n"
        "        raise ValueError(f'failing on purpose: {response.request.headers}')\n"
    )
    with MockServer(hosts=1) as server:
        start = server.url("/page/a").replace("http://", "http://user:hunter2-pw@")
        result = run_cli(
            str(spider), "-O", str(tmp_path / "out.jsonl"), "-a", f"page={start}",
            "-s", f"PARSE_WORKERS={workers}", "-L", "DEBUG", cwd=tmp_path,
            env={"HTTP_PROXY": "http://proxy:proxy-pw-99@127.0.0.1:9", "NO_PROXY": "127.0.0.2"},
        )  # fmt: skip
        log = server.log()
    assert result.returncode == 0, result.stderr
    assert "fetched http://user:***@127.0.0.2" in result.stderr  # the callback's line ran
    assert "'Authorization': '***'" in result.stderr and "'Cookie': '***'" in result.stderr
    failures = read_jsonl(tmp_path / "out.failures.jsonl")
    assert sorted(f["reason"] for f in failures) == ["callback_error", "http_404"]
    assert all(f["url"].startswith("http://user:***@127.0.0.2") for f in failures)
    written = (tmp_path / "out.failures.jsonl").read_text()
    for secret in SECRETS:
        assert secret not in result.stderr and secret not in result.stdout
        assert secret not in written
    assert any(r["headers"].get("authorization") == "Bearer tok-5521" for r in log)  # still sent


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://:pw@10.0.0.5:6379/0", "redis://:***@10.0.0.5:6379/0"),
        (
            "see http://user:pw@host/x and https://u:p@h/",
            "see http://user:***@host/x and https://u:***@h/",
        ),
        ("http://user@host/x", "http://user@host/x"),  # a user name is not a secret
        ("Authorization: Basic dXNlcjpwdw==", "Authorization: ***"),
        ("{'Cookie': 'sid=1', 'Accept': '*/*'}", "{'Cookie': '***', 'Accept': '*/*'}"),
        ("[(b'proxy-authorization', b'Basic eA==')]", "[(b'proxy-authorization', b'***')]"),
        ("set-cookie=a=b", "set-cookie=***"),
        ("no secrets at all", "no secrets at all"),
    ],
)
def test_redact_text(text, masked):
    assert redact_text(text) == masked


def test_redact_url():
    assert redact_url("http://u:p@h:8080/a?b#c") == "http://u:***@h:8080/a?b#c"
    assert redact_url("http://h/a@b") == "http://h/a@b"
