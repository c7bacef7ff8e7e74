"""Parsing the small option languages of `bench`: SLOs, synthetic workloads, number lists."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional

# SLO metric → the per-request figure it limits (see metrics.RequestMetrics).
SLO_METRICS = ("ttft", "itl", "tpot", "e2e")
# Percentile names accepted after the metric (`ttft_p99`); `mean` and `max` too.
SLO_STATS = ("p50", "p90", "p95", "p99", "p999", "mean", "max")

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|us|µs)?\s*$")


class SpecError(ValueError):
    """A malformed option value; the message says which and why."""


@dataclass(frozen=True)
class Slo:
    metric: str  # ttft | itl | tpot | e2e
    stat: str  # p99, mean, ...
    limit_ms: float

    @property
    def name(self) -> str:
        return f"{self.metric}_{self.stat}"


def parse_duration_ms(text: str) -> float:
    """`500ms`, `0.5s`, `250us` or a bare number of ms → ms."""
    m = _DURATION.match(text)
    if not m:
        raise SpecError(f"not a duration: {text!r} (examples: 500ms, 1.5s, 250us)")
    value = float(m.group(1))
    unit = m.group(2) or "ms"
    return value * {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}[unit]


def parse_slos(text: str) -> List[Slo]:
    """`ttft_p99=500ms,itl_p99=50ms` → SLOs."""
    slos: List[Slo] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        metric, _, stat = name.strip().partition("_")
        if not sep or metric not in SLO_METRICS or stat not in SLO_STATS:
            raise SpecError(
                f"bad SLO {part!r}: expected METRIC_STAT=DURATION with METRIC one of "
                f"{', '.join(SLO_METRICS)} and STAT one of {', '.join(SLO_STATS)} (e.g. ttft_p99=500ms)"
            )
        limit = parse_duration_ms(value)
        if limit <= 0:
            raise SpecError(f"bad SLO {part!r}: the limit must be positive")
        slos.append(Slo(metric, stat, limit))
    if not slos:
        raise SpecError("--slo needs at least one METRIC_STAT=DURATION")
    return slos


@dataclass(frozen=True)
class Synthetic:
    prompt_tokens: int
    output_tokens: Optional[int]


def parse_synthetic(text: str) -> Synthetic:
    """`prompt_tokens=256,output_tokens=128` (output_tokens optional)."""
    values: Dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("prompt_tokens", "output_tokens"):
            raise SpecError(f"bad --synthetic item {part!r}: expected prompt_tokens=N or output_tokens=N")
        try:
            number = int(value)
        except ValueError:
            raise SpecError(f"bad --synthetic item {part!r}: {value!r} is not an integer") from None
        if not 1 <= number <= 1_000_000:
            raise SpecError(f"bad --synthetic item {part!r}: must be between 1 and 1000000")
        values[key] = number
    if "prompt_tokens" not in values:
        raise SpecError("--synthetic needs prompt_tokens=N")
    return Synthetic(values["prompt_tokens"], values.get("output_tokens"))


def parse_positive_list(text: str, what: str, integer: bool, limit: float = 100_000) -> List[float]:
    """`1,8,32` → [1, 8, 32]; every item positive and at most `limit`."""
    items: List[float] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            value = float(int(part)) if integer else float(part)
        except ValueError:
            raise SpecError(f"bad {what} {part!r}: not {'an integer' if integer else 'a number'}") from None
        if not 0 < value <= limit:
            raise SpecError(f"bad {what} {part!r}: must be positive and at most {limit:g}")
        items.append(value)
    if not items:
        raise SpecError(f"{what} needs at least one value")
    return items
