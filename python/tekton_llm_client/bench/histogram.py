"""A log-linear histogram of non-negative integers (ns), HDR-style: memory bounded by the range
of the values, not their number, at a stated precision.

Values below 2,048 have a bucket each (exact). Above, a value's bucket keeps its top 11 bits: a
bucket is at most 1/1024 of its lowest value wide, and a percentile is reported as the middle of
its bucket (clamped to the exact min and max), so it is within 1/2048 (0.05 %) of a value that
was measured: 3 significant digits. Count, mean, min and max are exact. Values up to 2^63 need
at most 2,048 + 52 x 1,024 buckets (55,296), however many are recorded."""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Optional, Tuple

SUB_BITS = 11
SUB_COUNT = 1 << SUB_BITS  # 2048 exact buckets, then 1024 per power of two
HALF = SUB_COUNT >> 1
SIGNIFICANT_DIGITS = 3
RELATIVE_ERROR = 1.0 / SUB_COUNT  # of a reported percentile, at most
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9))
PRECISION = (
    "HDR-style log-linear histograms of ns values, 3 significant digits: a percentile is within "
    "0.05 % of a measured value (nearest rank, the middle of its bucket; exact below 2.048 us); "
    "count, mean, min and max exact; reported in ms"
)


def bucket_of(value: int) -> int:
    if value < SUB_COUNT:
        return value
    shift = value.bit_length() - SUB_BITS
    return SUB_COUNT + (shift - 1) * HALF + ((value >> shift) - HALF)


def bucket_bounds(index: int) -> Tuple[int, int]:
    """The lowest and highest value of a bucket."""
    if index < SUB_COUNT:
        return index, index
    shift = (index - SUB_COUNT) // HALF + 1
    top = (index - SUB_COUNT) % HALF + HALF
    return top << shift, ((top + 1) << shift) - 1


class Histogram:
    __slots__ = ("counts", "count", "total", "min", "max")

    def __init__(self) -> None:
        self.counts: Dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min: Optional[int] = None
        self.max: Optional[int] = None

    def record(self, value: int) -> None:
        """Records one value; a negative one (clocks never give one) counts as 0."""
        value = max(0, int(value))
        index = bucket_of(value)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.count += 1
        self.total += value
        if self.max is None or value > self.max:
            self.max = value
        if self.min is None or value < self.min:
            self.min = value

    def record_all(self, values: Iterable[int]) -> None:
        for value in values:
            self.record(value)

    def copy(self) -> "Histogram":
        other = Histogram()
        other.counts = dict(self.counts)
        other.count, other.total, other.min, other.max = self.count, self.total, self.min, self.max
        return other

    def percentile(self, q: float) -> Optional[float]:
        """The q-th percentile (0 < q <= 100), nearest rank: the middle of the bucket holding the
        smallest value with at least q % of the values at or below it. None when empty."""
        if self.count == 0 or self.min is None or self.max is None:
            return None
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                low, high = bucket_bounds(index)
                return min(max((low + high) / 2.0, self.min), self.max)
        return float(self.max)

    def summary_ms(self) -> Dict[str, Any]:
        """count, mean, p50, p90, p95, p99, p999, max in ms (None when empty)."""
        out: Dict[str, Any] = {"count": self.count}
        if self.count == 0 or self.max is None:
            out.update({"mean": None, **{name: None for name, _ in PERCENTILES}, "max": None})
            return out
        out["mean"] = round(self.total / self.count / 1e6, 6)
        for name, q in PERCENTILES:
            value = self.percentile(q)
            out[name] = None if value is None else round(value / 1e6, 6)
        out["max"] = round(self.max / 1e6, 6)
        return out

    def cdf_ms(self) -> List[Tuple[float, float]]:
        """(value in ms, fraction of values at or below it), one point per bucket."""
        points: List[Tuple[float, float]] = []
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            points.append((min(bucket_bounds(index)[1], self.max or 0) / 1e6, seen / self.count))
        return points


def summarize_ns(values_ns: Iterable[int]) -> Dict[str, Any]:
    """The summary of a few values at once (through a histogram, like every other figure)."""
    h = Histogram()
    h.record_all(values_ns)
    return h.summary_ms()
