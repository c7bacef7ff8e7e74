"""The realistic suite on the WebSocket path: many paced streams multiplexed on one socket, and one
unpaced stream, against the simulator in its own process. Only the client's CPU is measured
(benches/client_cpu.py: user/system, Python thread vs other threads, wake-ups per chunk).

Contenders (benches/ws_contenders.py): `TektonLLMWebSocketClient` on the Rust backend with a sync
chunk callback (`rust`), an async one (`rust async-cb`) and none (`rust wait`: only the joined
answer); the pure backend (`python`, sync callback); a hand-written client on the `websockets`
library (`websockets`: connect, REGISTER, STREAM frames, `json.loads` per frame); and for
reference the HTTP SSE path of `TektonLLMClient` on Rust (`rust http-sse`, one connection per
stream).

1. 100 and 1,000 streams of 50 chunks 20 ms apart on one socket, random phase (each stream's first
   chunk after a random 0-19 ms) and lock-step (one shared tick). Also reported: wall time against
   the ideal, and the inter-chunk gap p50/p99 as the caller saw it.
2. One stream of 5,000 chunks, unpaced.

Three rounds per contender; the round with the median CPU per chunk is reported.
Run: .venv/bin/python -m pytest benches/bench_realistic_ws.py -p no:cacheprovider -q
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Dict, List

import pytest

from .bench_realistic import PACED_EVENTS, PACING_MS, ROUNDS, _bench
from .client_cpu import Usage
from .contenders import percentile
from .ws_contenders import CONTENDERS, make

UNPACED_CHUNKS = 5_000


def _paced(url: str, name: str, streams: int, lockstep: bool, seed: int) -> Dict[str, float]:
    rng = random.Random(seed)

    async def go() -> Dict[str, float]:
        c = make(name, url)
        await c.drain("warm", {"chunks": 4, "chunk_size": 8})
        gaps: List[float] = []

        async def one(i: int) -> int:
            sim: Dict[str, Any] = {"chunks": PACED_EVENTS, "chunk_size": 8, "chunk_delay_ms": PACING_MS}
            if lockstep:
                sim["lockstep"] = True
            else:
                sim["first_chunk_delay_ms"] = rng.randrange(PACING_MS)
            last = [0.0]

            def on_text(text: str) -> None:
                now = time.perf_counter()
                if not text:
                    return
                if last[0]:
                    gaps.append(now - last[0])
                last[0] = now

            return int(await c.drain(f"paced {i}", sim, on_text))

        start = Usage.now()
        counts = await asyncio.gather(*(one(i) for i in range(streams)))
        used = Usage.now().since(start)
        await c.close()
        n = sum(counts)
        ideal = (PACED_EVENTS - 1 + 1) * PACING_MS / 1e3  # the spread of phases adds at most one pause
        out = used.per(n)
        out.update({"wall_vs_ideal": used.wall / ideal, "gap_p50_ms": percentile(gaps, 50) * 1e3,
                    "gap_p99_ms": percentile(gaps, 99) * 1e3})
        return out

    return asyncio.run(go())


@pytest.mark.parametrize("name", CONTENDERS)
@pytest.mark.parametrize("shape", ["random-phase", "lockstep"])
@pytest.mark.parametrize("streams", [100, 1000])
def test_ws_paced_streams(benchmark: Any, sim_url: str, name: str, shape: str, streams: int) -> None:
    group = f"realistic ws 1: {streams} streams x {PACED_EVENTS} chunks {PACING_MS} ms apart, {shape}, one socket"
    seed = iter(range(ROUNDS))
    _bench(benchmark, group, name, lambda: _paced(sim_url, name, streams, shape == "lockstep", next(seed)),
           "cpu_us_per_chunk")


def _unpaced(url: str, name: str) -> Dict[str, float]:
    async def go() -> Dict[str, float]:
        c = make(name, url)
        await c.drain("warm", {"chunks": 4, "chunk_size": 8})
        start = Usage.now()
        n = await c.drain("one", {"chunks": UNPACED_CHUNKS, "chunk_size": 8})
        used = Usage.now().since(start)
        await c.close()
        return used.per(n)

    return asyncio.run(go())


@pytest.mark.parametrize("name", CONTENDERS)
def test_ws_one_unpaced_stream(benchmark: Any, sim_url: str, name: str) -> None:
    _bench(benchmark, f"realistic ws 2: 1 stream x {UNPACED_CHUNKS:,} chunks, unpaced", name,
           lambda: _unpaced(sim_url, name), "cpu_us_per_chunk")
