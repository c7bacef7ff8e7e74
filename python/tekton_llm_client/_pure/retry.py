"""When and how long to wait before trying a failed call again (the rules of `tekton-core`'s
`retry.rs`)."""

from __future__ import annotations

import math
import random
import time
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Optional

__all__ = ["RETRYABLE_KINDS", "backoff_delay", "parse_retry_after", "delay_before_retry"]

# Error kinds (exceptions.error_from_kind names) retried by default: PROTOCOL.md's table.
RETRYABLE_KINDS = frozenset({"timeout", "rate_limit", "service_unavailable", "connection"})

_MAX_RETRY_AFTER = 86_400.0


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff with jitter: `min(initial * 2^attempt, maximum)`, minus up to 25%, so
    that many clients failing together do not retry in lockstep."""
    base = min(initial * float(1 << min(attempt, 20)), maximum)
    return base * (1.0 - 0.25 * random.random())


def parse_retry_after(value: str, now: Optional[float] = None) -> Optional[float]:
    """`Retry-After` as delay-seconds or an HTTP date → seconds to wait (None if unreadable)."""
    v = value.strip()
    try:
        secs = float(v)
    except ValueError:
        pass
    else:
        return min(secs, _MAX_RETRY_AFTER) if math.isfinite(secs) and secs >= 0.0 else None
    try:
        when = parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # asctime form: always GMT
        when = when.replace(tzinfo=timezone.utc)
    delay = when.timestamp() - (time.time() if now is None else now)
    return max(delay, 0.0)


def delay_before_retry(
    kind: str,
    retry_after: Optional[float],
    attempt: int,
    *,
    max_retries: int,
    backoff_initial: float,
    backoff_max: float,
    max_retry_after: float,
) -> Optional[float]:
    """The wait in seconds before attempt `attempt + 1`, or None when the error is final.

    A `Retry-After` wish is honoured as given, unless it is longer than `max_retry_after`: then
    the error is final. A 429 without one backs off one step longer than a plain failure."""
    if attempt >= max_retries or kind not in RETRYABLE_KINDS:
        return None
    if retry_after is not None:
        wanted = max(retry_after, 0.0)
        if wanted > max_retry_after:
            return None
        return wanted
    if kind == "rate_limit":
        return backoff_delay(attempt + 1, backoff_initial, backoff_max)
    return backoff_delay(attempt, backoff_initial, backoff_max)
