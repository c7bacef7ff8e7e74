"""Percentile summaries. Exact: every sample is kept and sorted (nearest-rank), so a reported
percentile is a value that was measured; samples are ns integers, reported in ms."""

from __future__ import annotations

import math
from typing import Any, Dict, Sequence

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9))
PRECISION = "exact: nearest-rank over every sample (no histogram), timestamps in ns, reported in ms"


def nearest_rank(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q <= 100) of already sorted values: the smallest value with at
    least q % of the samples at or below it."""
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize_ns(values_ns: Sequence[int]) -> Dict[str, Any]:
    """mean, p50, p90, p95, p99, p999, max (ms) and count. Empty → the figures are None."""
    out: Dict[str, Any] = {"count": len(values_ns)}
    if not values_ns:
        out.update({"mean": None, **{name: None for name, _ in PERCENTILES}, "max": None})
        return out
    s = sorted(values_ns)
    out["mean"] = round(sum(s) / len(s) / 1e6, 6)
    for name, q in PERCENTILES:
        out[name] = round(nearest_rank(s, q) / 1e6, 6)
    out["max"] = round(s[-1] / 1e6, 6)
    return out
