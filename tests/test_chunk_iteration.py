"""How a stream's chunks reach `async for`: every way of driving the iterator gives the same
chunks on both backends, and the Rust path's shortcuts (a native `__anext__` whose awaitable
returns a buffered chunk at once; chunk objects made without running `__init__`) behave exactly
like the Python they replace."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest
from tekton_llm_client import StreamingChunk, TektonLLMClient
from tekton_llm_client.testing import RhetorSimulator


def client(sim: RhetorSimulator, backend: str) -> TektonLLMClient:
    return TektonLLMClient("iter-test", rhetor_url=sim.url, backend=backend)


def stream(c: TektonLLMClient, chunks: int, **sim_knobs: Any) -> Any:
    knobs: Dict[str, Any] = {"chunks": chunks, "chunk_size": 3, **sim_knobs}
    return c.generate_text("count", streaming=True, options={"sim": knobs})


async def by_async_for(c: TektonLLMClient, chunks: int) -> List[StreamingChunk]:
    return [ch async for ch in stream(c, chunks)]


async def by_anext_builtin(c: TektonLLMClient, chunks: int) -> List[StreamingChunk]:
    it = aiter(stream(c, chunks))
    out = []
    while True:
        try:
            out.append(await anext(it))
        except StopAsyncIteration:
            return out


async def by_tasks(c: TektonLLMClient, chunks: int) -> List[StreamingChunk]:
    """Each step wrapped in a task: asyncio drives the awaitable itself."""
    it = aiter(stream(c, chunks))
    out = []
    while True:
        try:
            out.append(await asyncio.ensure_future(it.__anext__()))
        except StopAsyncIteration:
            return out


async def by_generator_protocol(c: TektonLLMClient, chunks: int) -> List[StreamingChunk]:
    """`yield from awaitable.__await__()`, the way pre-async code and some frameworks drive it."""
    it = aiter(stream(c, chunks))
    out = []

    def step(awaitable: Any) -> Any:
        return (yield from awaitable.__await__())

    async def one() -> Any:
        return await asyncio.ensure_future(_as_coroutine(step(it.__anext__())))

    while True:
        try:
            out.append(await one())
        except StopAsyncIteration:
            return out


async def _as_coroutine(gen: Any) -> Any:
    class Wrapper:
        def __await__(self) -> Any:
            return gen

    return await Wrapper()


@pytest.mark.parametrize("drive", [by_async_for, by_anext_builtin, by_tasks, by_generator_protocol])
def test_every_way_of_iterating_gives_every_chunk_once(sim: RhetorSimulator, backend: str, drive: Any) -> None:
    async def go() -> List[StreamingChunk]:
        async with client(sim, backend) as c:
            return list(await drive(c, 300))

    chunks = asyncio.run(go())
    assert [c.chunk for c in chunks if not c.done] == [c.chunk for c in chunks[:-1]]
    assert chunks[-1].done and sum(1 for c in chunks if c.done) == 1
    text = "".join(c.chunk for c in chunks)
    assert len(chunks) >= 300 and text, chunks[:3]


def test_both_backends_build_equal_chunks(sim: RhetorSimulator) -> None:
    async def go(backend: str) -> List[StreamingChunk]:
        async with client(sim, backend) as c:
            return await by_async_for(c, 50)

    rust, python = asyncio.run(go("rust")), asyncio.run(go("python"))
    assert [type(c) for c in rust] == [StreamingChunk] * len(rust)
    assert all(c.timestamp for c in rust + python)

    def fields(c: StreamingChunk) -> Dict[str, Any]:
        return {k: v for k, v in c.to_dict().items() if k != "timestamp"}  # the time of each request

    assert [fields(c) for c in rust] == [fields(c) for c in python]


def test_rust_path_chunks_do_not_run_init(sim: RhetorSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Rust path fills the slots of `StreamingChunk` directly; a chunk is still a complete,
    ordinary instance (every field readable, settable, comparable)."""

    def no_init(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("StreamingChunk.__init__ ran on the Rust path")

    async def go() -> List[StreamingChunk]:
        async with client(sim, "rust") as c:
            await by_async_for(c, 2)  # the builder is set up before __init__ is patched
            monkeypatch.setattr(StreamingChunk, "__init__", no_init)
            return await by_async_for(c, 20)

    chunks = asyncio.run(go())
    monkeypatch.undo()
    first = chunks[0]
    assert first.model and first.provider and first.chunk
    assert first.error is None and first.fallback is False and first.usage is None
    first.fallback = True
    assert first.fallback is True
    assert StreamingChunk(**{**first.to_dict(), "usage": first.usage}) == first


def test_rust_path_anext_of_a_buffered_chunk_is_ready_at_once(sim: RhetorSimulator) -> None:
    from tekton_llm_client._core import ReadyChunk

    async def go() -> None:
        async with client(sim, "rust") as c:
            it = aiter(stream(c, 10))
            first = await anext(it)  # the first batch: arrives through the refill coroutine
            assert isinstance(first, StreamingChunk)
            ready = it.__anext__()
            assert type(ready) is ReadyChunk
            # Driven by hand: done on the first step, the chunk carried by StopIteration.
            with pytest.raises(StopIteration) as stop:
                ready.__await__().__next__()
            assert isinstance(stop.value.value, StreamingChunk) and stop.value.value.chunk
            rest = [ch async for ch in it]
            assert rest and rest[-1].done

    asyncio.run(go())


def test_ready_chunk_cannot_be_made_from_python() -> None:
    from tekton_llm_client._core import ReadyChunk

    with pytest.raises(TypeError):
        ReadyChunk()


def test_leaving_the_loop_early_closes_the_stream(sim: RhetorSimulator, backend: str) -> None:
    from .conftest import wait_until

    async def go() -> None:
        async with client(sim, backend) as c:
            async for ch in stream(c, 100_000):
                if ch.chunk:
                    break
            assert await wait_until(lambda: sim.active_tasks == 0)

    asyncio.run(go())


def test_rust_path_chunks_are_not_tracked_by_the_cycle_collector(sim: RhetorSimulator) -> None:
    """Chunks hold only strings, flags and usage numbers: like a tuple of atomic values, they are
    left out of the garbage collector's lists (a batch of thousands would otherwise be walked by
    every young-generation collection). They are still freed by reference counting."""
    import gc
    import sys

    async def go() -> List[StreamingChunk]:
        async with client(sim, "rust") as c:
            return await by_async_for(c, 20)

    chunks = asyncio.run(go())
    assert not any(gc.is_tracked(c) for c in chunks)
    usage = chunks[-1].usage
    assert usage is not None and usage.total_tokens > 0
    # Only the list holds each chunk (plus getrefcount's own argument): nothing leaks a reference.
    assert [sys.getrefcount(chunks[i]) for i in range(len(chunks))] == [2] * len(chunks)
