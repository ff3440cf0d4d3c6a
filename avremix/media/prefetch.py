"""Run an iterator in a background thread, a bounded number of items ahead of its consumer.

Decoding (PyAV's decoders and picture conversion release the GIL) then overlaps the model, whose torch
kernels release it too. Errors raised by the iterator are raised to the consumer at the item where they
happened; a consumer that stops early (an error, an interrupt) stops the thread, and the thread never
holds more than ``depth`` items, so memory stays bounded whatever the media's length.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetched(items: Iterable[T], depth: int = 32) -> Iterator[T]:
    """Yield the items of ``items``, produced in a daemon thread up to ``depth`` ahead."""
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as e:  # handed to the consumer, raised there
            put((_END, e))
        finally:
            close = getattr(source, "close", None)
            if close is not None:  # a generator holding an open file closes it now, in this thread
                close()

    thread = threading.Thread(target=produce, name="avremix-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5.0)
