"""The simulator's account of its own lateness (`GET`/`DELETE /sim/lateness`), which latency
benchmarks read to tell the server's lateness from their client's. Checked with httpx only."""

from __future__ import annotations

import time
from typing import Any, Dict

import httpx
from tekton_llm_client.testing import RhetorSimulator

HANG_GUARD = 10.0  # seconds; a bound against hangs, not a timing assertion


def lateness(sim: RhetorSimulator, method: str = "GET", **kw: Any) -> Dict[str, Any]:
    r = httpx.request(method, sim.url + "/sim/lateness", timeout=HANG_GUARD, **kw)
    assert r.status_code == 200, r.text
    body: Dict[str, Any] = r.json()
    return body


def stream(sim: RhetorSimulator, **knobs: Any) -> float:
    """One OpenAI-style stream; returns the seconds from sending to the end of the body."""
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True, "sim": knobs}
    started = time.monotonic()
    r = httpx.post(sim.url + "/v1/chat/completions", json=body, timeout=HANG_GUARD)
    assert r.status_code == 200 and r.text.rstrip().endswith("data: [DONE]")
    return time.monotonic() - started


def test_counts_first_and_later_chunk_deadlines_apart_and_starts_over(sim: RhetorSimulator) -> None:
    assert lateness(sim)["first_chunk"] == {"count": 0}
    stream(sim, chunks=4, first_chunk_delay_ms=5, chunk_delay_ms=2)
    stream(sim, chunks=4, first_chunk_delay_ms=5, chunk_delay_ms=2)
    report = lateness(sim)
    assert report["resolution_ms"] == 0.01
    assert report["first_chunk"]["count"] == 2
    assert report["later_chunks"]["count"] == 6  # three paced pauses per stream
    for kind in ("first_chunk", "later_chunks"):
        late = report[kind]["late_ms"]
        assert 0 <= late["p50"] <= late["p90"] <= late["p99"] <= late["p999"] <= late["max"]
        assert 0 <= late["mean"] <= late["max"]
    assert lateness(sim, "DELETE")["first_chunk"] == {"count": 0}
    assert lateness(sim)["later_chunks"] == {"count": 0}


def test_an_unpaced_stream_records_nothing(sim: RhetorSimulator) -> None:
    lateness(sim, "DELETE")
    stream(sim, chunks=3)
    assert lateness(sim) == {"resolution_ms": 0.01, "first_chunk": {"count": 0}, "later_chunks": {"count": 0}}


def test_the_first_chunk_delay_is_never_cut_short(sim: RhetorSimulator) -> None:
    # Counted from the request's arrival, the whole delay still passes before the answer ends.
    assert stream(sim, chunks=1, first_chunk_delay_ms=60) >= 0.060


def test_needs_the_token_like_the_chat_routes() -> None:
    with RhetorSimulator(auth_token="secret") as sim:
        r = httpx.get(sim.url + "/sim/lateness", timeout=HANG_GUARD)
        assert r.status_code == 401
        ok = httpx.get(sim.url + "/sim/lateness", headers={"Authorization": "Bearer secret"}, timeout=HANG_GUARD)
        assert ok.status_code == 200 and ok.json()["first_chunk"] == {"count": 0}
