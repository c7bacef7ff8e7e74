"""`HttpClient.stream_chat_at`: a stream the I/O thread sends at a scheduled time (the bench's
open loop). Native only: the pure path has no I/O thread; `tekton-llm bench --backend python`
schedules on the event loop instead (tests/test_bench_url.py covers both)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, List

import pytest
from tekton_llm_client._backend import native
from tekton_llm_client.testing import RhetorSimulator

core = native()
pytestmark = pytest.mark.skipif(core is None, reason="the native module is not built")

MESSAGES = [{"role": "user", "content": "scheduled"}]


async def drain(stream: Any) -> List[Any]:
    chunks: List[Any] = []
    while True:
        batch = await asyncio.wait_for(stream.next_batch(), 10)
        if batch is None:
            return chunks
        chunks.extend(batch)


def test_a_stream_is_not_sent_before_its_time(sim: RhetorSimulator) -> None:
    async def main() -> None:
        assert core is not None
        http = core.HttpClient(sim.url, "bench-test", max_retries=0)
        due = time.monotonic_ns() + 150_000_000
        stream = http.stream_chat_at(MESSAGES, at_ns=due, options={"sim": {"chunks": 3}})
        chunks = await drain(stream)
        assert stream.started_ns is not None and stream.started_ns >= due
        assert [c.chunk for c in chunks if c.chunk] and chunks[-1].done
        assert all(c.received_ns >= stream.started_ns for c in chunks)
        http.close()

    asyncio.run(main())
    assert len([r for r in sim.requests if r["path"] == "/api/v1/chat/stream"]) == 1


def test_a_time_already_past_sends_at_once(sim: RhetorSimulator) -> None:
    async def main() -> None:
        assert core is not None
        http = core.HttpClient(sim.url, "bench-test", max_retries=0)
        before = time.monotonic_ns()
        stream = http.stream_chat_at(MESSAGES, at_ns=before - 1_000_000_000)
        chunks = await drain(stream)
        assert stream.started_ns is not None and stream.started_ns >= before
        assert chunks[-1].done
        # a stream started at once (not on a schedule) has no started_ns
        plain = http.stream_chat(MESSAGES)
        await drain(plain)
        assert plain.started_ns is None
        http.close()

    asyncio.run(main())


def test_a_scheduled_stream_closed_before_its_time_sends_nothing(sim: RhetorSimulator) -> None:
    async def main() -> None:
        assert core is not None
        http = core.HttpClient(sim.url, "bench-test", max_retries=0)
        stream = http.stream_chat_at(MESSAGES, at_ns=time.monotonic_ns() + 60_000_000_000)
        stream.close()
        await asyncio.sleep(0.2)
        assert stream.started_ns is None
        http.close()

    asyncio.run(main())
    assert not [r for r in sim.requests if r["path"] == "/api/v1/chat/stream"]
