from __future__ import annotations

import threading
import time

import pytest

from avremix.media.prefetch import prefetched


def test_items_come_in_order_and_all_of_them():
    assert list(prefetched(iter(range(1000)), depth=7)) == list(range(1000))
    assert list(prefetched([], depth=3)) == []


def test_an_error_reaches_the_consumer_after_the_items_before_it():
    def items():
        yield from range(5)
        raise ValueError("damaged frame 5")

    got = []
    with pytest.raises(ValueError, match="damaged frame 5"):
        for x in prefetched(items(), depth=2):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]


def test_the_thread_stays_bounded_and_stops_when_the_consumer_does():
    made = []
    closed = threading.Event()

    def items():
        try:
            for i in range(10**9):
                made.append(i)
                yield i
        finally:
            closed.set()

    it = prefetched(items(), depth=4)
    assert next(it) == 0
    time.sleep(0.2)
    assert len(made) <= 4 + 2  # at most depth items wait in the queue, plus one in hand and one handed over
    it.close()  # the consumer stops (an error, an interrupt): the producer stops and its source is closed
    assert closed.wait(2.0)
    assert not any(t.name == "avremix-prefetch" and t.is_alive() for t in threading.enumerate())
