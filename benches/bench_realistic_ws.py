"""The realistic suite on the WebSocket path: many paced streams multiplexed on one socket, and one
unpaced stream, against the simulator in its own process. Only the client's CPU is measured
(benches/client_cpu.py: user/system, Python thread vs other threads, wake-ups per chunk).

Contenders (benches/ws_contenders.py): `TektonLLMWebSocketClient` on the Rust backend with a sync
chunk callback (`rust`), an async one (`rust async-cb`) and none (`rust wait`: only the joined
answer), and the two callbacks doing no bench work per chunk, as `wait` does none (`rust bare-cb`,
`rust async-bare-cb`: the pair to compare with `wait`), and the sync one with the socket read on the
runtime's thread instead of the loop's (`rust runtime-reads`); the pure backend (`python`, sync callback);
a hand-written client on the `websockets` library (`websockets`: connect, REGISTER, STREAM frames,
`json.loads` per frame); for reference the HTTP SSE path of `TektonLLMClient` on Rust (`rust
http-sse`, one connection per stream); and the floor (`floor: asyncio Protocol`: one socket, CHUNK
frames only counted, no parsing — what any client whose frames reach Python's loop pays at least).

1. 100 and 1,000 streams of 50 chunks 20 ms apart on one socket, random phase (each stream's first
   chunk after a random 0-19 ms) and lock-step (one shared tick). Also reported: wall time against
   the ideal, and the inter-chunk gap p50/p99 as the caller saw it.
2. One stream of 5,000 chunks, unpaced.

Three rounds per contender; the round with the median CPU per chunk is reported.
Run: .venv/bin/python -m pytest benches/bench_realistic_ws.py -p no:cacheprovider -q
"""

from __future__ import annotations

from typing import Any, Dict

import pytest

from .bench_realistic import PACED_EVENTS, PACING_MS, ROUNDS, _bench, _one_stream, _paced
from .ws_contenders import CONTENDERS, make

UNPACED_CHUNKS = 5_000


@pytest.mark.parametrize("name", CONTENDERS)
@pytest.mark.parametrize("shape", ["random-phase", "lockstep"])
@pytest.mark.parametrize("streams", [100, 1000])
def test_ws_paced_streams(benchmark: Any, sim_url: str, name: str, shape: str, streams: int) -> None:
    group = f"realistic ws 1: {streams} streams x {PACED_EVENTS} chunks {PACING_MS} ms apart, {shape}, one socket"
    seed = iter(range(ROUNDS))
    _bench(
        benchmark,
        group,
        name,
        lambda: _paced(sim_url, name, streams, shape == "lockstep", next(seed), factory=make),
        "cpu_us_per_chunk",
    )


def _unpaced(url: str, name: str) -> Dict[str, float]:
    return _one_stream(url, name, UNPACED_CHUNKS, factory=make)


@pytest.mark.parametrize("name", CONTENDERS)
def test_ws_one_unpaced_stream(benchmark: Any, sim_url: str, name: str) -> None:
    _bench(
        benchmark,
        f"realistic ws 2: 1 stream x {UNPACED_CHUNKS:,} chunks, unpaced",
        name,
        lambda: _unpaced(sim_url, name),
        "cpu_us_per_chunk",
    )
