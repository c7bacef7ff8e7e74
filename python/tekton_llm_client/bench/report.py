"""The run report: the JSON document (`{"tool": ..., "runs": [...]}`, written whole after every
run and when a run is cut short), the summary table, and the client's verdict on itself."""

from __future__ import annotations

import json
import os
import platform
import sys
from typing import Any, Dict, List, Optional, TextIO

from .._version import __version__
from .histogram import PRECISION, summarize_ns

# Above these, the client's own delays are large enough to distort what it measures.
LAG_P99_LIMIT_MS = 1.0
LOOP_LAG_P99_LIMIT_MS = 2.0
CPU_BUSY_FRACTION = 0.9


def tool_info(wake_window_us: Optional[str], timestamps: str) -> Dict[str, Any]:
    return {
        "name": "tekton-llm bench",
        "version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "percentiles": PRECISION,
        "timestamps": timestamps,
        "wake_window_us": wake_window_us,
    }


def self_check(run: Dict[str, Any], cpu_s: float, elapsed_s: float, loop_lag_ns: List[int]) -> Dict[str, Any]:
    """(Schedule lag is judged for open-loop runs only: a closed loop has no schedule to keep.)"""
    """The client's CPU, its event loop's lag, and plain warnings when either (or the
    schedule lag) says the client, not the server, may be what was measured."""
    loop_lag = summarize_ns(loop_lag_ns)
    cpu_fraction = cpu_s / elapsed_s if elapsed_s > 0 else 0.0
    warnings: List[str] = []
    lag_p99 = run["schedule_lag_ms"].get("p99") if run["config"]["mode"] == "open" else None
    if lag_p99 is not None and lag_p99 > LAG_P99_LIMIT_MS:
        warnings.append(
            f"requests were sent late (schedule lag p99 {lag_p99:.3f} ms > "
            f"{LAG_P99_LIMIT_MS} ms): the client or --max-concurrency held them back; "
            "latencies include that wait, throughput is below the asked rate"
        )
    if loop_lag["p99"] is not None and loop_lag["p99"] > LOOP_LAG_P99_LIMIT_MS:
        warnings.append(
            f"the client's event loop was busy (loop lag p99 {loop_lag['p99']:.3f} ms): "
            "chunk times stay exact on the Rust path, and Rhetor v1 sends (timed by the I/O "
            "thread, handed over 20 ms ahead) while the lag stays below that; the rest does not"
        )
    if cpu_fraction > CPU_BUSY_FRACTION:
        warnings.append(f"the client used {cpu_fraction:.0%} of a CPU: it is likely the bottleneck at this load")
    return {
        "cpu_s": round(cpu_s, 6),
        "cpu_fraction": round(cpu_fraction, 4),
        "loop_lag_ms": loop_lag,
        "trustworthy": not warnings,
        "warnings": warnings,
    }


def client_limit(runs: List[Dict[str, Any]]) -> Optional[str]:
    """Across the open-loop runs, from which rate the client's own figures stop being
    trustworthy (the lowest rate with a warning), said plainly; None with fewer than two
    open-loop runs or when every run was trustworthy."""
    opened = sorted((r for r in runs if r["config"]["mode"] == "open"), key=lambda r: r["config"]["rate"])
    if len(opened) < 2:
        return None
    bad = [r for r in opened if not r["client"]["trustworthy"]]
    if not bad:
        return None
    first = bad[0]["config"]["rate"]
    good = [r["config"]["rate"] for r in opened if r["client"]["trustworthy"] and r["config"]["rate"] < first]
    kept = f"trustworthy up to {max(good):g}/s; " if good else ""
    return (
        f"this client's figures stop being trustworthy from {first:g}/s ({kept}from there they "
        "include its own delays or its --max-concurrency wait: see the warnings)"
    )


def write_json(path: str, document: Dict[str, Any]) -> None:
    """Writes the whole document atomically (a reader never sees half a file); "-" is stdout."""
    text = json.dumps(document, indent=2, sort_keys=False)
    if path == "-":
        sys.stdout.write(text + "\n")
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(runs: List[Dict[str, Any]], out: TextIO) -> None:
    header = [
        "load",
        "done",
        "failed",
        "req/s",
        "tok/s",
        "ttft p50",
        "p99",
        "itl p50",
        "p99",
        "tpot p50",
        "e2e p50",
        "p99",
        "lag p99",
    ]
    rows = []
    for run in runs:
        c = run["config"]
        load = f"rate {c['rate']:g}/s" if c["mode"] == "open" else f"conc {c['concurrency']}"
        rows.append(
            [
                load,
                str(run["requests"]["completed"]),
                str(run["requests"]["failed"]),
                _fmt(run["throughput"]["requests_per_s"]),
                _fmt(run["throughput"]["output_tokens_per_s"], 1),
                _fmt(run["ttft_ms"]["p50"]),
                _fmt(run["ttft_ms"]["p99"]),
                _fmt(run["itl_ms"]["p50"], 3),
                _fmt(run["itl_ms"]["p99"], 3),
                _fmt(run["tpot_ms"]["p50"], 3),
                _fmt(run["e2e_ms"]["p50"]),
                _fmt(run["e2e_ms"]["p99"]),
                _fmt(run["schedule_lag_ms"]["p99"], 3),
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)] if rows else []
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)), file=out)
    for r in rows:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)), file=out)
    print(
        "(times in ms, measured from each request's scheduled send time; percentiles to 3 significant "
        "digits (HDR-style histograms), max exact)",
        file=out,
    )
    for run in runs:
        c = run["config"]
        tag = f"rate {c['rate']:g}/s" if c["mode"] == "open" else f"conc {c['concurrency']}"
        errors = run["requests"]["errors_by_kind"]
        if errors:
            print(f"{tag}: failures by kind: " + ", ".join(f"{k}: {v}" for k, v in errors.items()), file=out)
        if "goodput_per_s" in run:
            checks = ", ".join(
                f"{name} {_fmt(ch['measured_ms'])} ms {'ok' if ch['met'] else 'MISSED'}"
                for name, ch in run["slo"]["checks"].items()
            )
            print(f"{tag}: goodput {_fmt(run['goodput_per_s'])} req/s; {checks}", file=out)
        for note in run.get("notes", []):
            print(f"{tag}: note: {note}", file=out)
        for warning in run["client"]["warnings"]:
            print(f"{tag}: warning: {warning}", file=out)
    limit = client_limit(runs)
    if limit:
        print(f"note: {limit}", file=out)
