"""The frontier's politeness and bookkeeping, on a fake clock: no test here sleeps."""

import pytest

from scraper.frontier import MemoryFrontier
from scraper.models import Request


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(clock, **kwargs) -> MemoryFrontier:
    return MemoryFrontier(clock=clock, **kwargs)


def test_per_host_delay_is_a_ready_time_not_a_sleep():
    clock = FakeClock()
    frontier = make(clock, delay=2.0, concurrency_per_host=5)
    for i in range(3):
        frontier.add(Request(f"http://a.test/{i}"))
    first = frontier.next()
    assert isinstance(first, Request)
    assert frontier.next() == 2.0  # seconds until host a may be contacted again
    clock.advance(1.5)
    assert frontier.next() == 0.5
    clock.advance(0.5)
    assert isinstance(frontier.next(), Request)


def test_hosts_are_independent():
    clock = FakeClock()
    frontier = make(clock, delay=10.0)
    for host in "abc":
        frontier.add(Request(f"http://{host}.test/1"))
        frontier.add(Request(f"http://{host}.test/2"))
    hosts = {frontier.next().host for _ in range(3)}  # type: ignore[union-attr]
    assert hosts == {"a.test", "b.test", "c.test"}
    assert frontier.next() == 10.0


def test_concurrency_per_host_caps_leases_until_release():
    clock = FakeClock()
    frontier = make(clock, concurrency_per_host=2)
    for i in range(4):
        frontier.add(Request(f"http://a.test/{i}"))
    leased = [frontier.next(), frontier.next()]
    assert all(isinstance(r, Request) for r in leased)
    assert frontier.next() is None  # slots used up: nothing can be handed out
    frontier.release(leased[0])
    assert isinstance(frontier.next(), Request)
    assert frontier.leased == 2 and frontier.queued == 1


@pytest.mark.parametrize(
    ("lifo", "expected"), [(True, ["high", "low2", "low1"]), (False, ["high", "low1", "low2"])]
)
def test_priority_then_order_within_a_host(lifo, expected):
    frontier = make(FakeClock(), lifo=lifo)
    frontier.add(Request("http://a.test/low1"))
    frontier.add(Request("http://a.test/high", priority=5))
    frontier.add(Request("http://a.test/low2"))
    order = []
    while isinstance(request := frontier.next(), Request):
        order.append(request.url.rsplit("/", 1)[1])
        frontier.release(request)
    assert order == expected


def test_dedup_by_canonical_fingerprint_and_dont_filter():
    frontier = make(FakeClock())
    assert frontier.add(Request("http://a.test/p?b=2&a=1"))
    assert not frontier.add(Request("http://a.test/p?a=1&b=2"))  # same canonical URL
    assert not frontier.add(Request("http://a.test/p?a=1&b=2#frag"))
    assert frontier.add(Request("http://a.test/p?a=1&b=2", method="POST"))
    assert frontier.add(Request("http://a.test/p?a=1&b=2", dont_filter=True))
    assert frontier.filtered["duplicate"] == 2
    # A dont_filter start URL still marks its URL seen for later links.
    assert frontier.add(Request("http://a.test/start", dont_filter=True))
    assert not frontier.add(Request("http://a.test/start"))


def test_depth_limit():
    frontier = make(FakeClock(), depth_limit=2)
    assert frontier.add(Request("http://a.test/2", meta={"depth": 2}))
    assert not frontier.add(Request("http://a.test/3", meta={"depth": 3}))
    assert frontier.filtered["depth"] == 1


def test_retry_waits_without_holding_up_the_host():
    clock = FakeClock()
    frontier = make(clock, concurrency_per_host=1)
    frontier.add(Request("http://a.test/other"))
    frontier.add(Request("http://a.test/flaky"))  # newest: leased first
    flaky = frontier.next()
    frontier.release(flaky, retry_at=clock.now + 30)
    other = frontier.next()
    assert isinstance(other, Request) and other.url.endswith("/other")
    frontier.release(other)
    assert frontier.next() == 30.0  # only the retry is left, and it is not due yet
    clock.advance(30)
    again = frontier.next()
    assert again is flaky
    assert frontier.queued == 0


def test_defer_host_pushes_back_every_request_of_that_host_only():
    clock = FakeClock()
    frontier = make(clock)
    frontier.add(Request("http://a.test/1"))
    frontier.add(Request("http://b.test/1"))
    frontier.defer_host("a.test", clock.now + 60)
    got = frontier.next()
    assert isinstance(got, Request) and got.host == "b.test"
    assert frontier.next() == 60.0
    frontier.defer_host("a.test", clock.now + 5)  # never pulls an earlier deferral forward
    assert frontier.next() == 60.0


def test_host_delay_from_robots_is_per_host():
    clock = FakeClock()
    frontier = make(clock, delay=0.5, concurrency_per_host=4)
    frontier.set_host_delay("a.test", 3.0)
    for host in ("a.test", "b.test"):
        frontier.add(Request(f"http://{host}/1"))
        frontier.add(Request(f"http://{host}/2"))
    frontier.next()
    frontier.next()
    clock.advance(0.5)
    got = frontier.next()
    assert isinstance(got, Request) and got.host == "b.test"
    assert frontier.next() == 2.5


def test_randomized_delay_never_shortens():
    clock = FakeClock()
    frontier = make(clock, delay=1.0, randomize_delay=True, concurrency_per_host=9)
    for i in range(50):
        frontier.add(Request(f"http://a.test/{i}"))
    for _ in range(49):
        request = frontier.next()
        assert isinstance(request, Request)
        frontier.release(request)
        wait = frontier.next()
        assert isinstance(wait, float) and 1.0 <= wait < 1.5
        clock.advance(wait)


def test_closed_frontier_hands_out_nothing():
    frontier = make(FakeClock())
    frontier.add(Request("http://a.test/1"))
    frontier.close()
    assert frontier.next() is None
    assert frontier.queued == 1
