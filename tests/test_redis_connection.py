"""The Redis reconnect loop (``distributed.connection.Retrying``) on calls that fail as a lost
connection would: no server needed, the failures are raised by the call itself."""

import logging

import pytest
import redis

from scraper.distributed.connection import RedisUnavailable, Retrying


class Flaky:
    """A call that fails with ``error`` ``failures`` times, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "PONG"


def test_an_outage_is_ridden_out_and_logged_once_with_its_end(caplog):
    call = Flaky(3, redis.ConnectionError("Connection refused"))
    with caplog.at_level(logging.WARNING, logger="scraper.redis"):
        assert Retrying("redis://user:secret@127.0.0.1:1/0", timeout=30)(call) == "PONG"
    assert call.calls == 4
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "unavailable (Connection refused); retrying with backoff" in messages[0]
    assert "secret" not in messages[0]
    assert "is back after" in messages[1]


def test_an_outage_longer_than_the_timeout_ends_the_call():
    call = Flaky(10**6, redis.TimeoutError("Timeout reading from socket"))
    with pytest.raises(RedisUnavailable, match="for over 0s: Timeout reading") as caught:
        Retrying("redis://127.0.0.1:1/0", timeout=0.2)(call)
    assert isinstance(caught.value.__cause__, redis.TimeoutError)
    assert call.calls > 1


def test_an_error_that_is_not_the_connection_is_not_retried():
    call = Flaky(1, redis.ResponseError("WRONGTYPE"))
    with pytest.raises(redis.ResponseError):
        Retrying("redis://127.0.0.1:1/0", timeout=30)(call)
    assert call.calls == 1


def test_an_error_that_is_not_the_connection_ends_the_outage_at_once():
    class Restarted(Flaky):
        def __call__(self) -> str:
            if self.calls == 1:
                self.calls += 1
                raise redis.ResponseError("LOADING")
            return super().__call__()

    call = Restarted(1, redis.ConnectionError("Connection refused"))
    with pytest.raises(redis.ResponseError):
        Retrying("redis://127.0.0.1:1/0", timeout=30)(call)
    assert call.calls == 2
