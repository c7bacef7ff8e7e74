"""Holds off Python's full (oldest-generation) garbage collections while a run is measured.

A full collection walks every tracked object: at 1,000 requests/s, with thousands of request
records alive, it stopped the event loop for 10-40 ms, and a stopped loop hands sends over late
(schedule lag, so TTFT from the schedule) however exactly the Rust path times the socket. Young
generations are still collected as usual, so short-lived garbage does not pile up; what was alive
before the run is frozen out of the way; one full collection runs when the run is over."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

# A full collection waits for this many collections of the middle generation: never, in a run.
HELD_THRESHOLD = 1_000_000_000


@contextmanager
def full_gc_held() -> Iterator[None]:
    young, middle, oldest = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, middle, HELD_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, oldest)
        gc.unfreeze()
        gc.collect()
