"""Size limits and slow servers, against the simulator on both backends: a body, an SSE event or
a WebSocket message past its limit is a LimitExceededError raised before the memory is spent,
the client keeps working afterwards, and a server that trickles bytes cannot hold a call past
its timeout (streaming or not)."""

from __future__ import annotations

import asyncio

import pytest
from tekton_llm_client import LimitExceededError, TektonLLMClient, TimeoutError
from tekton_llm_client.testing import RhetorSimulator
from tekton_llm_client.websocket import TektonLLMWebSocketClient

from .conftest import wait_until

GUARD = 30.0  # hang guard, never a timing assertion


def make(sim: RhetorSimulator, backend: str, **kw: object) -> TektonLLMClient:
    kw.setdefault("backoff_initial", 0.01)
    kw.setdefault("backoff_max", 0.02)
    return TektonLLMClient("limits", rhetor_url=sim.url, backend=backend, **kw)  # type: ignore[arg-type]


async def collect(call: object) -> str:
    """The whole text of a streaming call (raises what the stream raises)."""
    return await call.__aiter__().collect()  # type: ignore[attr-defined, no-any-return]


def chat_posts(sim: RhetorSimulator) -> int:
    return sum(1 for r in sim.requests if r["path"].endswith(("/api/v1/chat", "/api/v1/chat/stream")))


async def test_response_body_limit(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, max_response_bytes=64 * 1024)
    with pytest.raises(LimitExceededError) as ei:
        await asyncio.wait_for(client.generate_text("big", options={"sim": {"length": 2_000_000}}), GUARD)
    assert "65536" in str(ei.value)
    assert chat_posts(sim) == 1, "a limit error is not retried"
    small = await asyncio.wait_for(client.generate_text("small", options={"sim": {"length": 60_000}}), GUARD)
    assert small.content == sim.answer_text("small", length=60_000)
    await client.shutdown()


async def test_default_body_limit_holds_for_a_huge_answer(sim: RhetorSimulator, backend: str) -> None:
    # 70 million characters against the 64 MiB default: refused from Content-Length, unread.
    client = make(sim, backend)
    with pytest.raises(LimitExceededError):
        await asyncio.wait_for(client.generate_text("huge", options={"sim": {"length": 70_000_000}}), 120)
    await client.shutdown()


async def test_sse_event_limit(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, max_event_bytes=16 * 1024)
    call = client.generate_text("one big event", streaming=True, options={"sim": {"length": 200_000, "chunks": 1}})
    with pytest.raises(LimitExceededError) as ei:
        async for _ in call:
            pass
    assert "16384" in str(ei.value)
    assert chat_posts(sim) == 1
    text = await asyncio.wait_for(
        collect(client.generate_text("fits", streaming=True, options={"sim": {"length": 8_000, "chunks": 1}})), GUARD
    )
    assert text == sim.answer_text("fits", length=8_000)
    await client.shutdown()
    assert await wait_until(lambda: sim.active_tasks == 0)


async def test_sse_event_limit_after_content(sim: RhetorSimulator, backend: str) -> None:
    # Events of 12 KiB against a 16 KiB limit pass; the limit is per event, not per stream.
    client = make(sim, backend, max_event_bytes=16 * 1024)
    opts = {"sim": {"length": 120_000, "chunk_size": 12_000}}
    text = await asyncio.wait_for(collect(client.generate_text("many", streaming=True, options=opts)), GUARD)
    assert text == sim.answer_text("many", length=120_000)
    await client.shutdown()


async def test_websocket_message_limit_and_recovery(sim: RhetorSimulator, backend: str) -> None:
    errors: list[BaseException] = []
    ws = TektonLLMWebSocketClient(
        "limits",
        ws_url=sim.ws_url,
        backend=backend,
        max_message_size=32 * 1024,
        reconnect_base_delay=0.01,
        on_error=errors.append,
    )
    async with ws:
        with pytest.raises(LimitExceededError):
            await asyncio.wait_for(ws.complete("big", options={"sim": {"length": 500_000}}), GUARD)
        rid = await ws.generate("big stream", options={"sim": {"length": 100_000, "chunks": 1}})
        with pytest.raises(LimitExceededError):
            await asyncio.wait_for(ws.wait(rid), GUARD)
        ok = await asyncio.wait_for(ws.complete("small", options={"sim": {"length": 20_000}}), GUARD)
        assert ok.content == sim.answer_text("small", length=20_000)
    assert any(isinstance(e, LimitExceededError) for e in errors)


async def test_trickled_whole_answer_is_bounded_by_timeout(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, timeout=0.5, max_retries=1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.generate_text("slow", options={"sim": {"trickle_ms": 20, "length": 400}}), GUARD)
    assert chat_posts(sim) == 2  # a timeout is retried, each attempt bounded
    await client.shutdown()


async def test_trickled_stream_is_bounded_by_idle_timeout(sim: RhetorSimulator, backend: str) -> None:
    # Bytes keep coming, one every 20 ms, but no whole event within 0.3 s: stalled for the caller.
    client = make(sim, backend, timeout=30, stream_idle_timeout=0.3, max_retries=0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            collect(client.generate_text("slow", streaming=True, options={"sim": {"trickle_ms": 20, "length": 400}})),
            GUARD,
        )
    await client.shutdown()
    assert await wait_until(lambda: sim.active_tasks == 0)
