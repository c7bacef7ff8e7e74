"""The stream hand-over in the regime real servers produce: one event per network read, many
streams paced at once. Chunks reach each consumer complete and in order however the wake-ups
are coalesced, a cancelled wait loses nothing, and every chunk carries its arrival time."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Dict, List

import pytest
from tekton_llm_client import StreamingChunk, TektonLLMClient
from tekton_llm_client.testing import RhetorSimulator


def client(sim: RhetorSimulator, backend: str) -> TektonLLMClient:
    return TektonLLMClient("handover-test", rhetor_url=sim.url, backend=backend, pool_size=64)


async def read_all(c: TektonLLMClient, prompt: str, knobs: Dict[str, Any]) -> List[StreamingChunk]:
    return [ch async for ch in c.generate_text(prompt, streaming=True, options={"sim": knobs})]


@pytest.mark.parametrize("shape", ["random-phase", "lockstep"])
async def test_paced_streams_each_get_exactly_their_own_text(sim: RhetorSimulator, backend: str, shape: str) -> None:
    rng = random.Random(7)
    async with client(sim, backend) as c:

        async def one(i: int) -> None:
            knobs: Dict[str, Any] = {"chunks": 12, "chunk_size": 4, "chunk_delay_ms": 5}
            if shape == "lockstep":
                knobs["lockstep"] = True
            else:
                knobs["first_chunk_delay_ms"] = rng.randrange(5)
            prompt = f"stream number {i}"
            chunks = await read_all(c, prompt, knobs)
            whole = await c.generate_text(prompt, options={"sim": {"chunks": 12, "chunk_size": 4}})
            assert [ch.error for ch in chunks] == [None] * len(chunks)
            assert chunks[-1].done and not any(ch.done for ch in chunks[:-1])
            assert "".join(ch.chunk for ch in chunks) == whole.content

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(40))), 60)


async def test_a_cancelled_wait_loses_no_chunk(sim: RhetorSimulator, backend: str) -> None:
    async with client(sim, backend) as c:
        knobs = {"chunks": 10, "chunk_size": 4, "chunk_delay_ms": 30}
        expected = "".join(ch.chunk for ch in await read_all(c, "cancel me", {"chunks": 10, "chunk_size": 4}))
        it = aiter(c.generate_text("cancel me", streaming=True, options={"sim": knobs}))
        got = [await anext(it)]
        timeouts = 0
        while True:
            try:
                # Shorter than the pacing: most waits are cancelled while the stream is idle.
                got.append(await asyncio.wait_for(anext(it), 0.005))
            except asyncio.TimeoutError:
                timeouts += 1
                continue
            except StopAsyncIteration:
                break
        assert timeouts > 0, "the test must cancel waits to mean anything"
        assert "".join(ch.chunk for ch in got) == expected
        assert got[-1].done


async def test_chunks_carry_their_arrival_time(sim: RhetorSimulator, backend: str) -> None:
    async with client(sim, backend) as c:
        started = time.monotonic_ns()
        seen: List[int] = []
        async for ch in c.generate_text("when", streaming=True, options={"sim": {"chunks": 8, "chunk_delay_ms": 3}}):
            handed_over = time.monotonic_ns()
            assert isinstance(ch.received_ns, int)
            assert started <= ch.received_ns <= handed_over
            seen.append(ch.received_ns)
        assert seen == sorted(seen)
        assert seen[-1] > seen[0], "paced chunks arrive at different times"


def test_arrival_time_is_not_part_of_a_chunks_value() -> None:
    a = StreamingChunk("x", received_ns=1)
    b = StreamingChunk("x", received_ns=2)
    assert a == b
    assert "received_ns" not in a.to_dict() and "received_ns" not in repr(a)
    assert StreamingChunk("x").received_ns is None


async def test_rust_path_reads_later_batches_without_python_refills(
    sim: RhetorSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first batch the native iterator awaits the stream itself: `_refill` (a Python
    coroutine per batch) runs once, for the opening, however many batches a paced stream has."""
    from tekton_llm_client.client import _NativeChunkIterator as NativeChunkIterator

    assert NativeChunkIterator is not None
    calls = []
    refill = NativeChunkIterator._refill

    def counting(self: Any) -> Any:
        calls.append(1)
        return refill(self)

    monkeypatch.setattr(NativeChunkIterator, "_refill", counting)
    async with client(sim, "rust") as c:
        chunks = await read_all(c, "paced", {"chunks": 20, "chunk_delay_ms": 2})
    assert len(chunks) == 21
    assert len(calls) == 1
