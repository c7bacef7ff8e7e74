"""Non-streaming calls at concurrency 1, 16 and 64: calls/s, client CPU per call, p50/p99 latency."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List

import pytest

from .conftest import record
from .contenders import make, percentile

CONTENDERS = ["rust", "python", "httpx+httpx-sse", "aiohttp"]
CALLS = 3000


def _run(url: str, name: str, concurrency: int) -> Dict[str, float]:
    async def go() -> Dict[str, float]:
        c = make(name, url)
        await asyncio.gather(*(c.call("warm", {}) for _ in range(concurrency)))
        lat: List[float] = []
        todo = iter(range(CALLS))

        async def worker() -> None:
            for i in todo:
                t = time.perf_counter()
                await c.call(f"call {i}", {})
                lat.append(time.perf_counter() - t)

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        await c.close()
        return {
            "calls_per_s": CALLS / wall,
            "cpu_us_per_call": cpu / CALLS * 1e6,
            "p50_ms": percentile(lat, 50) * 1e3,
            "p99_ms": percentile(lat, 99) * 1e3,
        }

    return asyncio.run(go())


@pytest.mark.parametrize("concurrency", [1, 16, 64])
@pytest.mark.parametrize("name", CONTENDERS)
def test_calls(benchmark: Any, sim_url: str, name: str, concurrency: int) -> None:
    if name == "httpx+httpx-sse":
        name = "httpx"
    benchmark.group = f"calls: {CALLS} at concurrency {concurrency}"
    out: Dict[str, float] = {}

    def once() -> None:
        out.update(_run(sim_url, name if name != "httpx" else "httpx+httpx-sse", concurrency))

    benchmark.pedantic(once, rounds=3, iterations=1)
    benchmark.extra_info.update(out)
    record(benchmark.group, name, **out)
