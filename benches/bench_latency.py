"""Time to first chunk and inter-chunk latency with the simulator pacing chunks (2 ms apart):
what the client adds on top of the server's own pacing."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List

import pytest

from .conftest import record
from .contenders import make, percentile

CONTENDERS = ["rust", "python", "httpx+httpx-sse", "aiohttp"]


def _run(url: str, name: str) -> Dict[str, float]:
    async def go() -> Dict[str, float]:
        c = make(name, url)
        ttfc: List[float] = []
        gaps: List[float] = []

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            last: List[float] = []

            def on_text(text: str) -> None:
                now = time.perf_counter()
                if not text:
                    return
                if not last:
                    ttfc.append(now - t0)
                else:
                    gaps.append(now - last[0])
                last[:] = [now]

            await c.drain(
                f"paced {i}", {"chunks": 100, "chunk_size": 8, "chunk_delay_ms": 2, "first_chunk_delay_ms": 5}, on_text
            )

        await one(-1)
        ttfc.clear()
        gaps.clear()
        await asyncio.gather(*(one(i) for i in range(8)))
        await c.close()
        return {
            "ttfc_p50_ms": percentile(ttfc, 50) * 1e3,
            "ttfc_p99_ms": percentile(ttfc, 99) * 1e3,
            "gap_p50_ms": percentile(gaps, 50) * 1e3,
            "gap_p99_ms": percentile(gaps, 99) * 1e3,
        }

    return asyncio.run(go())


@pytest.mark.parametrize("name", CONTENDERS)
def test_paced_latency(benchmark: Any, sim_url: str, name: str) -> None:
    benchmark.group = "latency: 8 streams, 100 chunks 2 ms apart, first after 5 ms"
    out: Dict[str, float] = {}

    def once() -> None:
        out.update(_run(sim_url, name))

    benchmark.pedantic(once, rounds=3, iterations=1)
    benchmark.extra_info.update(out)
    record(benchmark.group, name, **out)
