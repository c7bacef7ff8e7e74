"""The state shared by every actor of a job: the job's rate limit and its 429 cool-down.

`SlotBook` is plain Python (the Ray actor in `_limiter.py` wraps it), so it can be used and tested
without Ray. Time is wall-clock seconds (`time.time()`): slots are compared across processes and
machines, so the hosts' clocks must agree (NTP keeps them within milliseconds).
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional, Tuple

# (first slot, spacing between slots, cool-down end): slot k of a grant is first + k * spacing.
Grant = Tuple[float, float, float]


class SlotBook:
    """Hands out request start times ("slots") `1 / requests_per_s` apart, in grants of several,
    so an actor asks once per grant rather than once per request; no slot is given twice and none
    falls inside a cool-down. Without a rate, every slot of a grant is "now" (only the cool-down
    holds requests)."""

    def __init__(self, requests_per_s: Optional[float] = None) -> None:
        if requests_per_s is not None and not (0 < float(requests_per_s) < float("inf")):
            raise ValueError(f"requests_per_s must be a positive number, got {requests_per_s!r}")
        self.spacing = 0.0 if requests_per_s is None else 1.0 / float(requests_per_s)
        self.next_slot = 0.0
        self.hold_until = 0.0
        self.grants = 0
        self.slots = 0
        self.cool_downs = 0

    def grant(self, n: int, now: Optional[float] = None) -> Grant:
        """The next `n` slots."""
        n = max(1, int(n))
        now = time.time() if now is None else now
        first = max(self.next_slot, now, self.hold_until)
        self.next_slot = first + n * self.spacing
        self.grants += 1
        self.slots += n
        return first, self.spacing, self.hold_until

    def cool_down(self, until: float) -> float:
        """Hold every new request until `until` (a 429's Retry-After); returns the cool-down end."""
        if until > self.hold_until:
            self.hold_until = until
            self.cool_downs += 1
        return self.hold_until

    def stats(self) -> Dict[str, Any]:
        return {
            "grants": self.grants,
            "slots": self.slots,
            "cool_downs": self.cool_downs,
            "hold_until": self.hold_until,
            "spacing": self.spacing,
        }
