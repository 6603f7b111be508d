"""The fetch layer against respx (httpx's transport patched): retries, Retry-After, caps,
headers, robots.txt. Time is a fake clock; nothing sleeps."""

import email.utils
import gzip
import time
import zlib
from collections.abc import Iterator

import brotli
import httpx
import pytest
import respx
import zstandard

from scraper.errors import LeaseLost, ResponseTooLarge
from scraper.fetch import FetchOutcomes, FetchPool, fetch_policies
from scraper.fetcher import Fetcher
from scraper.frontier import MemoryFrontier
from scraper.models import Request, Response
from scraper.politeness import Politeness
from scraper.queues import BoundedQueue
from scraper.redirect import Follow, RedirectPolicy
from scraper.retry import parse_retry_after
from scraper.settings import Settings
from scraper.stats import Stats, WorkCounts
from scraper.store import Lease, Wait


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class Rig:
    """One FetchPool wired to an in-memory frontier and a fake clock; no threads started."""

    def __init__(self, **overrides: object) -> None:
        self.settings = Settings()
        self.settings.update({"ROBOTSTXT_OBEY": False, **overrides}, "test")
        self.clock = FakeClock()
        self.wall = FakeClock()
        self.wall.now = 1_800_000_000.0  # a wall-clock time, for Retry-After dates
        self.frontier = MemoryFrontier(Politeness.from_settings(self.settings), clock=self.clock)
        self.responses: BoundedQueue[Response] = BoundedQueue(100)
        self.stats = Stats()
        self.work = WorkCounts()
        self.failed: list[tuple[str, str]] = []
        self.redirects: list[tuple[Request, Request]] = []
        fetcher = Fetcher.from_settings(self.settings, on_send=self.frontier.mark_sent)
        self.pool = FetchPool(
            threads=self.settings.CONCURRENT_REQUESTS,
            frontier=self.frontier,
            fetcher=fetcher,
            policies=fetch_policies(
                self.settings, fetcher, None, self.stats, self.clock, self.wall
            ),
            outcomes=FetchOutcomes(
                accept_status=lambda request, status: 200 <= status < 300,
                failed=lambda request, kind, detail: self.failed.append((request.url, kind)),
                redirected=lambda request, target: self.redirects.append((request, target)),
                rescheduled=lambda request, target: self.redirects.append((request, target)),
            ),
            responses=self.responses,
            work=self.work,
            stats=self.stats,
            clock=self.clock,
        )

    def add(self, url: str) -> None:
        self.frontier.add(Request(url))

    def step(self) -> Request | float | None:
        """Lease the next ready request and process it, as one fetch thread would. Returns
        it, or the seconds until one is ready, or None when nothing is queued."""
        match self.frontier.next():
            case Lease(request):
                self.pool.process(request)
                return request
            case Wait(seconds):
                return seconds
        return None

    def waiting(self) -> float:
        """Seconds until the frontier hands out a request: it hands out none now."""
        got = self.frontier.next()
        assert isinstance(got, Wait), got
        return got.seconds


@respx.mock
def test_transport_error_is_retried_through_the_frontier_then_succeeds():
    route = respx.get("http://a.test/page").mock(
        side_effect=[httpx.ReadError("reset"), httpx.Response(200, text="ok")]
    )
    rig = Rig(RETRY_BACKOFF_BASE=1.0)
    rig.add("http://a.test/page")
    rig.step()
    assert route.call_count == 1 and len(rig.responses) == 0
    assert rig.stats.counters["retries"] == 1
    wait = rig.waiting()
    assert 1.0 <= wait <= 2.0  # backoff 1 s + jitter < 1 s
    rig.clock.now += wait
    rig.step()
    assert route.call_count == 2
    assert rig.responses.get(timeout=0).body == b"ok"
    assert rig.failed == []


@respx.mock
def test_a_host_that_refuses_backs_off_as_a_whole_without_using_up_retries():
    route = respx.get(url__regex=r"http://a\.test/.*").mock(
        side_effect=[httpx.ConnectError("refused")] * 4 + [httpx.Response(200, text="ok")] * 2
    )
    respx.get("http://b.test/fine").mock(return_value=httpx.Response(200))
    rig = Rig(RETRY_BACKOFF_BASE=1.0, HOST_DOWN_BACKOFF_MAX=3.0, RETRY_TIMES=1)
    rig.add("http://a.test/1")
    rig.add("http://a.test/2")
    waits = []
    for _ in range(4):  # 1 s, 2 s, then the cap: 3 s, 3 s; attempts never count
        assert isinstance(rig.step(), Request)
        wait = rig.waiting()
        waits.append(wait)
        rig.clock.now += wait
    assert waits == [1.0, 2.0, 3.0, 3.0]
    assert rig.failed == [] and rig.stats.counters["retries"] == 0
    rig.add("http://b.test/fine")  # another host is not held back meanwhile
    assert rig.step().url == "http://b.test/fine"
    while rig.step() is not None:
        pass
    assert route.call_count == 6 and rig.failed == []
    assert sorted(rig.responses.get(timeout=0).url for _ in range(3)) == [
        "http://a.test/1",
        "http://a.test/2",
        "http://b.test/fine",
    ]
    [outage] = rig.pool.outages.reports(rig.clock.now)
    assert outage.recovered and outage.seconds == 9.0 and outage.cause == "ConnectError: refused"


@respx.mock
def test_503_with_retry_after_seconds_pushes_back_the_whole_host():
    respx.get("http://a.test/busy").mock(
        return_value=httpx.Response(503, headers={"Retry-After": "7"})
    )
    respx.get(url__regex=r"http://a\.test/other.*").mock(return_value=httpx.Response(200))
    respx.get("http://b.test/fine").mock(return_value=httpx.Response(200))
    rig = Rig()
    rig.add("http://a.test/other")
    rig.add("http://a.test/busy")  # newest: fetched first
    rig.add("http://b.test/fine")
    rig.step()  # a.test/busy -> 503
    got = rig.step()  # a.test is deferred, so the next request comes from b.test
    assert isinstance(got, Request) and got.host == "b.test"
    assert rig.waiting() == pytest.approx(7.0)
    rig.clock.now += 7.0
    got = rig.step()
    assert isinstance(got, Request) and got.host == "a.test"


@respx.mock
@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_http_date_pushes_back_the_whole_host(status):
    rig = Rig()
    when = email.utils.formatdate(rig.wall.now + 120, usegmt=True)
    respx.get("http://a.test/limited").mock(
        side_effect=[
            httpx.Response(status, headers={"Retry-After": when}),
            httpx.Response(200, text="late"),
        ]
    )
    respx.get("http://a.test/other").mock(return_value=httpx.Response(200, text="other"))
    respx.get("http://b.test/fine").mock(return_value=httpx.Response(200, text="fine"))
    rig.add("http://a.test/other")
    rig.add("http://a.test/limited")  # newest: fetched first
    rig.add("http://b.test/fine")
    rig.step()  # a.test/limited -> Retry-After: a date 120 s ahead
    assert rig.stats.counters["http_429"] == (status == 429)
    got = rig.step()  # the whole of a.test waits; b.test does not
    assert isinstance(got, Request) and got.host == "b.test"
    assert rig.waiting() == pytest.approx(120.0)
    rig.clock.now += 120.0
    assert rig.step().host == "a.test"
    assert rig.step().host == "a.test"
    assert sorted(rig.responses.get(timeout=0).text for _ in range(3)) == ["fine", "late", "other"]


def test_the_client_takes_any_httpx_transport():
    """The fetcher's transport is the seam: here httpx.MockTransport, no patching."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Type": "text/html"}, text="<p>mock</p>")

    settings = Settings()
    response = Fetcher.from_settings(settings, httpx.MockTransport(answer)).fetch(
        Request("http://a.test/page", headers={"X-Test": "1"})
    )
    assert (response.status, response.text) == (200, "<p>mock</p>")
    assert [str(r.url) for r in seen] == ["http://a.test/page"]
    assert seen[0].headers["User-Agent"] == settings.USER_AGENT
    assert seen[0].headers["X-Test"] == "1"


@respx.mock
def test_404_is_not_retried():
    route = respx.get("http://a.test/missing").mock(return_value=httpx.Response(404))
    rig = Rig()
    rig.add("http://a.test/missing")
    rig.step()
    assert route.call_count == 1
    assert rig.failed == [("http://a.test/missing", "http_404")]
    assert rig.frontier.queued == 0 and rig.stats.counters["retries"] == 0


@respx.mock
def test_attempts_are_capped_by_retry_times():
    route = respx.get("http://a.test/broken").mock(return_value=httpx.Response(500))
    rig = Rig(RETRY_TIMES=3)
    rig.add("http://a.test/broken")
    for _ in range(10):
        got = rig.step()
        if got is None:
            break
        if isinstance(got, float):
            rig.clock.now += got
    assert route.call_count == 4  # the first attempt and 3 retries
    assert rig.stats.counters["retries"] == 3
    assert rig.failed == [("http://a.test/broken", "http_500")]


@respx.mock
def test_timeouts_are_retried_and_then_fail_as_timeout():
    respx.get("http://a.test/slow").mock(side_effect=httpx.ReadTimeout("slow"))
    rig = Rig(RETRY_TIMES=1)
    rig.add("http://a.test/slow")
    rig.step()
    rig.clock.now += rig.waiting()
    rig.step()
    assert rig.failed == [("http://a.test/slow", "timeout")]  # counted where it is recorded


@respx.mock
def test_body_over_maxsize_fails_without_retry():
    route = respx.get("http://a.test/huge").mock(
        return_value=httpx.Response(200, content=b"x" * 5000)
    )
    rig = Rig(DOWNLOAD_MAXSIZE=1000)
    rig.add("http://a.test/huge")
    rig.step()
    assert route.call_count == 1
    assert rig.failed == [("http://a.test/huge", "too_large")]


@respx.mock
def test_maxsize_applies_to_the_decoded_body():
    packed = gzip.compress(b"a" * 50_000)
    respx.get("http://a.test/bomb").mock(
        return_value=httpx.Response(200, content=packed, headers={"Content-Encoding": "gzip"})
    )
    rig = Rig(DOWNLOAD_MAXSIZE=10_000)
    assert len(packed) < 10_000
    rig.add("http://a.test/bomb")
    rig.step()
    assert rig.failed == [("http://a.test/bomb", "too_large")]


MAXSIZE = 600_000  # more than two of the decoders' output steps


def _encode(body: bytes, how: str) -> tuple[bytes | Iterator[bytes], dict[str, str]]:
    """``body`` as a server sends it: with a Content-Length, streamed without one (chunked), or
    compressed (the Content-Length then counts the compressed bytes)."""
    if how == "length":
        return body, {}
    if how == "chunked":
        return iter([body[i : i + 65_536] for i in range(0, len(body), 65_536)]), {}
    packed = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": brotli.compress,
        "zstd": zstandard.ZstdCompressor().compress,
    }[how](body)
    assert len(packed) < MAXSIZE // 10
    return packed, {"Content-Encoding": how}


@pytest.mark.parametrize("how", ["length", "chunked", "gzip", "deflate", "br", "zstd"])
def test_a_body_of_exactly_download_maxsize_is_kept_and_one_byte_more_refused(how):
    bodies = {"/fits": b"x" * MAXSIZE, "/over": b"x" * (MAXSIZE + 1)}

    def answer(request: httpx.Request) -> httpx.Response:
        content, headers = _encode(bodies[request.url.path], how)
        return httpx.Response(200, content=content, headers=headers)

    fetcher = Fetcher(httpx.MockTransport(answer), max_size=MAXSIZE, timeout=10)
    assert fetcher.fetch(Request("http://a.test/fits")).body == bodies["/fits"]
    with pytest.raises(ResponseTooLarge):
        fetcher.fetch(Request("http://a.test/over"))


@respx.mock
def test_gzip_is_decoded_and_user_agent_and_default_headers_are_sent():
    route = respx.get("http://a.test/z").mock(
        return_value=httpx.Response(
            200,
            content=gzip.compress("héllo".encode()),
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"},
        )
    )
    rig = Rig(USER_AGENT="testbot/1.0", DEFAULT_REQUEST_HEADERS={"Accept-Language": "fr"})
    rig.add("http://a.test/z")
    rig.step()
    assert rig.responses.get(timeout=0).text == "héllo"
    sent = route.calls.last.request
    assert sent.headers["user-agent"] == "testbot/1.0"
    assert sent.headers["accept-language"] == "fr"


@respx.mock
def test_a_request_header_replaces_the_default_of_the_same_name_whatever_its_case():
    route = respx.get("http://a.test/h").mock(return_value=httpx.Response(200, text="ok"))
    rig = Rig(USER_AGENT="testbot/1.0", DEFAULT_REQUEST_HEADERS={"Accept-Language": "fr"})
    rig.frontier.add(Request("http://a.test/h", headers={"accept-language": "de", "X-Own": "1"}))
    rig.step()
    sent = route.calls.last.request.headers
    assert sent.get_list("accept-language") == ["de"]
    assert sent["x-own"] == "1" and sent["user-agent"] == "testbot/1.0"


@respx.mock
def test_without_a_cookie_jar_no_cookie_is_kept():
    respx.get("http://a.test/login").mock(
        return_value=httpx.Response(200, text="in", headers={"Set-Cookie": "session=s1; Path=/"})
    )
    again = respx.get("http://a.test/account").mock(return_value=httpx.Response(200, text="ok"))
    rig = Rig(COOKIES_ENABLED=False)
    for url in ("http://a.test/login", "http://a.test/account"):
        rig.add(url)
        rig.step()
    assert "cookie" not in again.calls.last.request.headers


@respx.mock
def test_cookies_a_site_sets_are_sent_back_to_it_and_to_no_other_host():
    respx.get("http://a.test/login").mock(
        return_value=httpx.Response(200, text="in", headers={"Set-Cookie": "session=s1; Path=/"})
    )
    again = respx.get("http://a.test/account").mock(return_value=httpx.Response(200, text="ok"))
    other = respx.get("http://b.test/page").mock(return_value=httpx.Response(200, text="ok"))
    rig = Rig()
    for url in ("http://a.test/login", "http://a.test/account", "http://b.test/page"):
        rig.add(url)
        rig.step()
    assert again.calls.last.request.headers["cookie"] == "session=s1"
    assert "cookie" not in other.calls.last.request.headers


@respx.mock
def test_robots_txt_disallow_is_obeyed_and_crawl_delay_applied():
    robots = respx.get("http://a.test/robots.txt").mock(
        return_value=httpx.Response(
            200, text="User-agent: *\nDisallow: /private/\nCrawl-delay: 4\n"
        )
    )
    private = respx.get("http://a.test/private/x").mock(return_value=httpx.Response(200))
    public = respx.get("http://a.test/public").mock(return_value=httpx.Response(200))
    rig = Rig(ROBOTSTXT_OBEY=True)
    rig.add("http://a.test/private/x")
    rig.add("http://a.test/public")
    rig.step()  # fetches robots.txt with this host's turn; the page goes back to wait
    assert robots.call_count == 1 and private.call_count == 0
    for _ in range(6):
        got = rig.step()
        if isinstance(got, float):
            assert got == pytest.approx(4.0)  # Crawl-delay now spaces this host
            rig.clock.now += got
    assert private.call_count == 0 and public.call_count == 1 and robots.call_count == 1
    assert rig.failed == [("http://a.test/private/x", "robots_forbidden")]


@respx.mock
def test_a_crawl_delay_learnt_with_a_pages_turn_spaces_that_page_too():
    """robots.txt is fetched with the first page's turn, and says Crawl-delay: 5: the page,
    queued again at once, waits those 5 s like any later request to the host."""
    respx.get("http://a.test/robots.txt").mock(
        return_value=httpx.Response(200, text="User-agent: *\nCrawl-delay: 5\n")
    )
    page = respx.get("http://a.test/page").mock(return_value=httpx.Response(200))
    rig = Rig(ROBOTSTXT_OBEY=True)
    rig.add("http://a.test/page")
    rig.step()
    assert page.call_count == 0
    assert rig.step() == pytest.approx(5.0)
    rig.clock.now += 5.0
    rig.step()
    assert page.call_count == 1


@respx.mock
def test_robots_txt_404_allows_everything():
    respx.get("http://a.test/robots.txt").mock(return_value=httpx.Response(404))
    page = respx.get("http://a.test/p").mock(return_value=httpx.Response(200))
    rig = Rig(ROBOTSTXT_OBEY=True)
    rig.add("http://a.test/p")
    rig.step()
    rig.step()
    assert page.call_count == 1


@respx.mock
def test_robots_txt_requests_carry_no_credentials_and_no_cookies():
    """Not the page's Authorization or Cookie, and not the jar's cookies either: a cookie set for
    a whole domain would otherwise go with the robots.txt request of its every subdomain."""
    respx.get("http://a.test/robots.txt").mock(return_value=httpx.Response(404))
    respx.get("http://a.test/login").mock(
        return_value=httpx.Response(200, headers={"Set-Cookie": "s=1; Domain=a.test; Path=/"})
    )
    robots = respx.get("http://x.a.test/robots.txt").mock(
        return_value=httpx.Response(200, text="User-agent: *\nAllow: /\n")
    )
    page = respx.get("http://x.a.test/p").mock(return_value=httpx.Response(200))
    rig = Rig(ROBOTSTXT_OBEY=True, USER_AGENT="testbot/1.0")
    rig.add("http://a.test/login")
    for _ in range(2):  # robots.txt, then the login page
        rig.step()
    rig.frontier.add(Request("http://x.a.test/p", headers={"Authorization": "Bearer t"}))
    for _ in range(2):  # robots.txt, then the page
        rig.step()
    assert page.calls.last.request.headers["authorization"] == "Bearer t"
    assert page.calls.last.request.headers["cookie"] == "s=1"  # the jar works for pages
    sent = robots.calls.last.request.headers
    assert "authorization" not in sent and "cookie" not in sent
    assert sent["user-agent"] == "testbot/1.0"


@pytest.mark.parametrize(
    "source, target, kept",
    [
        ("http://a.test/x", "http://a.test/y", True),
        ("https://a.test:8443/x", "https://a.test:8443/y", True),
        ("http://a.test/x", "https://a.test/y", True),  # an upgrade on the default ports
        ("https://a.test/x", "http://a.test/y", False),  # a downgrade: readable on the wire
        ("http://a.test/x", "http://a.test:8080/y", False),
        ("http://a.test:8080/x", "https://a.test:8443/y", False),
        ("http://a.test/x", "http://b.test/y", False),
    ],
)
def test_redirects_drop_credentials_unless_they_stay_in_the_same_place(source, target, kept):
    request = Request(source, headers={"Authorization": "Bearer t", "Cookie": "s=1", "X-Own": "1"})
    response = Response(source, 302, {"location": target}, b"", request)
    followed = RedirectPolicy(max_times=5).outcome(request, response)
    assert isinstance(followed, Follow)
    headers = followed.request.headers
    assert ("Authorization" in headers, "Cookie" in headers) == (kept, kept)
    assert headers["X-Own"] == "1"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = 1_700_000_000.0
    value = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(value, now_wall=now) == pytest.approx(90.0)
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now_wall=now) == 0.0


@respx.mock
def test_a_huge_retry_after_is_capped_and_the_request_deferred():
    respx.get("http://a.test/later").mock(
        return_value=httpx.Response(503, headers={"Retry-After": "86400"})
    )
    rig = Rig(RETRY_AFTER_MAX=60)
    rig.add("http://a.test/later")
    rig.step()
    assert rig.waiting() == pytest.approx(60.0)  # deferred, no thread asleep
    assert rig.frontier.queued == 1 and rig.failed == []


def test_a_request_refused_at_send_time_never_reaches_the_server(demo_site):
    """The send hook runs as the headers go out, through the real transport: a frontier that
    refuses the send (a lease lost) stops the request before the server sees it."""
    site = demo_site(hosts=1, rate=0, fanout=2, fanout_total=3)
    fetcher = Fetcher.from_settings(Settings())
    sent: list[str] = []

    def refuse(request: Request) -> None:
        sent.append(request.url)
        raise LeaseLost("lease gone: not sent")

    fetcher.on_send = refuse
    url = f"{site.base_urls[0]}/fanout/1"
    with pytest.raises(LeaseLost):
        fetcher.fetch(Request(url))
    assert sent == [url]
    fetcher.on_send = sent.append
    allowed = f"{site.base_urls[0]}/fanout/2"
    assert fetcher.fetch(Request(allowed)).status == 200  # the pool is still usable
    for _ in range(100):  # bounded: the site logs a request once its answer is out
        if site.requests():
            break
        time.sleep(0.01)
    assert [r.path for r in site.requests()] == ["/fanout/2"]  # the refused one never arrived
