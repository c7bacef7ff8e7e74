"""Streaming throughput: one stream of 100,000 chunks, and 64 concurrent streams.
Figures: chunks/s and client CPU per chunk (this process only; the simulator runs in its own)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List

import pytest

from .conftest import record
from .contenders import make

CONTENDERS = ["rust", "python", "httpx+httpx-sse", "aiohttp"]


def _run(url: str, name: str, streams: int, chunks: int) -> Dict[str, float]:
    async def go() -> Dict[str, float]:
        c = make(name, url)
        await c.drain("warm", {"chunks": 4})
        cpu0, t0 = time.process_time(), time.perf_counter()
        counts = await asyncio.gather(*(c.drain(f"s{i}", {"chunks": chunks, "chunk_size": 8}) for i in range(streams)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        await c.close()
        n = sum(counts)
        return {"chunks_per_s": n / wall, "cpu_us_per_chunk": cpu / n * 1e6, "chunks": n}

    return asyncio.run(go())


def _report(benchmark: Any, name: str, rounds: List[Dict[str, float]]) -> None:
    """The round with the median CPU per chunk stands for the run (the machine is shared: one
    round can be slowed by a neighbour)."""
    out = sorted(rounds, key=lambda r: r["cpu_us_per_chunk"])[len(rounds) // 2]
    benchmark.extra_info.update(out)
    record(benchmark.group, name, chunks_per_s=out["chunks_per_s"], cpu_us_per_chunk=out["cpu_us_per_chunk"])


@pytest.mark.parametrize("name", CONTENDERS)
def test_one_stream_100k_chunks(benchmark: Any, sim_url: str, name: str) -> None:
    benchmark.group = "stream: 1 x 100,000 chunks"
    rounds: List[Dict[str, float]] = []
    benchmark.pedantic(lambda: rounds.append(_run(sim_url, name, 1, 100_000)), rounds=5, iterations=1)
    _report(benchmark, name, rounds)


@pytest.mark.parametrize("name", CONTENDERS)
def test_64_concurrent_streams(benchmark: Any, sim_url: str, name: str) -> None:
    benchmark.group = "stream: 64 concurrent x 2,000 chunks"
    rounds: List[Dict[str, float]] = []
    benchmark.pedantic(lambda: rounds.append(_run(sim_url, name, 64, 2_000)), rounds=5, iterations=1)
    _report(benchmark, name, rounds)
