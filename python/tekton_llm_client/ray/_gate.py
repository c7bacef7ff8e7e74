"""`Gate`: where an actor waits before starting each request — the job's rate limit (slots from
the shared limiter, a grant at a time) and the 429 cool-down (its own, and the other actors'
learnt from the limiter with every grant). Without a job rate there is nothing to pace: a grant is
a lease on "now" for `GRANT_SPAN_S`, however many requests start in it, so the limiter is asked at
most ~20 times a second per actor (asking every `concurrency` requests cost 30-50 us of CPU per
row at ~10,000 rows/s: docs/scale-out.md)."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from typing import Any, Deque, Optional

# A grant covers about this much of the job's time: small enough that a cool-down another actor
# reported is learnt soon (each grant brings the limiter's latest), large enough that asking the
# limiter is rare next to the requests themselves.
GRANT_SPAN_S = 0.05


class Gate:
    def __init__(self, limiter: Any = None, max_grant: int = 64) -> None:
        self._limiter = limiter
        self._max_grant = max(1, max_grant)
        self._slots: Deque[float] = deque()
        self._fetched_at = 0.0
        self._spacing: Optional[float] = None
        self.hold_until = 0.0
        self.limiter_calls = 0

    def _grant_size(self) -> int:
        if self._spacing is None:  # unknown yet: enough for a while if there is no job rate
            return self._max_grant
        if self._spacing == 0.0:  # no job rate: a lease, not slots
            return 1
        return max(1, min(self._max_grant, math.ceil(GRANT_SPAN_S / self._spacing)))

    def note_cool_down(self, until: float) -> None:
        """This actor got a 429 asking to wait until `until`: hold, and tell the other actors."""
        if until <= self.hold_until:
            return
        self.hold_until = until
        self._slots.clear()  # they may fall inside the cool-down; the limiter gives later ones
        if self._limiter is not None:
            self._limiter.cool_down.remote(until)  # not awaited: the next grant waits anyway

    async def _fetch(self) -> None:
        n = self._grant_size()
        first, spacing, hold = await self._limiter.grant.remote(n)
        self.limiter_calls += 1
        self._spacing = spacing
        self._fetched_at = time.time()
        self.hold_until = max(self.hold_until, hold)
        if spacing > 0:
            self._slots.extend(first + k * spacing for k in range(n))

    async def _next_slot(self) -> float:
        """The start time the limiter allows for the next request (0: now)."""
        if self._spacing == 0.0:  # no job rate: renew the lease (learning the cool-down) when old
            if time.time() - self._fetched_at > GRANT_SPAN_S:
                await self._fetch()
            return 0.0
        if not self._slots:
            await self._fetch()
            if self._spacing == 0.0:
                return 0.0
        return self._slots.popleft()

    async def wait_turn(self) -> None:
        """Return when the next request may start."""
        slot: Optional[float] = None
        while True:
            if self._limiter is not None and slot is None:
                slot = await self._next_slot()
            start = self.hold_until if slot is None else max(slot, self.hold_until)
            delay = start - time.time()
            if delay <= 0:
                return
            await asyncio.sleep(delay)
            if slot is not None and slot < self.hold_until:
                slot = None  # a cool-down covers it: the limiter hands out slots after the cool-down
