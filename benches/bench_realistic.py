"""The realistic suite: the regime users live in. Servers write one event per write, tokens come
20 ms apart, calls go to a Python server. Each server runs in its own process; only the client's
CPU is measured (benches/client_cpu.py: user/system, Python thread vs other threads, wake-ups).

1. One stream of 20,000 events from a Python server that writes one event per write, unpaced.
2. 100 and 1,000 concurrent streams of 50 events 20 ms apart from the simulator, in two shapes:
   random phase (each stream's first chunk after a random 0-19 ms) and lock-step (every stream
   ticks on one shared clock, as tokens leave a batched decoder). Also reported: whether the
   client kept up (wall time against the ideal, inter-chunk gap p99 as the caller saw it).
3. Non-streaming calls at concurrency 1, 32 and 256 against the Python server.

Three rounds per contender; the round with the median CPU per item is reported.
Run: .venv/bin/python -m pytest benches/bench_realistic.py -p no:cacheprovider -q
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Callable, Dict, List

import pytest

from .client_cpu import Usage
from .conftest import record
from .contenders import make, percentile

CONTENDERS = ["rust", "python", "aiohttp", "httpx+httpx-sse"]
# Streams also run the floor: an asyncio Protocol that only counts events (see contenders.py).
STREAM_CONTENDERS = CONTENDERS + ["floor: asyncio Protocol"]
ROUNDS = 3
PACING_MS = 20
PACED_EVENTS = 50


def _median_round(rounds: List[Dict[str, float]], key: str) -> Dict[str, float]:
    return sorted(rounds, key=lambda r: r[key])[len(rounds) // 2]


def _report(benchmark: Any, name: str, rounds: List[Dict[str, float]], key: str) -> None:
    out = _median_round(rounds, key)
    benchmark.extra_info.update(out)
    record(benchmark.group, name, **out)


def _bench(benchmark: Any, group: str, name: str, once: Callable[[], Dict[str, float]], key: str) -> None:
    benchmark.group = group
    rounds: List[Dict[str, float]] = []
    benchmark.pedantic(lambda: rounds.append(once()), rounds=ROUNDS, iterations=1)
    _report(benchmark, name, rounds, key)


# -- 1. one stream, one event per read ----------------------------------------------------------

Factory = Callable[[str, str], Any]


def _one_stream(url: str, name: str, events: int, factory: Factory = make) -> Dict[str, float]:
    """One unpaced stream of `events` events; `factory(name, url)` makes the contender."""

    async def go() -> Dict[str, float]:
        c = factory(name, url)
        await c.drain("warm", {"chunks": 4, "chunk_size": 8})
        start = Usage.now()
        n = await c.drain("one", {"chunks": events, "chunk_size": 8})
        used = Usage.now().since(start)
        await c.close()
        return used.per(n)

    return asyncio.run(go())


@pytest.mark.parametrize("name", STREAM_CONTENDERS)
def test_one_stream_one_event_per_write(benchmark: Any, one_event_url: str, name: str) -> None:
    _bench(
        benchmark,
        "realistic 1: 1 stream x 20,000 events, Python server, one event per write",
        name,
        lambda: _one_stream(one_event_url, name, 20_000),
        "cpu_us_per_chunk",
    )


# -- 2. paced concurrent streams ------------------------------------------------------------------


def _paced(url: str, name: str, streams: int, lockstep: bool, seed: int, factory: Factory = make) -> Dict[str, float]:
    """`streams` concurrent paced streams (random phase or lock-step); also for the WebSocket suite."""
    rng = random.Random(seed)

    async def go() -> Dict[str, float]:
        c = factory(name, url)
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
        out.update(
            {
                "wall_vs_ideal": used.wall / ideal,
                "gap_p50_ms": percentile(gaps, 50) * 1e3,
                "gap_p99_ms": percentile(gaps, 99) * 1e3,
            }
        )
        return out

    return asyncio.run(go())


@pytest.mark.parametrize("name", STREAM_CONTENDERS)
@pytest.mark.parametrize("shape", ["random-phase", "lockstep"])
@pytest.mark.parametrize("streams", [100, 1000])
def test_paced_streams(benchmark: Any, sim_url: str, name: str, shape: str, streams: int) -> None:
    group = f"realistic 2: {streams} streams x {PACED_EVENTS} events {PACING_MS} ms apart, {shape}, simulator"
    seed = iter(range(ROUNDS))
    _bench(
        benchmark,
        group,
        name,
        lambda: _paced(sim_url, name, streams, shape == "lockstep", next(seed)),
        "cpu_us_per_chunk",
    )


# -- 3. calls -------------------------------------------------------------------------------------


def _calls(url: str, name: str, concurrency: int, total: int) -> Dict[str, float]:
    async def go() -> Dict[str, float]:
        c = make(name, url)
        await c.call("warm", {"chunks": 4})
        left = [total]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                await c.call("call", {"chunks": 20})

        start = Usage.now()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        used = Usage.now().since(start)
        await c.close()
        return used.per(total, "call")

    return asyncio.run(go())


@pytest.mark.parametrize("name", CONTENDERS)
@pytest.mark.parametrize("concurrency,total", [(1, 500), (32, 3_000), (256, 3_000)])
def test_calls(benchmark: Any, one_event_url: str, name: str, concurrency: int, total: int) -> None:
    _bench(
        benchmark,
        f"realistic 3: {total:,} calls at concurrency {concurrency}, Python server",
        name,
        lambda: _calls(one_event_url, name, concurrency, total),
        "cpu_us_per_call",
    )
