"""The pure-Python batch runner (the interface of `_core.BatchRunner`), on asyncio tasks.

Same interface (`submit`, `take_ready`, `next_results`, `close`, counters), so `batch.py` drives
either. Each submitted item is one asyncio task that waits for a semaphore permit, then for the
rate limiter, then runs `complete`, the client's call (retries and client-side fallback included).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Sequence, Set, Tuple

from ..exceptions import ConnectionError

__all__ = ["BatchRunner", "RateLimiter"]

Outcome = Tuple[int, bool, Any]


class RateLimiter:
    """A token bucket in its GCRA form: each start reserves a slot, so
    waiters never poll. `burst` starts may go back to back before `rate` per second applies."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if not (rate > 0.0) or rate == float("inf"):
            raise ValueError(f"rate must be a positive number of requests per second, got {rate}")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.interval = 1.0 / rate
        self.tolerance = self.interval * (burst - 1)
        self._tat: Optional[float] = None

    def reserve(self, now: float) -> float:
        """Reserve the next start slot; returns when the caller may start (`now` or later)."""
        tat = now if self._tat is None else max(self._tat, now)
        start = max(now, tat - self.tolerance)
        self._tat = tat + self.interval
        return start

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        delay = self.reserve(now) - now
        if delay > 0:
            await asyncio.sleep(delay)


class BatchRunner:
    """Runs items through `complete` (the client's call) with at most `concurrency` at once."""

    def __init__(
        self,
        complete: Callable[..., Awaitable[Any]],
        concurrency: int = 32,
        rate: Optional[float] = None,
        burst: int = 1,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._complete = complete  # the client's call: retries and fallback policy included
        self._sem = asyncio.Semaphore(concurrency)
        self._limiter = RateLimiter(rate, burst) if rate is not None else None
        self._ready: Deque[Outcome] = collections.deque()
        self._wake = asyncio.Event()
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._submitted = 0
        self._collected = 0
        self._in_flight = 0
        self._peak = 0
        self._closed = False

    def submit(
        self, key: int, messages: Sequence[Any], *, fallback: Any = None, request_id: Optional[str] = None, **kw: Any
    ) -> None:
        """Start one item (`request_id`: its X-Request-ID, for every attempt; a new one when
        None). `fallback` is accepted for parity with the Rust runner: `complete` applies the
        client's own fallback policy."""
        if self._closed:
            raise ConnectionError("the batch was closed")
        self._submitted += 1
        task = asyncio.ensure_future(self._one(key, messages, kw, request_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _one(self, key: int, messages: Sequence[Any], kw: Dict[str, Any], request_id: Optional[str]) -> None:
        async with self._sem:
            if self._limiter is not None:
                await self._limiter.wait()
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            try:
                out: Outcome = (key, True, await self._complete(messages, kw, request_id))
            except Exception as exc:  # noqa: BLE001 - one failed item never stops the batch
                out = (key, False, exc)
            finally:
                self._in_flight -= 1
        self._ready.append(out)
        self._wake.set()

    def take_ready(self) -> List[Outcome]:
        """The finished items ready now, without waiting (maybe an empty list)."""
        out = list(self._ready)
        self._ready.clear()
        self._collected += len(out)
        return out

    async def next_results(self) -> List[Outcome]:
        """A non-empty list of finished items; empty when none is pending or the runner closed."""
        while not self._ready:
            if self._closed or self.pending == 0:
                return []
            self._wake.clear()
            await self._wake.wait()
        return self.take_ready()

    def close(self) -> None:
        """Stop every item still waiting or running."""
        self._closed = True
        for t in list(self._tasks):
            t.cancel()
        self._wake.set()

    @property
    def pending(self) -> int:
        return self._submitted - self._collected

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        return self._peak

    @property
    def closed(self) -> bool:
        return self._closed
