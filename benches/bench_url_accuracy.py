"""Accuracy of `tekton-llm bench --url` (issue 15's goal), in one run, against the simulator in
its own process answering every request with a first chunk after 50 ms and 20 chunks 10 ms
apart (its default knobs, so every client sends the same plain request).

- The truth: one careful client (benches/careful_client.py: a blocking socket in a thread, one
  request a second) measures TTFT and the gaps.
- Then open loop at 10, 100, 200 and 1,000 requests/s (others with TEKTON_BENCH_URL_RATES),
  5 s of sending each but at least 200 requests, with: `tekton-llm bench` (its own code path,
  a subprocess: `--api openai` against the same endpoint as the others, and `--api rhetor`),
  a reference client on aiohttp written the way `vllm bench serve` is (benches/vllm_style_client.py), and guidellm when
  TEKTON_BENCH_GUIDELLM_VENV names a venv it is installed in (else reported "not installed").
- Each one's error against the truth: TTFT p50 and p99, ITL p50, the achieved rate against the
  asked one, the schedule lag p99. The goal (within 1 ms, 0.5 ms, 1 %, lag p99 <= 1 ms) is
  checked and printed, met or not; nothing is asserted and nothing is tuned to pass.
- The verdict: the lowest rate at which the aiohttp reference's TTFT p99 is off by > 1 ms, and
  whether `tekton-llm bench` is still accurate at 10x that rate.

The simulator shares the machine with the clients (and whatever else runs on it): its own CPU
and scheduling delays are in every figure, the truth's included. So each row also gives how late
the simulator's own first-chunk pauses ended during that client's run (`GET /sim/lateness`,
p50 and p99, the truth's alongside), and the TTFT p99 that kernel-stamped probes
(benches/kernel_stamped_probe.py, 16 requests/s in a process of their own) saw of the same
server in the same seconds: the client's TTFT p99 minus theirs is the client's own share.

Run: TEKTON_BENCH_GUIDELLM_VENV=/work/venv-guidellm \
     .venv/bin/python -m pytest benches/bench_url_accuracy.py -p no:cacheprovider -q -s
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from . import careful_client, guidellm_runner, vllm_style_client
from .conftest import _server, record

KNOBS = ["--first-chunk-delay-ms", "50", "--chunk-delay-ms", "10", "--chunks", "20"]
RATES = [float(r) for r in os.environ.get("TEKTON_BENCH_URL_RATES", "10,100,200,1000").split(",")]
SECONDS = 5  # of sending per rate, but at least MIN_REQUESTS
# A p99 of fewer than ~100 samples is the maximum: one hiccup decides it.
MIN_REQUESTS = 200
TRUTH_REQUESTS = 100
GOAL = {"ttft_p50": 1.0, "ttft_p99": 1.0, "itl_p50": 0.5, "rate_pct": 1.0, "lag_p99": 1.0}

# rate -> contender -> figures (errors against the truth), for the verdict
TABLE: Dict[float, Dict[str, Dict[str, Any]]] = {}
TRUTH: Dict[str, float] = {}


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    """The simulator in its own process, its connection cap above what 1,000 requests/s of
    250 ms streams keep open (so a client that falls behind is not also refused)."""
    yield from _server(
        [sys.executable, "-m", "tekton_llm_client", "simulate", "--port", "0", "--workers", "1"]
        + ["--max-connections", "16384", *KNOBS]
    )


def server_lateness(url: str, reset: bool = False) -> Dict[str, float]:
    """How late the simulator's first-chunk pauses ended (ms), since the last reset; with
    `reset`, starts the count over."""
    request = urllib.request.Request(url + "/sim/lateness", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        first = json.loads(response.read())["first_chunk"]
    late = first.get("late_ms") or {}
    return {"server_late_p50_ms": late.get("p50", float("nan")), "server_late_p99_ms": late.get("p99", float("nan"))}


PROBE_PARALLEL, PROBE_PERIOD_S = 4, 0.25  # 16 requests/s of probes beside the measured client


@contextlib.contextmanager
def probes(url: str, seconds: float) -> Iterator[Dict[str, float]]:
    """Kernel-stamped probes (benches/kernel_stamped_probe.py, a process of their own) for about
    `seconds` beside a client's run; on exit, their TTFT p99 and count go into the yielded dict."""
    argv = [sys.executable, "-m", "benches.kernel_stamped_probe", url, f"{seconds:.1f}"]
    argv += [str(PROBE_PARALLEL), str(PROBE_PERIOD_S)]
    process = subprocess.Popen(argv, cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, text=True)
    found: Dict[str, float] = {}
    try:
        yield found
    finally:
        out, _ = process.communicate(timeout=seconds + 120)
        ttfts = json.loads(out)["ttft_ms"] if process.returncode == 0 and out else []
        found.update({"probe_ttft_p99_ms": pct(ttfts, 99), "probe_count": float(len(ttfts))})


def pct(values: List[float], q: float) -> float:
    """Nearest rank, as the tool reports."""
    s = sorted(values)
    return s[max(1, math.ceil(q / 100 * len(s))) - 1] if s else float("nan")


@pytest.fixture(scope="module")
def truth(sim_url: str) -> Dict[str, float]:
    server_lateness(sim_url, reset=True)
    measured = careful_client.measure(sim_url, TRUTH_REQUESTS, period_s=1.0)
    t = {
        "ttft_p50": pct(measured["ttft"], 50),
        "ttft_p99": pct(measured["ttft"], 99),
        "itl_p50": pct(measured["itl"], 50),
        **server_lateness(sim_url),
    }
    TRUTH.update(t)
    print(f"\ntruth (careful client, 1 request/s, {TRUTH_REQUESTS} requests): {json.dumps(t)}")
    return t


def _tool(url: str, tmp: Path, api: str, rate: float) -> Dict[str, Any]:
    out = tmp / f"tool-{api}-{rate:g}.json"
    count = _count(rate)
    argv = [sys.executable, "-m", "tekton_llm_client", "bench", "--url", url, "--api", api, "--no-progress"]
    argv += ["--rate", f"{rate:g}", "--requests", str(count), "--warmup", "8", "--json", str(out)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if r.returncode not in (0, 1):
        raise RuntimeError(r.stderr[-800:])
    run: Dict[str, Any] = json.loads(out.read_text())["runs"][0]
    return {
        "ttft_p50": run["ttft_ms"]["p50"],
        "ttft_p99": run["ttft_ms"]["p99"],
        "itl_p50": run["itl_ms"]["p50"],
        "achieved_rate": run["throughput"].get("send_rate_per_s") or 0.0,
        "lag_p99": run["schedule_lag_ms"]["p99"],
        "failed": run["requests"]["failed"] + run["requests"]["unfinished"],
        "cpu_fraction": run["client"]["cpu_fraction"],
        "trustworthy": run["client"]["trustworthy"],
    }


def _count(rate: float) -> int:
    return max(int(rate * SECONDS), MIN_REQUESTS)


def _errors(name: str, rate: float, got: Dict[str, Any], truth: Dict[str, float]) -> Dict[str, Any]:
    e: Dict[str, Any] = {
        "ttft_p50_err_ms": got["ttft_p50"] - truth["ttft_p50"],
        "ttft_p99_err_ms": got["ttft_p99"] - truth["ttft_p99"],
        "itl_p50_err_ms": got["itl_p50"] - truth["itl_p50"],
        "achieved_rate": got["achieved_rate"],
        "rate_err_pct": (got["achieved_rate"] - rate) / rate * 100,
        "lag_p99_ms": got["lag_p99"],
        "failed": got["failed"],
        **got["server"],
    }
    # The client's own share of its TTFT p99: above what an unhurried, kernel-timed client saw
    # of the same server in the same seconds.
    e["client_share_p99_ms"] = got["ttft_p99"] - e.get("probe_ttft_p99_ms", float("nan"))
    e["accurate"] = (
        abs(e["ttft_p50_err_ms"]) <= GOAL["ttft_p50"]
        and abs(e["ttft_p99_err_ms"]) <= GOAL["ttft_p99"]
        and abs(e["itl_p50_err_ms"]) <= GOAL["itl_p50"]
        and abs(e["rate_err_pct"]) <= GOAL["rate_pct"]
        and e["lag_p99_ms"] is not None
        and e["lag_p99_ms"] <= GOAL["lag_p99"]
        and not got["failed"]
    )
    TABLE.setdefault(rate, {})[name] = e
    record(
        f"url accuracy at {rate:g}/s, errors against the truth",
        name,
        **{k: float(v) for k, v in e.items() if isinstance(v, (int, float)) and v is not None},
    )
    print(f"  {rate:>6g}/s  {name:28s} " + json.dumps({k: _round(v) for k, v in e.items()}))
    return e


def _round(v: Any) -> Any:
    return round(v, 3) if isinstance(v, float) else v


@pytest.mark.timeout(1800)  # guidellm at 1,000/s on 2 shared cores takes minutes
@pytest.mark.parametrize("rate", RATES)
def test_accuracy(sim_url: str, truth: Dict[str, float], tmp_path: Path, rate: float) -> None:
    count = _count(rate)
    seconds = count / rate
    for api in ("openai", "rhetor"):
        server_lateness(sim_url, reset=True)
        with probes(sim_url, seconds) as probed:
            got = _tool(sim_url, tmp_path, api, rate)
        _errors(f"tekton-llm bench --api {api}", rate, {**got, "server": {**server_lateness(sim_url), **probed}}, truth)
    server_lateness(sim_url, reset=True)
    with probes(sim_url, seconds) as probed:
        ref = asyncio.run(vllm_style_client.run(sim_url, rate, count))
    _errors(
        "aiohttp (vllm-style)",
        rate,
        {
            "ttft_p50": pct(ref["ttft"], 50),
            "ttft_p99": pct(ref["ttft"], 99),
            "itl_p50": pct(ref["itl"], 50),
            "achieved_rate": ref["achieved_rate"][0],
            "lag_p99": pct(ref["schedule_lag"], 99),
            "failed": int(ref["failed"][0]),
            "server": {**server_lateness(sim_url), **probed},
        },
        truth,
    )
    if guidellm_runner.venv() is None:
        TABLE.setdefault(rate, {})["guidellm"] = {"not installed": guidellm_runner.VENV_ENV + " unset"}
        print(f"  {rate:>6g}/s  guidellm: not installed (set {guidellm_runner.VENV_ENV})")
        return
    try:
        server_lateness(sim_url, reset=True)
        with probes(sim_url, seconds) as probed:
            g = guidellm_runner.run(sim_url, rate, count, tmp_path)
    except Exception as exc:  # reported, not skipped
        TABLE.setdefault(rate, {})["guidellm"] = {"failed to run": str(exc)[:300]}
        print(f"  {rate:>6g}/s  guidellm: failed to run: {exc}")
        return
    _errors(
        "guidellm",
        rate,
        {
            "ttft_p50": g["ttft_p50"][0],
            "ttft_p99": g["ttft_p99"][0],
            "itl_p50": g["itl_p50"][0],
            "achieved_rate": g["achieved_rate"][0],
            "lag_p99": pct(g["schedule_lag"], 99),
            "failed": int(g["failed"][0]),
            "server": {**server_lateness(sim_url), **probed},
        },
        truth,
    )


def test_verdict() -> None:
    """The lowest rate at which the aiohttp reference's TTFT p99 is off by more than 1 ms, and
    whether `tekton-llm bench` is accurate (every goal) at 10x that rate. Printed, not asserted."""
    off: Optional[float] = None
    for rate in sorted(TABLE):
        ref = TABLE[rate].get("aiohttp (vllm-style)")
        if ref and abs(ref["ttft_p99_err_ms"]) > GOAL["ttft_p99"]:
            off = rate
            break
    lines = []
    if off is None:
        lines.append("aiohttp reference: TTFT p99 within 1 ms at every rate run")
    else:
        lines.append(f"aiohttp reference: TTFT p99 off by > 1 ms from {off:g}/s")
        for api in ("openai", "rhetor"):
            name = f"tekton-llm bench --api {api}"
            at = [r for r in sorted(TABLE) if r >= 10 * off and name in TABLE[r]]
            if not at:
                lines.append(f"{name}: no run at >= {10 * off:g}/s (add it to TEKTON_BENCH_URL_RATES)")
                continue
            e = TABLE[at[0]][name]
            lines.append(f"{name} at {at[0]:g}/s: {'accurate (goal met)' if e['accurate'] else 'NOT accurate'}")
    for rate in sorted(TABLE):
        for name, e in TABLE[rate].items():
            if "accurate" in e:
                lines.append(f"{rate:g}/s {name}: {'goal met' if e['accurate'] else 'goal NOT met'}")
    # Where a TTFT p99 is off, how late the server itself was in that run: an error no larger
    # than the server's own added lateness is the server measured, not the client erring.
    truth_late = TRUTH.get("server_late_p99_ms", float("nan"))
    for rate in sorted(TABLE):
        for name, e in TABLE[rate].items():
            if "ttft_p99_err_ms" in e and abs(e["ttft_p99_err_ms"]) > GOAL["ttft_p99"]:
                added = e.get("server_late_p99_ms", float("nan")) - truth_late
                lines.append(
                    f"{rate:g}/s {name}: TTFT p99 off by {e['ttft_p99_err_ms']:+.2f} ms; the server's first-chunk "
                    f"lateness p99 was {e.get('server_late_p99_ms', float('nan')):.2f} ms in that run "
                    f"({added:+.2f} ms over the truth's run); kernel-stamped probes beside it saw a TTFT p99 of "
                    f"{e.get('probe_ttft_p99_ms', float('nan')):.2f} ms ({e.get('probe_count', 0):.0f} probes), "
                    f"so the client's own share is {e.get('client_share_p99_ms', float('nan')):+.2f} ms"
                )
    print("\n" + "\n".join(lines))
    out = os.environ.get("TEKTON_BENCH_URL_ACCURACY_JSON")
    if out:
        Path(out).write_text(json.dumps({str(k): v for k, v in TABLE.items()}, indent=2) + "\n")
