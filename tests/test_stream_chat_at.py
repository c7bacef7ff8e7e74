"""`HttpClient.stream_chat_at` and `stream_openai_at`: streams the I/O thread sends at a scheduled
time (the bench's open loop), Rhetor v1 and OpenAI-compatible. Native only: the pure path has no
I/O thread; `tekton-llm bench --backend python` schedules on the event loop instead
(tests/test_bench_url.py covers both)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List

import pytest
from tekton_llm_client._backend import native
from tekton_llm_client.testing import RhetorSimulator, answer_text, split_chunks

from .peer_server import PeerServer, response, sse

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


# -- stream_openai_at: an OpenAI-compatible stream, timed and sent by the I/O thread -------------

OPENAI_PATH = "/v1/chat/completions"


def openai_body(**sim: Any) -> Dict[str, Any]:
    return {
        "model": "m",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "sim": sim,
    }


def test_an_openai_stream_is_decoded_and_timed_at_the_socket(sim: RhetorSimulator) -> None:
    async def main() -> None:
        assert core is not None
        http = core.HttpClient(sim.url, "bench-test", max_retries=0)
        due = time.monotonic_ns() + 100_000_000
        stream = http.stream_openai_at(OPENAI_PATH, openai_body(chunks=4), at_ns=due)
        chunks = await drain(stream)
        assert stream.started_ns is not None and stream.started_ns >= due
        texts = [c.chunk for c in chunks if c.chunk]
        assert texts == split_chunks(answer_text("say hi", "be brief", length=4 * 16), chunks=4)
        done = chunks[-1]
        assert done.done and done.usage is not None and done.usage.completion_tokens == 4
        assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]
        assert all(c.received_ns >= stream.started_ns for c in chunks)
        http.close()

    asyncio.run(main())
    assert len([r for r in sim.requests if r["path"] == OPENAI_PATH]) == 1


def test_an_openai_stream_without_usage_ends_with_a_plain_done_chunk(sim: RhetorSimulator) -> None:
    async def main() -> None:
        assert core is not None
        http = core.HttpClient(sim.url, "bench-test", max_retries=0)
        body = openai_body(chunks=2)
        del body["stream_options"]
        chunks = await drain(http.stream_openai_at(OPENAI_PATH, body, at_ns=0))
        assert len([c for c in chunks if c.chunk]) == 2
        assert chunks[-1].done and chunks[-1].usage is None
        http.close()

    asyncio.run(main())


KIND_CLASS = {
    "service_unavailable": "ServiceUnavailableError",
    "authentication": "AuthenticationError",
    "connection": "ConnectionError",
}
HELLO = {"choices": [{"index": 0, "delta": {"content": "hello"}}]}


@pytest.mark.parametrize(
    "answer,error,delivered",
    [
        (response(500, {"error": "boom"}), "service_unavailable", False),
        (response(401, {"error": "no"}), "authentication", False),
        (sse(HELLO, {"error": {"message": "overloaded", "type": "server_error"}}), "service_unavailable", True),
        (sse(HELLO, "not json"), "protocol", True),
        (sse(HELLO), "stream_interrupted", True),  # the body ended before data: [DONE]
        (sse(), "connection", False),
    ],
    ids=["http-500", "http-401", "error-event", "bad-json", "no-done-after-text", "no-done-no-text"],
)
def test_openai_stream_failures_are_typed(answer: bytes, error: str, delivered: bool) -> None:
    async def main(url: str) -> None:
        assert core is not None
        http = core.HttpClient(url, "bench-test", max_retries=3)
        stream = http.stream_openai_at(OPENAI_PATH, openai_body(), at_ns=0)
        got: List[Any] = []
        if delivered:  # a failure after output is the stream's last chunk, its kind on the stream
            got = await drain(stream)
            assert got[-1].error and got[-1].done
            assert stream.failure_kind == error
        else:
            with pytest.raises(Exception) as info:
                await drain(stream)
            assert type(info.value).__name__ == KIND_CLASS[error], info.value
            assert stream.failure_kind == error
        assert [c.chunk for c in got if c.chunk] == (["hello"] if delivered else [])
        http.close()

    with PeerServer(lambda request: answer) as peer:
        asyncio.run(main(peer.url))
        # never retried, whatever max_retries says: a load generator records failures
        assert len([r for r in peer.requests if r.path == OPENAI_PATH]) == 1


def test_an_openai_stream_cut_by_the_server_is_interrupted() -> None:
    sent = sse(HELLO, HELLO, "[DONE]")
    cut = sent[: sent.index(b"data:") + 20]  # the headers promise more than is sent

    async def main(url: str) -> None:
        assert core is not None
        http = core.HttpClient(url, "bench-test", max_retries=0)
        stream = http.stream_openai_at(OPENAI_PATH, openai_body(), at_ns=0)
        try:
            chunks = await drain(stream)
            assert chunks[-1].error  # after some output: the last chunk
        except Exception as exc:  # before any: raised
            assert type(exc).__name__ in ("StreamInterruptedError", "ConnectionError"), exc
        assert stream.failure_kind in ("stream_interrupted", "connection")
        http.close()

    def answer(request: Any) -> bytes:
        # the cut response is written first, then the peer drops the connection
        asyncio.get_running_loop().call_later(0.2, lambda: [w.close() for w in peer._writers])
        return cut

    with PeerServer(answer) as peer:
        asyncio.run(main(peer.url))
