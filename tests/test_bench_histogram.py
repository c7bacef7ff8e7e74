"""The bench's percentile histogram (tekton_llm_client.bench.histogram): percentiles within the
stated precision of the exact nearest-rank value, exact count/mean/max, memory bounded by the
range of the values and not their number. Pure computation: no server involved."""

from __future__ import annotations

import math
import random
from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st
from tekton_llm_client.bench.histogram import (
    PERCENTILES,
    PRECISION,
    RELATIVE_ERROR,
    SUB_COUNT,
    Histogram,
    bucket_bounds,
    bucket_of,
)


def exact(values: List[int], q: float) -> int:
    s = sorted(values)
    return s[max(1, math.ceil(q / 100 * len(s))) - 1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=400))
def test_percentiles_are_within_the_stated_precision(values: List[int]) -> None:
    h = Histogram()
    h.record_all(values)
    for _, q in PERCENTILES:
        truth = exact(values, q)
        got = h.percentile(q)
        assert got is not None
        assert abs(got - truth) <= truth * RELATIVE_ERROR, (q, got, truth)
    summary = h.summary_ms()
    assert summary["count"] == len(values)
    assert summary["max"] == round(max(values) / 1e6, 6)  # exact
    assert summary["mean"] == round(sum(values) / len(values) / 1e6, 6)  # exact


@given(st.integers(min_value=0, max_value=2**62))
def test_a_value_lies_in_its_bucket_and_buckets_are_narrow(value: int) -> None:
    low, high = bucket_bounds(bucket_of(value))
    assert low <= value <= high
    assert high - low <= max(0, low) * 2 * RELATIVE_ERROR  # at most 1/1024 of the value wide
    if value < SUB_COUNT:
        assert low == high == value


def test_known_latencies() -> None:
    # 1,000 TTFTs of 50.000 ms to 59.990 ms in steps of 10 us, shuffled
    values = [50_000_000 + 10_000 * i for i in range(1000)]
    random.Random(1).shuffle(values)
    h = Histogram()
    h.record_all(values)
    s = h.summary_ms()
    assert abs(s["p50"] - 54.99) <= 54.99 * RELATIVE_ERROR
    assert abs(s["p99"] - 59.89) <= 59.89 * RELATIVE_ERROR
    assert abs(s["p999"] - 59.98) <= 59.98 * RELATIVE_ERROR
    assert s["max"] == 59.99 and s["count"] == 1000
    assert "3 significant digits" in PRECISION


def test_memory_does_not_grow_with_the_number_of_values() -> None:
    rng = random.Random(7)
    h = Histogram()
    sizes = []
    for _ in range(4):
        h.record_all(rng.randrange(10**6, 10**10) for _ in range(50_000))  # 1 ms to 10 s in ns
        sizes.append(len(h.counts))
    # values below 2^34 ns need at most 2,048 + 23 x 1,024 buckets, however many are recorded
    assert max(sizes) <= SUB_COUNT + 23 * (SUB_COUNT // 2)
    assert h.count == 200_000
    assert sizes[-1] - sizes[-2] < sizes[0] // 10  # later values fill buckets that exist


def test_an_empty_histogram_reports_none() -> None:
    s = Histogram().summary_ms()
    assert s["count"] == 0 and all(s[k] is None for k in ("mean", "p50", "p99", "p999", "max"))


def test_a_request_is_folded_into_the_run_and_its_chunk_times_dropped() -> None:
    from tekton_llm_client.bench.metrics import RunAggregate
    from tekton_llm_client.bench.record import RequestRecord

    run = RunAggregate("gpt-4o", None)
    for i in range(3):
        r = RequestRecord(i, scheduled_ns=1_000_000_000, sent_ns=1_000_500_000)
        r.chunk_ns = [1_050_000_000 + 10_000_000 * k for k in range(20)]
        r.text_parts = ["x"] * 20
        r.usage_output_tokens = 20
        r.end_ns = r.chunk_ns[-1]
        r.finished = True
        run.fold(r)
        run.fold(r)  # once only
        assert r.chunk_ns == [] and r.text_parts == [] and r.first_chunk_ns == 1_050_000_000
    assert run.completed == 3 and run.ttft.count == 3 and run.itl.count == 3 * 19
    assert run.ttft.summary_ms()["max"] == 50.0 and run.lag.summary_ms()["max"] == 0.5
    assert abs(run.itl.summary_ms()["p50"] - 10.0) <= 10.0 * RELATIVE_ERROR
