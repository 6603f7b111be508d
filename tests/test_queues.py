import threading

import pytest

from scraper.errors import QueueClosed
from scraper.queues import BoundedQueue


@pytest.mark.parametrize(
    "take", [BoundedQueue.get, lambda q: q.get_batch(1)[0]], ids=["get", "get_batch"]
)
def test_put_blocks_when_full_by_count_until_a_get(take):
    q: BoundedQueue[int] = BoundedQueue(2)
    q.put(1)
    q.put(2)
    done = threading.Event()
    producer = threading.Thread(target=lambda: (q.put(3), done.set()))
    producer.start()
    assert not done.wait(0.2)  # blocked: the queue is full
    assert take(q) == 1
    assert done.wait(5)
    producer.join(5)
    assert [q.get(), q.get()] == [2, 3]
    assert q.stats.high_water_items == 2
    assert q.stats.put_wait_seconds > 0


def test_put_blocks_when_full_by_bytes():
    q: BoundedQueue[str] = BoundedQueue(10, max_bytes=100)
    q.put("a", size=60)
    done = threading.Event()
    producer = threading.Thread(target=lambda: (q.put("b", size=60), done.set()))
    producer.start()
    assert not done.wait(0.2)
    q.get()
    assert done.wait(5)
    producer.join(5)
    assert q.stats.high_water_bytes == 60


@pytest.mark.parametrize("max_bytes", [None, 100])
def test_many_blocked_producers_all_get_in(max_bytes):
    """Wake-ups are handed on one at a time: none may be lost, whatever the entries weigh."""
    q: BoundedQueue[int] = BoundedQueue(3, max_bytes=max_bytes)
    sizes = [10, 60, 95, 30, 200, 5] * 10  # some fit only an emptier queue, one none at all
    producers = [threading.Thread(target=q.put, args=(i, size)) for i, size in enumerate(sizes)]
    for producer in producers:
        producer.start()
    got = sorted(q.get(timeout=5) for _ in sizes)  # TimeoutError if a producer is stranded
    for producer in producers:
        producer.join(5)
    assert got == list(range(len(sizes))) and not any(p.is_alive() for p in producers)
    assert q.stats.high_water_items <= 3


def test_an_oversized_entry_passes_an_empty_queue():
    q: BoundedQueue[str] = BoundedQueue(10, max_bytes=10)
    q.put("big", size=1000)  # would deadlock if it had to fit
    assert q.get() == "big"


def test_close_wakes_blocked_producer_and_consumer_drains_first():
    q: BoundedQueue[int] = BoundedQueue(1)
    q.put(1)
    errors = []

    def produce():
        try:
            q.put(2)
        except QueueClosed as exc:
            errors.append(exc)

    producer = threading.Thread(target=produce)
    producer.start()
    q.close()
    producer.join(5)
    assert len(errors) == 1
    assert q.get() == 1  # what was queued before close is still delivered
    with pytest.raises(QueueClosed):
        q.get()


def test_get_timeout():
    q: BoundedQueue[int] = BoundedQueue(1)
    with pytest.raises(TimeoutError):
        q.get(timeout=0)


def test_capacity_is_validated():
    with pytest.raises(ValueError):
        BoundedQueue(0)
    with pytest.raises(ValueError):
        BoundedQueue(1, max_bytes=0)


def test_get_batch_takes_what_is_waiting_and_never_waits_to_fill():
    q: BoundedQueue[int] = BoundedQueue(10, max_bytes=100)
    for value in range(5):
        q.put(value, size=10)
    assert q.get_batch(3) == [0, 1, 2]
    assert q.get_batch(8) == [3, 4]  # fewer than asked: what there was
    assert q.bytes == 0
    got: list[list[int]] = []
    consumer = threading.Thread(target=lambda: got.append(q.get_batch(8)))
    consumer.start()  # blocks on the empty queue until one value comes, then takes it alone
    q.put(5)
    consumer.join(5)
    assert got == [[5]]
    q.close()
    with pytest.raises(QueueClosed):
        q.get_batch(8)


def test_get_batch_stops_at_its_weight_but_always_takes_one():
    q: BoundedQueue[str] = BoundedQueue(10)
    for value, size in [("a", 40), ("b", 40), ("c", 40), ("d", 500), ("e", 10)]:
        q.put(value, size=size)
    assert q.get_batch(8, most_bytes=100) == ["a", "b"]  # a third would weigh 120
    assert q.get_batch(8, most_bytes=100) == ["c"]  # d does not fit beside it
    assert q.get_batch(8, most_bytes=100) == ["d"]  # too heavy alone, travels alone
    assert q.get_batch(8, most_bytes=100) == ["e"]
    assert q.bytes == 0


def test_get_batch_lingers_for_the_rest_of_a_batch_but_not_past_it():
    q: BoundedQueue[int] = BoundedQueue(10)
    q.put(0)
    got: list[list[int]] = []
    consumer = threading.Thread(target=lambda: got.append(q.get_batch(3, linger=60)))
    consumer.start()  # finds one value and waits for two more, up to a minute
    q.put(1)
    q.put(2)
    consumer.join(10)
    assert not consumer.is_alive() and got == [[0, 1, 2]]  # back as soon as the batch is full


def test_get_batch_does_not_linger_on_a_full_or_closed_queue():
    full: BoundedQueue[int] = BoundedQueue(2)
    full.put(0)
    full.put(1)
    # Producers are blocked behind a full queue: waiting for more could only wait out the linger.
    assert full.get_batch(8, linger=60) == [0, 1]
    heavy: BoundedQueue[int] = BoundedQueue(10)
    heavy.put(0, size=300)
    assert heavy.get_batch(8, most_bytes=256, linger=60) == [0]  # already at its weight
    closed: BoundedQueue[int] = BoundedQueue(10)
    closed.put(0)
    closed.close()
    assert closed.get_batch(8, linger=60) == [0]
