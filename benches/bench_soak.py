"""Soak and load: one client, many calls and streams against the simulator in its own process,
with injected faults. Every call must end in the outcome its knob implies, resident memory after
warm-up must stay flat (< 10 MB growth), nothing may be left behind (sockets, asyncio tasks),
and 1,000 concurrent streams on one client must all complete.

Sizes come from the environment (defaults are the full run):
  SOAK_CALLS=100000 SOAK_STREAMS=10000 SOAK_CONCURRENT=1000 SOAK_CONCURRENCY=64 SOAK_BACKEND=rust
Quick run: SOAK_CALLS=2000 SOAK_STREAMS=500 SOAK_CONCURRENT=200 pytest benches/bench_soak.py -s
Results are printed, and written as JSON to SOAK_OUT when set (docs/reliability.md has the
figures of the full run).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import resource
import time
from collections import Counter
from typing import Any, Dict, Optional, Tuple

import pytest
from tekton_llm_client import ServiceUnavailableError, TektonLLMClient, TektonLLMError
from tekton_llm_client.testing import answer_text

from .conftest import record

CALLS = int(os.environ.get("SOAK_CALLS", "100000"))
STREAMS = int(os.environ.get("SOAK_STREAMS", "10000"))
CONCURRENT = int(os.environ.get("SOAK_CONCURRENT", "1000"))
CONCURRENCY = int(os.environ.get("SOAK_CONCURRENCY", "64"))
BACKEND = os.environ.get("SOAK_BACKEND", "rust")
MAX_RETRIES = 2
STREAM_LEN = 200  # characters: 13 chunks of 16


def rss_mb() -> float:
    """Resident set size of this process, from /proc/self/statm (pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def open_sockets() -> int:
    """Sockets this process holds open."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


# -- what each call is asked to suffer, and what it must then end in --------------------------


def call_fault(i: int) -> Tuple[str, Optional[Dict[str, Any]]]:
    """5% of calls meet 503s: half once (retried → ok), half more often than the retries."""
    if i % 40 == 0:
        return "ok_after_503", {"fail_status": 503, "fail_times": 1}
    if i % 40 == 20:
        return "503_exhausted", {"fail_status": 503, "fail_times": MAX_RETRIES + 5}
    return "ok", None


def stream_fault(i: int) -> Tuple[str, Dict[str, Any]]:
    """1% cut after 2 chunks, 1% stalled after 2 chunks, 5% one 503 before the first chunk."""
    base: Dict[str, Any] = {"length": STREAM_LEN}
    if i % 100 == 1:
        return "cut", {**base, "cut_after": 2}
    if i % 100 == 2:
        return "stalled", {**base, "stall_after": 2}
    if i % 20 == 3:
        return "ok_after_503", {**base, "fail_status": 503, "fail_times": 1}
    return "ok", base


async def one_call(client: TektonLLMClient, i: int) -> Tuple[str, str]:
    expected, knobs = call_fault(i)
    prompt = f"soak call {i}"
    try:
        r = await client.generate_text(prompt, options={"sim": knobs} if knobs else None)
    except ServiceUnavailableError:
        return expected, "ServiceUnavailableError"
    except TektonLLMError as e:
        return expected, type(e).__name__
    return expected, "ok" if r.content == answer_text(prompt) else "WRONG_TEXT"


async def one_stream(client: TektonLLMClient, i: int) -> Tuple[str, str]:
    expected, knobs = stream_fault(i)
    prompt = f"soak stream {i}"
    parts = []
    error: Optional[str] = None
    try:
        async for c in client.generate_text(prompt, streaming=True, options={"sim": knobs}):
            if c.error:
                error = c.error
                break
            parts.append(c.chunk)
    except TektonLLMError as e:
        return expected, type(e).__name__
    text = "".join(parts)
    full = answer_text(prompt, length=STREAM_LEN)
    if error is not None:
        if not full.startswith(text) or not text:
            return expected, "WRONG_PARTIAL"
        return expected, "interrupted" if "cut" in error or "ended" in error else "idle_timeout"
    return expected, "ok" if text == full else "WRONG_TEXT"


# documented outcome of each fault (docs/protocol.md: retries, stream failures)
EXPECTED_CALL = {"ok": "ok", "ok_after_503": "ok", "503_exhausted": "ServiceUnavailableError"}
EXPECTED_STREAM = {"ok": "ok", "ok_after_503": "ok", "cut": "interrupted", "stalled": "idle_timeout"}


async def run_many(
    n: int,
    fn: Any,
    client: TektonLLMClient,
    outcomes: Counter,
    mismatches: Counter,
    expected_of: Dict[str, str],
    rss_after_warmup: Dict[str, float],
) -> None:
    todo = iter(range(n))
    # RSS at 10% (the end of warm-up), 50% and 100% of the run
    marks = {max(n // 10, 1): "warm", n // 2: "half"}

    async def worker() -> None:
        for i in todo:
            expected, got = await fn(client, i)
            outcomes[f"{expected}->{got}"] += 1
            if got != expected_of[expected]:
                mismatches[f"{expected}->{got}"] += 1
            if i in marks:
                gc.collect()
                rss_after_warmup.setdefault(marks[i], rss_mb())

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    gc.collect()
    rss_after_warmup["end"] = rss_mb()


async def concurrent_streams(client: TektonLLMClient, n: int) -> Counter:
    """n streams open at once on one client (paced so that they overlap)."""
    opts = {"sim": {"chunks": 10, "chunk_size": 8, "chunk_delay_ms": 20}}

    async def one(i: int) -> str:
        prompt = f"concurrent {i}"
        text = await client.generate_text(prompt, streaming=True, options=opts).__aiter__().collect()
        return "ok" if text == answer_text(prompt, length=80) else "WRONG_TEXT"

    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    return Counter(r if isinstance(r, str) else type(r).__name__ for r in results)


class CountingHandler(logging.Handler):
    """Counts the client's log lines by level. The client's lines stop here: pytest's log
    capture would otherwise keep every record (thousands of retry warnings) and show up as
    memory growth of the client."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)  # the cost of a real handler, without keeping the record
        self.counts[record.levelname] += 1


@pytest.mark.timeout(3600)  # the full run outlasts the suite's 120 s guard
def test_soak(sim_url: str) -> None:
    lib_logger = logging.getLogger("tekton_llm_client")
    counting = CountingHandler()
    lib_logger.addHandler(counting)
    lib_logger.propagate = False
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 concurrent sockets

    async def go() -> Dict[str, Any]:
        if BACKEND == "rust":
            # The loop's wake-up socket pair (src/py_bridge.rs) lives as long as the loop: count
            # from after it exists.
            from tekton_llm_client._core import loop_waker

            loop_waker(asyncio.get_running_loop())
        sockets_before = open_sockets()
        tasks_before = len(asyncio.all_tasks())
        client = TektonLLMClient(
            "soak",
            rhetor_url=sim_url,
            backend=BACKEND,
            max_retries=MAX_RETRIES,
            backoff_initial=0.01,
            backoff_max=0.05,
            stream_idle_timeout=1.0,
            timeout=30,
            dialect="v1",
            use_fallback=False,
        )
        out: Dict[str, Any] = {
            "backend": BACKEND,
            "calls": CALLS,
            "streams": STREAMS,
            "concurrency": CONCURRENCY,
            "concurrent_streams": CONCURRENT,
        }
        t0 = time.perf_counter()
        calls: Counter = Counter()
        call_bad: Counter = Counter()
        warm: Dict[str, float] = {}
        await run_many(CALLS, one_call, client, calls, call_bad, EXPECTED_CALL, warm)
        out["calls_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        streams: Counter = Counter()
        stream_bad: Counter = Counter()
        swarm: Dict[str, float] = {}
        await run_many(STREAMS, one_stream, client, streams, stream_bad, EXPECTED_STREAM, swarm)
        out["streams_s"] = time.perf_counter() - t0
        # Each workload is measured from the end of its own warm-up to its end.
        out["rss_calls_mb"] = {k: round(v, 1) for k, v in warm.items()}
        out["rss_streams_mb"] = {k: round(v, 1) for k, v in swarm.items()}
        out["rss_growth_calls_mb"] = round(warm["end"] - warm.get("warm", warm["end"]), 1)
        out["rss_growth_streams_mb"] = round(swarm["end"] - swarm.get("warm", swarm["end"]), 1)
        out["rss_growth_mb"] = round(swarm["end"] - warm.get("warm", warm["end"]), 1)
        t0 = time.perf_counter()
        heavy = TektonLLMClient(
            "soak-1000", rhetor_url=sim_url, backend=BACKEND, dialect="v1", pool_size=CONCURRENT, timeout=60
        )
        out["concurrent_outcomes"] = dict(await concurrent_streams(heavy, CONCURRENT))
        out["concurrent_s"] = time.perf_counter() - t0
        out["call_outcomes"], out["stream_outcomes"] = dict(calls), dict(streams)
        out["mismatches"] = dict(call_bad + stream_bad)
        await client.shutdown()
        await heavy.shutdown()
        del client, heavy
        # What is left behind once the clients are gone (pooled sockets close with them).
        deadline = time.monotonic() + 10  # hang guard
        while time.monotonic() < deadline and open_sockets() > sockets_before:
            gc.collect()
            await asyncio.sleep(0.05)
        out["sockets_left"] = open_sockets() - sockets_before
        out["tasks_left"] = len(asyncio.all_tasks()) - tasks_before
        return out

    try:
        out = asyncio.run(go())
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        lib_logger.removeHandler(counting)
        lib_logger.propagate = True
    out["log_lines"] = dict(counting.counts)
    print("\nSOAK " + json.dumps(out, indent=1, sort_keys=True))
    if os.environ.get("SOAK_OUT"):
        with open(os.environ["SOAK_OUT"], "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
    record(
        "soak",
        BACKEND,
        calls=CALLS,
        streams=STREAMS,
        rss_growth_calls_mb=out["rss_growth_calls_mb"],
        rss_growth_streams_mb=out["rss_growth_streams_mb"],
        rss_growth_mb=out["rss_growth_mb"],
        sockets_left=out["sockets_left"],
        tasks_left=out["tasks_left"],
    )

    assert not out["mismatches"], out["mismatches"]
    assert sum(out["call_outcomes"].values()) == CALLS
    assert sum(out["stream_outcomes"].values()) == STREAMS
    assert out["concurrent_outcomes"] == {"ok": CONCURRENT}, out["concurrent_outcomes"]
    assert out["sockets_left"] <= 0 and out["tasks_left"] <= 0
    if CALLS >= 20_000:  # a quick run is too short to say anything about memory
        assert out["rss_growth_calls_mb"] < 10, out
        assert out["rss_growth_streams_mb"] < 10, out
