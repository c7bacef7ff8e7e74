"""StreamProcessor: the guide's "Handling Streaming Responses" logic, chunk kinds, and
process_stream."""

from __future__ import annotations

from typing import AsyncIterator, List, Union

import pytest
from tekton_llm_client.models import StreamingChunk
from tekton_llm_client.utils import StreamProcessor


async def fake_stream(parts: List[str]) -> AsyncIterator[StreamingChunk]:
    for p in parts:
        yield StreamingChunk(p)
    yield StreamingChunk("", done=True, finish_reason="stop")


async def test_guide_snippet_logic(capsys: pytest.CaptureFixture[str]) -> None:
    # The guide's loop body, with a stand-in for client.generate_text(..., streaming=True).
    processor = StreamProcessor()
    async for chunk in fake_stream(["Once ", "upon ", "a time."]):
        processor.process_chunk(chunk)
        print(chunk.chunk, end="", flush=True)
    complete_text = processor.get_result()
    print(f"\nComplete text ({len(complete_text)} chars)")
    assert complete_text == "Once upon a time."
    assert capsys.readouterr().out == "Once upon a time.\nComplete text (17 chars)\n"
    assert processor.is_complete and processor.finish_reason == "stop" and processor.error is None


def test_plain_strings_and_dicts() -> None:
    p = StreamProcessor()
    assert p.process_chunk("a") == "a"
    p.process_chunk({"chunk": "b"})
    p.process_chunk({"content": "c"})
    p.process_chunk({"text": "d", "done": True, "finish_reason": "length"})
    assert p.get_result() == "abcd"
    assert p.get_chunks() == ["a", "b", "c", "d"]
    assert p.is_complete and p.finish_reason == "length"


def test_error_chunk_completes() -> None:
    p = StreamProcessor()
    p.process_chunk(StreamingChunk("partial"))
    p.process_chunk(StreamingChunk("", done=True, error="stream broke"))
    assert p.error == "stream broke" and p.is_complete and p.get_result() == "partial"
    q = StreamProcessor()
    q.process_chunk({"error": "boom"})
    assert q.is_complete and q.error == "boom"


def test_reset_and_copy() -> None:
    p = StreamProcessor()
    p.process_chunk("x")
    chunks = p.get_chunks()
    chunks.append("mutated")
    assert p.get_chunks() == ["x"]
    p.reset()
    assert p.get_result() == "" and not p.is_complete and p.error is None and p.finish_reason is None


def test_bad_chunk_type() -> None:
    with pytest.raises(TypeError):
        StreamProcessor().process_chunk(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("use_async", [False, True])
async def test_process_stream_with_callback(use_async: bool) -> None:
    seen: List[str] = []

    def sync_cb(c: StreamingChunk) -> None:
        seen.append(c.chunk)

    async def async_cb(c: StreamingChunk) -> None:
        seen.append(c.chunk)

    async def mixed() -> AsyncIterator[Union[str, dict, StreamingChunk]]:
        yield "he"
        yield {"chunk": "llo"}
        yield StreamingChunk("", done=True)
        yield "never read"

    p = StreamProcessor()
    text = await p.process_stream(mixed(), async_cb if use_async else sync_cb)
    assert text == "hello"
    assert seen == ["he", "llo", ""]
    assert p.is_complete


async def test_process_stream_without_callback() -> None:
    assert await StreamProcessor().process_stream(fake_stream(["a", "b"])) == "ab"
