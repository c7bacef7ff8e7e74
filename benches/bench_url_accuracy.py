"""Accuracy of `tekton-llm bench --url` (issue 15's goal), against the simulator in its own
process answering with a first-chunk delay of 50 ms and 10 ms between 20 chunks.

The truth is what one careful client measures one request at a time (`bench --concurrency 1`).
Then open loop at 10, 200 and 1,000 requests/s: `tekton-llm bench` (Rhetor v1, Rust path) and a
reference open-loop client on aiohttp written the way `vllm bench serve` writes it (against the
simulator's OpenAI endpoint: Poisson-free constant arrivals by asyncio.sleep, TTFT from when its
task started the request, chunk times when `async for` hands a line over). Reported: each one's
TTFT p50/p99 and ITL p50 error against the truth, the achieved rate, the schedule lag p99.
No assertion: the figures are printed in the summary.

Run: .venv/bin/python -m pytest benches/bench_url_accuracy.py -p no:cacheprovider -q -s
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from .conftest import _server, record

KNOBS = {"first_chunk_delay_ms": 50, "chunk_delay_ms": 10, "chunks": 20}
RATES = [10, 200, 1000]
SECONDS = 3  # of sending per rate


@pytest.fixture(scope="module")
def sim_url() -> Any:
    """The simulator in its own process, its connection cap above what 1,000 requests/s of
    250 ms streams keep open (so a client that falls behind is not also refused)."""
    yield from _server(
        [
            sys.executable,
            "-m",
            "tekton_llm_client",
            "simulate",
            "--port",
            "0",
            "--workers",
            "1",
            "--max-connections",
            "8192",
        ]
    )


def _bench(url: str, tmp: Path, *args: str) -> Dict[str, Any]:
    out = tmp / "b.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tekton_llm_client",
            "bench",
            "--url",
            url,
            "--no-progress",
            "--sim-knobs",
            json.dumps(KNOBS),
            "--json",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode not in (0, 1):
        raise RuntimeError(r.stderr)
    run: Dict[str, Any] = json.loads(out.read_text())["runs"][0]
    return run


def _pct(values: List[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(q / 100 * len(s) + 0.999999) - 1))]


async def _vllm_style(url: str, rate: float, count: int) -> Dict[str, float]:
    """An open-loop client as `vllm bench serve` writes one: aiohttp, a task per request started
    after asyncio.sleep(1/rate), timestamps with perf_counter as chunks are handed over."""
    import aiohttp

    ttfts: List[float] = []
    itls: List[float] = []
    failed = 0
    body = {
        "model": "sim-model-1",
        "messages": [{"role": "user", "content": "benchmark prompt"}],
        "stream": True,
        "sim": KNOBS,
    }
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            st = time.perf_counter()
            last = None
            async with session.post(url + "/v1/chat/completions", json=body) as response:
                async for raw in response.content:
                    line = raw.decode().strip()
                    if not line.startswith("data:") or line.endswith("[DONE]"):
                        continue
                    event = json.loads(line[5:])
                    choices = event.get("choices") or []
                    if choices and choices[0].get("delta", {}).get("content"):
                        now = time.perf_counter()
                        if last is None:
                            ttfts.append((now - st) * 1e3)
                        else:
                            itls.append((now - last) * 1e3)
                        last = now

        tasks = []
        start = time.perf_counter()
        for _ in range(count):
            tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(1.0 / rate)
        sent_for = time.perf_counter() - start
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        failed = sum(1 for o in outcomes if isinstance(o, BaseException))
    return {
        "ttft_p50": _pct(ttfts, 50),
        "ttft_p99": _pct(ttfts, 99),
        "itl_p50": _pct(itls, 50),
        "achieved_rate": (count - 1) / sent_for if sent_for > 0 else 0.0,
        "failed": float(failed),
    }


@pytest.mark.parametrize("rate", RATES)
def test_accuracy(sim_url: str, tmp_path: Path, rate: int) -> None:
    truth = _bench(sim_url, tmp_path, "--concurrency", "1", "--requests", "20")
    t_p50, t_p99, t_itl = truth["ttft_ms"]["p50"], truth["ttft_ms"]["p99"], truth["itl_ms"]["p50"]
    run = _bench(sim_url, tmp_path, "--rate", str(rate), "--requests", str(rate * SECONDS), "--warmup", "4")
    record(
        f"url accuracy at {rate}/s (truth ttft p50 {t_p50:.2f} p99 {t_p99:.2f} itl {t_itl:.3f} ms)",
        "tekton-llm bench",
        ttft_p50_err_ms=run["ttft_ms"]["p50"] - t_p50,
        ttft_p99_err_ms=run["ttft_ms"]["p99"] - t_p99,
        itl_p50_err_ms=run["itl_ms"]["p50"] - t_itl,
        achieved_rate=run["throughput"].get("send_rate_per_s") or 0.0,
        schedule_lag_p99_ms=run["schedule_lag_ms"]["p99"] or 0.0,
        failed=float(run["requests"]["failed"]),
        cpu_fraction=run["client"]["cpu_fraction"],
    )
    ref = asyncio.run(_vllm_style(sim_url, rate, rate * SECONDS))
    record(
        f"url accuracy at {rate}/s (truth ttft p50 {t_p50:.2f} p99 {t_p99:.2f} itl {t_itl:.3f} ms)",
        "aiohttp (vllm-style)",
        ttft_p50_err_ms=ref["ttft_p50"] - t_p50,
        ttft_p99_err_ms=ref["ttft_p99"] - t_p99,
        itl_p50_err_ms=ref["itl_p50"] - t_itl,
        achieved_rate=ref["achieved_rate"],
        failed=ref["failed"],
    )
