"""When a failed row is asked again: the client's policy (docs/protocol.md's error table, the Rust
core's `retry.rs`), applied by `RhetorChat` itself so that every attempt passes the job's rate limit and
cool-down and is counted in the row's `attempts`."""

from __future__ import annotations

import random
from typing import Optional

from ..exceptions import RETRYABLE, RateLimitError


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff with jitter: about `initial * 2**attempt`, at most `maximum`."""
    return min(maximum, initial * 2.0 ** min(attempt, 30)) * random.uniform(0.5, 1.0)


def retry_delay(
    error: BaseException,
    failed_attempts: int,
    max_retries: int,
    backoff_initial: float,
    backoff_max: float,
    max_retry_after: float,
) -> Optional[float]:
    """Seconds to wait before asking again after `failed_attempts` failures, or None when the
    error is final (not retryable, retries used up, or a Retry-After longer than allowed)."""
    if failed_attempts > max_retries or not isinstance(error, RETRYABLE):
        return None
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        wanted = max(0.0, float(retry_after))
        return None if wanted > max_retry_after else wanted
    attempt = failed_attempts - 1
    if isinstance(error, RateLimitError):
        attempt += 1  # no Retry-After: back off a little longer than for a plain failure
    return backoff_delay(attempt, backoff_initial, backoff_max)
