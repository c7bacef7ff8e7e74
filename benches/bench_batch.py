"""`client.generate_batch`: items/s for a batch of 10,000 prompts at concurrency 64, Rust runner
(semaphore, rate limiter and HTTP in Rust, results collected in batches) vs the asyncio runner of
the pure-Python backend, and an asyncio.gather of `generate_text` calls on the Rust backend as the
baseline a user would write by hand."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict

import pytest
from tekton_llm_client import TektonLLMClient

from .conftest import record

ITEMS = 10_000
CONCURRENCY = 64


def _run(url: str, name: str) -> Dict[str, float]:
    async def go() -> Dict[str, float]:
        backend = "python" if name == "python batch" else "rust"
        client = TektonLLMClient("bench", rhetor_url=url, backend=backend)
        cpu0, t0 = time.process_time(), time.perf_counter()
        failed = 0
        if name == "rust gather":
            sem = asyncio.Semaphore(CONCURRENCY)

            async def one(i: int) -> None:
                async with sem:
                    await client.generate_text(f"item {i}")

            await asyncio.gather(*(one(i) for i in range(ITEMS)))
        else:
            async with client.generate_batch((f"item {i}" for i in range(ITEMS)), concurrency=CONCURRENCY) as it:
                async for r in it:
                    failed += not r.ok
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        await client.shutdown()
        assert failed == 0
        return {"items_per_s": ITEMS / wall, "cpu_us_per_item": cpu / ITEMS * 1e6}

    return asyncio.run(go())


@pytest.mark.parametrize("name", ["rust batch", "python batch", "rust gather"])
def test_batch(benchmark: Any, sim_url: str, name: str) -> None:
    benchmark.group = f"batch: {ITEMS} items at concurrency {CONCURRENCY}"
    out: Dict[str, float] = {}

    def once() -> None:
        out.update(_run(sim_url, name))

    benchmark.pedantic(once, rounds=1, iterations=1)
    benchmark.extra_info.update(out)
    record(benchmark.group, name, **out)
