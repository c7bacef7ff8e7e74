"""From request records to the figures of a run: per-request latencies, token counts, the
percentile summaries, SLO checks and goodput."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from ..utils.tokens import count_tokens
from .record import RequestRecord
from .specs import Slo
from .stats import nearest_rank, summarize_ns


@dataclass
class RequestMetrics:
    ttft_ns: int
    itl_ns: List[int]
    tpot_ns: Optional[int]
    e2e_ns: int
    lag_ns: int
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
        lag_ns=max(0, record.sent_ns - record.scheduled_ns),
        output_tokens=tokens,
    )


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


def summarize_run(
    records: Sequence[RequestRecord], tokenizer_model: str, slos: Optional[Sequence[Slo]], elapsed_s: float
) -> Dict[str, Any]:
    """The measured part of a run's JSON: requests, throughput, latency summaries, SLOs."""
    finished = [r for r in records if r.finished]
    failed = [r for r in finished if r.error_kind is not None]
    errors: Dict[str, int] = {}
    for r in failed:
        errors[r.error_kind or "?"] = errors.get(r.error_kind or "?", 0) + 1
    per: List[RequestMetrics] = []
    sources: Dict[str, int] = {}
    total_tokens = 0
    for r in finished:
        if not r.ok:
            continue
        tokens, source = output_tokens(r, tokenizer_model)
        sources[source] = sources.get(source, 0) + 1
        total_tokens += tokens
        m = request_metrics(r, tokens)
        if m is not None:
            per.append(m)
    completed = len(finished) - len(failed)
    lags = [max(0, r.sent_ns - r.scheduled_ns) for r in records if r.sent_ns]
    out: Dict[str, Any] = {
        "requests": {
            "completed": completed,
            "failed": len(failed),
            "unfinished": len(records) - len(finished),
            "errors_by_kind": dict(sorted(errors.items())),
        },
        "throughput": {
            "requests_per_s": round(completed / elapsed_s, 6) if elapsed_s > 0 else None,
            "output_tokens_per_s": round(total_tokens / elapsed_s, 6) if elapsed_s > 0 else None,
        },
        "output_tokens": {"total": total_tokens, "source_by_request": dict(sorted(sources.items()))},
        "ttft_ms": summarize_ns([m.ttft_ns for m in per]),
        "itl_ms": summarize_ns([g for m in per for g in m.itl_ns]),
        "tpot_ms": summarize_ns([m.tpot_ns for m in per if m.tpot_ns is not None]),
        "e2e_ms": summarize_ns([m.e2e_ns for m in per]),
        "schedule_lag_ms": summarize_ns(lags),
    }
    if slos:
        good = sum(1 for m in per if meets_slos(m, slos))
        out["goodput_per_s"] = round(good / elapsed_s, 6) if elapsed_s > 0 else None
        checks = {}
        for slo in slos:
            measured = out[f"{slo.metric}_ms"].get(slo.stat)
            checks[slo.name] = {
                "limit_ms": slo.limit_ms,
                "measured_ms": measured,
                "met": measured is not None and measured <= slo.limit_ms,
            }
        out["slo"] = {"requests_meeting_all": good, "checks": checks}
    return out
