"""The waiting discipline of a store's fetch threads (scraper/alarm.py): a few keep the time,
the rest sleep until told, so a ready time does not wake every idle thread."""

from __future__ import annotations

import threading
import time

from scraper.alarm import Alarm

HOUR = 3600.0  # no wait here ends by its time: only notifications end them


def start_waiters(alarm: Alarm, changed: threading.Condition, untils: list[float]) -> list:
    """Threads each waiting on ``alarm`` until one of ``untils``; returns once all wait."""
    waiting = [0]

    def wait(until: float) -> None:
        with changed:
            waiting[0] += 1
            alarm.wait(0.0, until)

    threads = [threading.Thread(target=wait, args=(until,), daemon=True) for until in untils]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while True:
        with changed:  # a thread counted holds the lock until it waits: it waits now
            if waiting[0] == len(untils):
                return threads
        assert time.monotonic() < deadline, "the waiters did not start"


def test_a_few_threads_keep_the_time_and_a_sooner_time_is_kept_too():
    changed = threading.Condition()
    alarm = Alarm(changed, keepers=2)
    threads = start_waiters(alarm, changed, [HOUR] * 5)
    with changed:
        assert alarm.keeping == 2  # the other three sleep until told
    threads += start_waiters(alarm, changed, [HOUR / 2])  # sooner than any kept time
    with changed:
        assert alarm.keeping == 3
    with changed:
        changed.notify_all()
    for thread in threads:
        thread.join(10)
    assert alarm.keeping == 0


def test_work_taken_with_too_few_keepers_wakes_a_waiter():
    changed = threading.Condition()
    alarm = Alarm(changed, keepers=1)
    first = start_waiters(alarm, changed, [HOUR])  # keeps the time
    second = start_waiters(alarm, changed, [HOUR])  # sleeps until told
    with changed:
        alarm.taken()  # enough keep the time: nobody is woken
        changed.notify()  # the keeper leaves (first in line)
    first[0].join(10)
    with changed:
        alarm.taken()  # now nobody keeps the time: the other waiter is woken to
    second[0].join(10)
    assert not second[0].is_alive()
