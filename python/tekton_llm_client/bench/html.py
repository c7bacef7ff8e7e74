"""`--html FILE`: one self-contained page (inline SVG and CSS, no script, no network) with the
summary table, latency CDFs per run, TTFT and ITL against the load when there are several runs,
and a timeline of each run's requests."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

from .metrics import RunAggregate
from .record import RequestRecord
from .report import client_limit

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
CDF_POINTS = 400
TIMELINE_MAX = 1500
W, H, PAD = 640, 260, 48


@dataclass
class RunSamples:
    """What the page draws of one run (in ms)."""

    label: str
    # CDF points (value, fraction at or below), from the run's histograms
    ttft: List[Tuple[float, float]] = field(default_factory=list)
    itl: List[Tuple[float, float]] = field(default_factory=list)
    e2e: List[Tuple[float, float]] = field(default_factory=list)
    # (due, first chunk or None, end, ok), ms from the run's first due time
    timeline: List[Tuple[float, Any, float, bool]] = field(default_factory=list)
    requests: int = 0  # in the run (the timeline draws at most TIMELINE_MAX of them)


def samples_of(label: str, records: Sequence[RequestRecord], aggregate: RunAggregate) -> RunSamples:
    """`records` already folded into `aggregate` (summarize_run did)."""
    s = RunSamples(label, aggregate.ttft.cdf_ms(), aggregate.itl.cdf_ms(), aggregate.e2e.cdf_ms())
    s.requests = len(records)
    if not records:
        return s
    origin = min(r.scheduled_ns for r in records)
    step = max(1, len(records) // TIMELINE_MAX)
    for r in records[::step]:
        if r.finished:
            first = (r.first_chunk_ns - origin) / 1e6 if r.first_chunk_ns is not None else None
            s.timeline.append(((r.scheduled_ns - origin) / 1e6, first, (r.end_ns - origin) / 1e6, r.ok))
    return s


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _axes(x_max: float, y_max: float, x_label: str, y_label: str) -> List[str]:
    parts = [
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#444"/>',
        f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{H - PAD}" stroke="#444"/>',
        f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{_esc(x_label)}</text>',
        f'<text x="12" y="{H / 2}" transform="rotate(-90 12 {H / 2})" text-anchor="middle">{_esc(y_label)}</text>',
    ]
    for i in range(5):
        fx, fy = x_max * i / 4, y_max * i / 4
        x = PAD + (W - PAD - 10) * i / 4
        y = H - PAD - (H - PAD - 10) * i / 4
        parts.append(f'<text x="{x:.1f}" y="{H - PAD + 14}" text-anchor="middle">{fx:.3g}</text>')
        parts.append(f'<text x="{PAD - 4}" y="{y + 4:.1f}" text-anchor="end">{fy:.3g}</text>')
    return parts


def _scale(x: float, y: float, x_max: float, y_max: float) -> Tuple[float, float]:
    return (PAD + (W - PAD - 10) * (x / x_max if x_max else 0), H - PAD - (H - PAD - 10) * (y / y_max if y_max else 0))


def _legend(labels: Sequence[str]) -> str:
    return "".join(
        f'<span style="color:{COLORS[i % len(COLORS)]}">&#9632; {_esc(label)}</span> ' for i, label in enumerate(labels)
    )


def cdf_svg(title: str, series: Sequence[Tuple[str, List[Tuple[float, float]]]]) -> str:
    present = [(label, points) for label, points in series if points]
    if not present:
        return f"<h3>{_esc(title)}</h3><p>no samples</p>"
    x_max = max(p[-1][0] for _, p in present) or 1.0
    parts = _axes(x_max, 1.0, "ms", "fraction of samples")
    for i, (_, points) in enumerate(present):
        step = max(1, len(points) // CDF_POINTS)
        shown = points[::step] + [points[-1]]
        drawn = " ".join("{:.1f},{:.1f}".format(*_scale(x, y, x_max, 1.0)) for x, y in shown)
        parts.append(f'<polyline fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.5" points="{drawn}"/>')
    return (
        f"<h3>{_esc(title)}</h3><p>{_legend([label for label, _ in present])}</p>"
        f'<svg width="{W}" height="{H}" font-size="10">{"".join(parts)}</svg>'
    )


def load_svg(title: str, xs: List[float], lines: Dict[str, List[Any]], x_label: str) -> str:
    pts = {k: [(x, y) for x, y in zip(xs, v, strict=False) if y is not None] for k, v in lines.items()}
    ys = [y for v in pts.values() for _, y in v]
    if len(xs) < 2 or not ys:
        return ""
    x_max, y_max = max(xs), max(ys) or 1.0
    parts = _axes(x_max, y_max, x_label, "ms")
    for i, (_, v) in enumerate(pts.items()):
        color = COLORS[i % len(COLORS)]
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="'
            + " ".join("{:.1f},{:.1f}".format(*_scale(x, y, x_max, y_max)) for x, y in v)
            + '"/>'
        )
        for x, y in v:
            cx, cy = _scale(x, y, x_max, y_max)
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{color}"/>')
    return (
        f"<h3>{_esc(title)}</h3><p>{_legend(list(pts))}</p>"
        f'<svg width="{W}" height="{H}" font-size="10">{"".join(parts)}</svg>'
    )


def timeline_svg(s: RunSamples) -> str:
    rows = s.timeline
    if not rows:
        return ""
    x_max = max(end for _, _, end, _ in rows) or 1.0
    height = max(H, min(1200, 2 * len(rows) + PAD + 10))
    parts = [
        f'<text x="{W / 2}" y="{height - 8}" text-anchor="middle">ms from the first due time '
        f"(grey: due to first chunk, blue: streaming, red: failed)</text>"
    ]
    for i, (due, first, end, ok) in enumerate(rows):
        y = 10 + (height - PAD - 10) * i / max(1, len(rows))
        x0 = PAD + (W - PAD - 10) * due / x_max
        x2 = PAD + (W - PAD - 10) * end / x_max
        if not ok:
            parts.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" stroke="#d62728"/>')
            continue
        x1 = PAD + (W - PAD - 10) * (first if first is not None else end) / x_max
        parts.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="#aaa"/>')
        parts.append(f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" stroke="#1f77b4"/>')
    return (
        f"<h3>Timeline: {_esc(s.label)} ({len(rows)} of {s.requests} requests)</h3>"
        f'<svg width="{W}" height="{height}" font-size="10">{"".join(parts)}</svg>'
    )


def _table(runs: Sequence[Dict[str, Any]]) -> str:
    head = [
        "run",
        "done",
        "failed",
        "errors",
        "req/s",
        "tok/s",
        "TTFT p50",
        "p99",
        "ITL p50",
        "p99",
        "TPOT p50",
        "E2E p50",
        "p99",
        "lag p99",
        "goodput/s",
    ]
    body = []
    for run in runs:

        def f(v: Any) -> str:
            return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

        errors = ", ".join(f"{k}: {v}" for k, v in run["requests"]["errors_by_kind"].items())
        cells = [
            run_label(run),
            run["requests"]["completed"],
            run["requests"]["failed"],
            errors or "-",
            run["throughput"]["requests_per_s"],
            run["throughput"]["output_tokens_per_s"],
            run["ttft_ms"]["p50"],
            run["ttft_ms"]["p99"],
            run["itl_ms"]["p50"],
            run["itl_ms"]["p99"],
            run["tpot_ms"]["p50"],
            run["e2e_ms"]["p50"],
            run["e2e_ms"]["p99"],
            run["schedule_lag_ms"]["p99"],
            run.get("goodput_per_s"),
        ]
        body.append("<tr>" + "".join(f"<td>{_esc(f(c))}</td>" for c in cells) + "</tr>")
    return "<table><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr>" + "".join(body) + "</table>"


def run_label(run: Dict[str, Any]) -> str:
    c = run["config"]
    return f"rate {c['rate']:g}/s" if c["mode"] == "open" else f"concurrency {c['concurrency']}"


def render(document: Dict[str, Any], samples: Sequence[RunSamples]) -> str:
    runs = document["runs"]
    tool = document["tool"]
    notes = "".join(
        f"<li>{_esc(run_label(r))}: {_esc(n)}</li>" for r in runs for n in r.get("notes", []) + r["client"]["warnings"]
    )
    limit = client_limit(runs)
    if limit:
        notes += f"<li><b>{_esc(limit)}</b></li>"
    sections = [
        _table(runs),
        f"<ul>{notes}</ul>" if notes else "",
        cdf_svg("TTFT (from the scheduled send time)", [(s.label, s.ttft) for s in samples]),
        cdf_svg("Inter-token latency (every gap)", [(s.label, s.itl) for s in samples]),
        cdf_svg("End-to-end latency", [(s.label, s.e2e) for s in samples]),
    ]
    if len(runs) > 1:
        # Against what each run achieved (mixed closed and open runs share one axis, as in a sweep).
        xs = [float(r["throughput"]["requests_per_s"] or 0.0) for r in runs]
        x_label = "requests/s achieved"
        sections.append(
            load_svg(
                "TTFT against the load",
                xs,
                {"TTFT p50": [r["ttft_ms"]["p50"] for r in runs], "TTFT p99": [r["ttft_ms"]["p99"] for r in runs]},
                x_label,
            )
        )
        sections.append(
            load_svg(
                "ITL against the load",
                xs,
                {"ITL p50": [r["itl_ms"]["p50"] for r in runs], "ITL p99": [r["itl_ms"]["p99"] for r in runs]},
                x_label,
            )
        )
    sections.extend(timeline_svg(s) for s in samples)
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}svg{background:#fafafa}"
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>tekton-llm bench</title>'
        f"<style>{style}</style></head><body><h1>tekton-llm bench</h1>"
        f"<p>{_esc(tool['name'])} {_esc(tool['version'])} on {_esc(tool['platform'])}, "
        f"{_esc(tool['cpu_count'])} CPUs; chunk times: {_esc(tool['timestamps'])}; percentiles: "
        f"{_esc(tool['percentiles'])}</p>{''.join(sections)}</body></html>\n"
    )


def write_html(path: str, document: Dict[str, Any], samples: Sequence[RunSamples]) -> None:
    """Written whole and atomically, like the JSON."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render(document, samples))
    os.replace(tmp, path)
