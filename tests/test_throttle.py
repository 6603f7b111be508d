from scraper.settings import Settings
from scraper.throttle import AutoThrottle


def throttle(**values: object) -> AutoThrottle:
    settings = Settings()
    settings.update({"AUTOTHROTTLE_ENABLED": True, **values}, "test")
    return AutoThrottle(settings)


def test_delay_moves_halfway_to_latency_over_target_concurrency():
    t = throttle(AUTOTHROTTLE_START_DELAY=4.0, AUTOTHROTTLE_TARGET_CONCURRENCY=2.0)
    assert t.observe("a", latency=2.0, status=200) == 2.5  # (4 + 2/2) / 2
    assert t.observe("a", latency=2.0, status=200) == 1.75
    assert t.observe("b", latency=0.0, status=200) == 2.0  # hosts are independent


def test_error_responses_never_lower_the_delay():
    t = throttle(AUTOTHROTTLE_START_DELAY=4.0)
    assert t.observe("a", latency=0.01, status=500) == 4.0
    assert t.observe("a", latency=0.01, status=None) == 4.0  # transport error
    assert t.observe("a", latency=20.0, status=503) == 12.0  # but may raise it


def test_delay_is_clamped_between_download_delay_and_max():
    t = throttle(AUTOTHROTTLE_START_DELAY=1.0, DOWNLOAD_DELAY=0.5, AUTOTHROTTLE_MAX_DELAY=3.0)
    for _ in range(10):
        low = t.observe("a", latency=0.0, status=200)
    assert low == 0.5
    for _ in range(10):
        high = t.observe("a", latency=100.0, status=200)
    assert high == 3.0
