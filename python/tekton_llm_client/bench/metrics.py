"""From request records to the figures of a run. Each request is folded into the run's
histograms as it ends (its per-chunk times and text are then dropped), so memory does not grow
with the number of chunks: only a few integers per request stay (progress, the timeline)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from ..utils.tokens import count_tokens
from .histogram import Histogram
from .record import RequestRecord
from .specs import Slo


@dataclass
class RequestMetrics:
    ttft_ns: int
    itl_ns: List[int]
    tpot_ns: Optional[int]
    e2e_ns: int
    output_tokens: int


def output_tokens(record: RequestRecord, tokenizer_model: str) -> tuple[int, str]:
    """The request's output tokens and where the number came from: the server's `usage` when it
    sent one, else our own count of the text for `tokenizer_model`."""
    if record.usage_output_tokens is not None:
        return record.usage_output_tokens, "usage"
    return int(count_tokens(record.text, tokenizer_model)), "count_tokens"


def request_metrics(record: RequestRecord, tokens: int) -> Optional[RequestMetrics]:
    """Latencies of a completed request that produced output (None otherwise)."""
    if not record.ok or not record.chunk_ns:
        return None
    first, last = record.chunk_ns[0], record.chunk_ns[-1]
    gaps = [b - a for a, b in zip(record.chunk_ns, record.chunk_ns[1:], strict=False)]
    return RequestMetrics(
        ttft_ns=first - record.scheduled_ns,
        itl_ns=gaps,
        tpot_ns=(last - first) // (tokens - 1) if tokens > 1 else None,
        e2e_ns=max(record.end_ns, last) - record.scheduled_ns,
        output_tokens=tokens,
    )


def nearest_rank(sorted_values: Sequence[int], q: float) -> int:
    """The q-th percentile (0 < q <= 100) of sorted values: the smallest value with at least
    q % of the samples at or below it (exact; used on one request's own gaps)."""
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _per_request_value(m: RequestMetrics, slo: Slo) -> Optional[int]:
    """The figure of one request an SLO limits: its TTFT, TPOT, E2E, or for ITL the stated
    statistic of its own gaps."""
    if slo.metric == "ttft":
        return m.ttft_ns
    if slo.metric == "tpot":
        return m.tpot_ns
    if slo.metric == "e2e":
        return m.e2e_ns
    if not m.itl_ns:
        return None
    gaps = sorted(m.itl_ns)
    if slo.stat == "mean":
        return sum(gaps) // len(gaps)
    if slo.stat == "max":
        return gaps[-1]
    return int(nearest_rank(gaps, float(slo.stat[1:].replace("999", "99.9"))))


def meets_slos(m: RequestMetrics, slos: Sequence[Slo]) -> bool:
    for slo in slos:
        value = _per_request_value(m, slo)
        if value is not None and value > slo.limit_ms * 1e6:
            return False
    return True


class RunAggregate:
    """The figures of one run so far. `fold` each finished request once."""

    def __init__(self, tokenizer_model: str, slos: Optional[Sequence[Slo]]) -> None:
        self.tokenizer_model = tokenizer_model
        self.slos = list(slos or [])
        self.ttft, self.itl, self.tpot, self.e2e, self.lag = (Histogram() for _ in range(5))
        self.completed = 0
        self.failed = 0
        self.errors: Dict[str, int] = {}
        self.sources: Dict[str, int] = {}
        self.total_tokens = 0
        self.meeting_slos = 0

    def fold(self, record: RequestRecord) -> None:
        """Adds a finished request to the figures, then drops its chunk times and text."""
        if record.folded or not record.finished:
            return
        record.folded = True
        if record.sent_ns:
            self.lag.record(record.sent_ns - record.scheduled_ns)
        if record.error_kind is not None:
            self.failed += 1
            self.errors[record.error_kind] = self.errors.get(record.error_kind, 0) + 1
        else:
            self.completed += 1
            tokens, source = output_tokens(record, self.tokenizer_model)
            self.sources[source] = self.sources.get(source, 0) + 1
            self.total_tokens += tokens
            m = request_metrics(record, tokens)
            if m is not None:
                self.ttft.record(m.ttft_ns)
                self.itl.record_all(m.itl_ns)
                if m.tpot_ns is not None:
                    self.tpot.record(m.tpot_ns)
                self.e2e.record(m.e2e_ns)
                if self.slos and meets_slos(m, self.slos):
                    self.meeting_slos += 1
        record.compact()


def summarize_run(records: Sequence[RequestRecord], aggregate: RunAggregate, elapsed_s: float) -> Dict[str, Any]:
    """The measured part of a run's JSON: requests, throughput, latency summaries, SLOs."""
    for r in records:
        aggregate.fold(r)  # any finished request not folded yet (a run cut short)
    # Requests still in flight were sent (or not) late all the same.
    lag = aggregate.lag.copy()
    for r in records:
        if not r.finished and r.sent_ns:
            lag.record(r.sent_ns - r.scheduled_ns)
    a = aggregate
    out: Dict[str, Any] = {
        "requests": {
            "completed": a.completed,
            "failed": a.failed,
            "unfinished": sum(1 for r in records if not r.finished),
            "errors_by_kind": dict(sorted(a.errors.items())),
        },
        "throughput": {
            "requests_per_s": round(a.completed / elapsed_s, 6) if elapsed_s > 0 else None,
            "output_tokens_per_s": round(a.total_tokens / elapsed_s, 6) if elapsed_s > 0 else None,
        },
        "output_tokens": {"total": a.total_tokens, "source_by_request": dict(sorted(a.sources.items()))},
        "ttft_ms": a.ttft.summary_ms(),
        "itl_ms": a.itl.summary_ms(),
        "tpot_ms": a.tpot.summary_ms(),
        "e2e_ms": a.e2e.summary_ms(),
        "schedule_lag_ms": lag.summary_ms(),
    }
    if a.slos:
        out["goodput_per_s"] = round(a.meeting_slos / elapsed_s, 6) if elapsed_s > 0 else None
        checks = {}
        for slo in a.slos:
            measured = out[f"{slo.metric}_ms"].get(slo.stat)
            checks[slo.name] = {
                "limit_ms": slo.limit_ms,
                "measured_ms": measured,
                "met": measured is not None and measured <= slo.limit_ms,
            }
        out["slo"] = {"requests_meeting_all": a.meeting_slos, "checks": checks}
    return out
