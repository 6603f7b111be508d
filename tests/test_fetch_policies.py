"""The fetch stage's policies, each on its own: the outcome it answers for a request (robots.txt,
retry, redirect). robots.txt comes from ``httpx.MockTransport``; time is a fake clock."""

import httpx
import pytest

from scraper.errors import ConnectFailed, ResponseTooLarge
from scraper.fetcher import Fetcher
from scraper.models import Request, Response
from scraper.redirect import Follow, RedirectPolicy, Refuse
from scraper.retry import Final, GiveUp, Retry, RetryPolicy
from scraper.robots import Allow, Defer, Drop, RobotsCache
from scraper.settings import Settings

# -- robots.txt --------------------------------------------------------------------------------


def robots_answering(*answers: httpx.Response | Exception) -> tuple[RobotsCache, list[float]]:
    """A cache whose robots.txt requests get ``answers`` in turn; the list is its clock."""
    replies = iter(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        reply = next(replies)
        if isinstance(reply, Exception):
            raise reply
        return reply

    now = [100.0]
    fetcher = Fetcher(httpx.MockTransport(answer), timeout=5.0, max_size=1 << 20)
    cache = RobotsCache(
        fetcher, "scraper/0.1", lambda: now[0], retry_delay=30.0, retry_times=2,
        crawl_delay_max=4.0,
    )  # fmt: skip
    return cache, now


def test_robots_txt_answering_5xx_defers_the_host_then_drops_its_requests():
    robots, now = robots_answering(httpx.Response(503), httpx.Response(503))
    request = Request("http://a.test/page")
    assert robots.verdict(request) == Defer(130.0)  # asked again after ROBOTSTXT_RETRY_DELAY
    assert robots.verdict(request) == Defer(130.0)  # not asked again before then
    now[0] = 130.0
    assert robots.verdict(request) == Drop("robots_unavailable", "robots.txt unreachable: HTTP 503")


def test_robots_txt_cut_off_is_unreachable_with_its_cause():
    robots, _ = robots_answering(httpx.ReadError("connection reset"))
    request = Request("http://a.test/page")
    request.meta["robots_waits"] = 2  # the request has waited ROBOTSTXT_RETRY_TIMES already
    outcome = robots.verdict(request)
    assert isinstance(outcome, Drop) and outcome.reason == "robots_unavailable"
    assert "ReadError: connection reset" in outcome.detail


def test_robots_txt_rules_drop_and_allow_with_the_crawl_delay_once():
    rules = "User-agent: *\nDisallow: /private\nCrawl-delay: 10\n"
    robots, now = robots_answering(httpx.Response(200, text=rules))
    # The first request of the host: robots.txt was fetched with its turn; the delay is capped.
    assert robots.verdict(Request("http://a.test/private/1")) == Drop(
        "robots_forbidden", "robots.txt", crawl_delay=4.0
    )
    assert robots.verdict(Request("http://a.test/private/2")) == Drop(
        "robots_forbidden", "robots.txt"
    )
    assert robots.verdict(Request("http://a.test/public")) == Allow()


def test_a_page_allowed_by_a_robots_txt_just_fetched_waits_for_the_hosts_next_turn():
    robots, now = robots_answering(httpx.Response(404))
    assert robots.verdict(Request("http://a.test/page")) == Defer(now[0])
    assert robots.verdict(Request("http://a.test/other")) == Allow()


# -- retry -------------------------------------------------------------------------------------


def retry_policy(**values: object) -> RetryPolicy:
    settings = Settings()
    settings.update({"RETRY_TIMES": 3, "RETRY_BACKOFF_BASE": 1.0, "RETRY_BACKOFF_MAX": 3.0,
                     **values}, "test")  # fmt: skip
    return RetryPolicy.from_settings(settings)


def test_retries_back_off_exponentially_with_jitter_then_give_up():
    policy = retry_policy()
    failed = Response("http://a.test/", 503, {}, b"", Request("http://a.test/"))
    waits = []
    for attempts in (1, 2, 3):
        outcome = policy.outcome(attempts, failed, None, now=50.0)
        assert isinstance(outcome, Retry)
        waits.append(outcome.at - 50.0)
    # base * 2**(n-1), capped by RETRY_BACKOFF_MAX, plus up to one base of jitter
    for wait, low in zip(waits, (1.0, 2.0, 3.0), strict=True):
        assert low <= wait <= low + 1.0
    assert policy.outcome(4, failed, None, now=50.0) == GiveUp()  # RETRY_TIMES used up


def test_a_retry_waits_at_least_what_retry_after_asked():
    outcome = retry_policy().outcome(1, None, ConnectFailed("reset"), now=0.0, not_before=60.0)
    assert outcome == Retry(60.0)


def test_what_would_fail_the_same_again_is_final():
    policy = retry_policy()
    ok = Response("http://a.test/", 200, {}, b"", Request("http://a.test/"))
    assert policy.outcome(1, ok, None, now=0.0) == Final()
    assert policy.outcome(1, None, ResponseTooLarge("big"), now=0.0) == Final()


def test_retrying_off_gives_up_at_once():
    failed = Response("http://a.test/", 500, {}, b"", Request("http://a.test/"))
    assert retry_policy(RETRY_ENABLED=False).outcome(1, failed, None, now=0.0) == GiveUp()


# -- redirects ---------------------------------------------------------------------------------


def redirect(location: str, request: Request | None = None, status: int = 302) -> Response:
    request = request or Request("http://a.test/start")
    return Response(request.url, status, {"location": location}, b"", request)


@pytest.mark.parametrize(
    "location, kind",
    [
        ("http://[::1/x", "invalid_url"),
        ("ftp://a.test/file", "redirect_scheme"),
        ("/start", "redirect_loop"),
    ],
)
def test_refused_redirects_say_why(location, kind):
    response = redirect(location)
    outcome = RedirectPolicy().outcome(response.request, response)
    assert isinstance(outcome, Refuse) and outcome.kind == kind


def test_a_redirect_chain_longer_than_the_limit_is_refused():
    policy = RedirectPolicy(max_times=2)
    request = Request("http://a.test/0")
    for hop in (1, 2):
        outcome = policy.outcome(request, redirect(f"/{hop}", request))
        assert isinstance(outcome, Follow)
        request = outcome.request
    outcome = policy.outcome(request, redirect("/3", request))
    assert outcome == Refuse("too_many_redirects", "302 to http://a.test/3")


def test_a_303_after_a_post_is_followed_with_a_get():
    request = Request("http://a.test/form", method="POST", body=b"q=1",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    outcome = RedirectPolicy().outcome(request, redirect("/done", request, status=303))
    assert isinstance(outcome, Follow)
    followed = outcome.request
    assert (followed.url, followed.method, followed.body) == ("http://a.test/done", "GET", b"")
    assert "Content-Type" not in followed.headers
    assert followed.meta["redirect_urls"] == ["http://a.test/form"]
