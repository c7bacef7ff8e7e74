"""TektonLLMWebSocketClient against the Rhetor simulator (real sockets), on both backends.

Every test runs once with the Rust core and once with the pure-Python backend: the two must
behave the same. Waits carry a generous hang guard (`GUARD`), never a timing assertion.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, AsyncIterator, Iterator, List

import pytest
import websockets
from tekton_llm_client import exceptions
from tekton_llm_client.models import CompletionResponse, StreamingChunk
from tekton_llm_client.testing import RhetorSimulator
from tekton_llm_client.websocket import TektonLLMWebSocketClient

from . import ws_peer

GUARD = 30.0  # seconds: a hang guard, not a performance bound

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(params=ws_peer.WS_BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("RHETOR_URL", "RHETOR_WS_URL", "RHETOR_AUTH_TOKEN", "RHETOR_DEFAULT_PROVIDER", "RHETOR_DEFAULT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return ws_peer.use_ws_backend(str(request.param), monkeypatch)


@pytest.fixture
def sim() -> Iterator[RhetorSimulator]:
    with RhetorSimulator(chunk_delay_ms=1) as s:
        yield s


class Recorder:
    """Collects what the client hands to its callbacks."""

    def __init__(self) -> None:
        self.messages: List[dict[str, Any]] = []
        self.errors: List[BaseException] = []
        self.closes = 0
        self.closed = asyncio.Event()

    def on_message(self, msg: dict[str, Any]) -> None:
        self.messages.append(msg)

    def on_error(self, err: BaseException) -> None:
        self.errors.append(err)

    def on_close(self) -> None:
        self.closes += 1
        self.closed.set()


@pytest.fixture
async def rec() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(backend: str, sim: RhetorSimulator, rec: Recorder) -> AsyncIterator[TektonLLMWebSocketClient]:
    c = TektonLLMWebSocketClient(
        component_id="ws-test",
        rhetor_url=sim.url,
        on_message=rec.on_message,
        on_error=rec.on_error,
        on_close=rec.on_close,
    )
    assert c.backend == backend
    await asyncio.wait_for(c.connect(), GUARD)
    yield c
    await asyncio.wait_for(c.disconnect(), GUARD)


def text_of(chunks: List[StreamingChunk]) -> str:
    return "".join(c.chunk for c in chunks)


# -- the migration guide, step 7, exactly as written ------------------------------------------


async def test_guide_step7_snippet_as_written(
    backend: str, sim: RhetorSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RHETOR_URL", sim.url)
    received: List[StreamingChunk] = []

    def process_chunk(chunk: StreamingChunk) -> None:
        received.append(chunk)

    # ---- migration-guide.md, Step 7, "After:" (verbatim) ----
    from tekton_llm_client import TektonLLMWebSocketClient

    # Initialize the WebSocket client
    ws_client = TektonLLMWebSocketClient(
        component_id="your-component-name",
        on_message=lambda msg: print(f"Message received: {msg}"),
        on_error=lambda err: print(f"Error: {err}"),
        on_close=lambda: print("Connection closed"),
    )

    # Connect and use the client
    await ws_client.connect()

    # Generate with WebSocket
    request_id = await ws_client.generate(prompt="Hello, world!", callback=lambda chunk: process_chunk(chunk))
    # ---- end of the guide's snippet ----

    assert isinstance(request_id, str) and request_id
    answer = await asyncio.wait_for(ws_client.wait(request_id), GUARD)
    assert text_of(received) == sim.answer_text("Hello, world!") == answer.content
    assert received[-1].done and received[-1].error is None
    assert all(not c.done for c in received[:-1])
    assert ws_client.backend == backend
    await ws_client.disconnect()
    out = capsys.readouterr().out
    assert "Message received: {" in out and "REGISTER_ACK" in out and "CHUNK" in out
    assert "Connection closed" in out
    assert "Error:" not in out
    frames = [r["json"] for r in sim.requests if r["method"] == "WS"]
    assert frames[0]["type"] == "REGISTER" and frames[0]["component_id"] == "your-component-name"
    assert frames[1]["type"] == "STREAM" and frames[1]["request_id"] == request_id


async def test_step7_callback_may_return_a_coroutine(client: TektonLLMWebSocketClient, sim: RhetorSimulator) -> None:
    received: List[str] = []

    async def process_chunk(chunk: StreamingChunk) -> None:
        await asyncio.sleep(0)
        received.append(chunk.chunk)

    rid = await client.generate(prompt="coro", callback=lambda chunk: process_chunk(chunk))
    await asyncio.wait_for(client.wait(rid), GUARD)
    assert "".join(received) == sim.answer_text("coro")


# -- multiplexing ------------------------------------------------------------------------------


async def test_100_concurrent_streams_share_one_socket(
    client: TektonLLMWebSocketClient, sim: RhetorSimulator, rec: Recorder
) -> None:
    prompts = [f"prompt number {i}" for i in range(100)]
    received: dict[str, List[StreamingChunk]] = {p: [] for p in prompts}

    def collector(p: str) -> Any:
        return lambda chunk: received[p].append(chunk)

    opts = {"sim": {"length": 300, "chunk_delay_ms": 2}}
    ids = await asyncio.gather(*(client.generate(prompt=p, callback=collector(p), options=opts) for p in prompts))
    assert len(set(ids)) == 100
    answers = await asyncio.wait_for(asyncio.gather(*(client.wait(i) for i in ids)), GUARD)
    for p, answer in zip(prompts, answers, strict=True):
        expected = sim.answer_text(p, length=300)
        assert text_of(received[p]) == expected
        assert answer.content == expected and answer.finish_reason == "stop"
        assert sum(c.done for c in received[p]) == 1 and received[p][-1].done
    assert client.connection_count == 1
    assert sim.connections_accepted == 1
    ws_connections = {r["connection_id"] for r in sim.requests if r["method"] == "WS"}
    assert len(ws_connections) == 1
    assert rec.errors == []
    assert client.in_flight == 0


async def test_chat_stream_and_whole_answers(client: TektonLLMWebSocketClient, sim: RhetorSimulator) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "chat please"}]
    chunks: List[StreamingChunk] = []
    rid = await client.chat(messages, callback=chunks.append)
    streamed = await asyncio.wait_for(client.wait(rid), GUARD)
    whole = await asyncio.wait_for(client.complete_chat(messages), GUARD)
    assert isinstance(whole, CompletionResponse)
    assert streamed.content == text_of(chunks) == whole.content
    assert "chat please" in whole.content
    generated = await asyncio.wait_for(client.complete(prompt="whole please", system_prompt="sys"), GUARD)
    assert generated.content == sim.answer_text("whole please", "sys")
    assert generated.model and generated.provider and generated.request_id
    kinds = [r["json"]["type"] for r in sim.requests if r["method"] == "WS"]
    assert kinds[1:] == ["CHAT_STREAM", "CHAT", "GENERATE"]


async def test_wait_after_finish_and_unknown_ids(client: TektonLLMWebSocketClient, sim: RhetorSimulator) -> None:
    done = asyncio.Event()
    rid = await client.generate(prompt="late", callback=lambda c: done.set() if c.done else None)
    await asyncio.wait_for(done.wait(), GUARD)
    assert (await client.wait(rid)).content == sim.answer_text("late")
    with pytest.raises(KeyError):
        await client.wait("no-such-request")
    assert await client.cancel(rid) is False


# -- cancel ------------------------------------------------------------------------------------


async def test_cancel_ends_the_stream_and_keeps_the_socket(
    client: TektonLLMWebSocketClient, sim: RhetorSimulator
) -> None:
    chunks: List[StreamingChunk] = []
    first = asyncio.Event()

    def cb(chunk: StreamingChunk) -> None:
        chunks.append(chunk)
        first.set()

    rid = await client.generate(
        prompt="long story", callback=cb, options={"sim": {"length": 20000, "chunk_delay_ms": 20}}
    )
    await asyncio.wait_for(first.wait(), GUARD)
    assert await client.cancel(rid) is True
    answer = await asyncio.wait_for(client.wait(rid), GUARD)
    assert answer.finish_reason == "cancelled"
    assert chunks[-1].done and chunks[-1].finish_reason == "cancelled" and chunks[-1].error is None
    assert sum(c.done for c in chunks) == 1
    assert answer.content == text_of(chunks)
    assert len(answer.content) < 20000
    assert await client.cancel(rid) is False
    # CANCEL reached the server (it is sent after the request already ended for the caller)
    await asyncio.wait_for(
        _until(
            lambda: any(
                r["json"] and r["json"].get("type") == "CANCEL" and r["json"].get("request_id") == rid
                for r in sim.requests
                if r["method"] == "WS"
            )
        ),
        GUARD,
    )
    # the socket lives on
    after = await asyncio.wait_for(client.complete(prompt="after cancel"), GUARD)
    assert after.content == sim.answer_text("after cancel")
    assert client.connection_count == 1


async def test_complete_timeout_cancels_the_request(client: TektonLLMWebSocketClient, sim: RhetorSimulator) -> None:
    with pytest.raises(exceptions.TimeoutError) as info:
        await client.complete(prompt="slow", options={"sim": {"first_chunk_delay_ms": 60000}}, timeout=0.2)
    assert info.value.request_id
    assert isinstance(info.value, TimeoutError)
    await asyncio.wait_for(_until(lambda: client.in_flight == 0), GUARD)


# -- the server closes the socket --------------------------------------------------------------


async def test_server_close_fails_in_flight_requests_then_reconnects(
    client: TektonLLMWebSocketClient, sim: RhetorSimulator, rec: Recorder
) -> None:
    slow: List[StreamingChunk] = []
    closing: List[StreamingChunk] = []
    slow_started = asyncio.Event()

    def on_slow(chunk: StreamingChunk) -> None:
        slow.append(chunk)
        slow_started.set()

    slow_id = await client.generate(
        prompt="slow one", callback=on_slow, options={"sim": {"length": 4000, "chunk_delay_ms": 20}}
    )
    await asyncio.wait_for(slow_started.wait(), GUARD)
    whole = asyncio.ensure_future(client.complete(prompt="whole one", options={"sim": {"first_chunk_delay_ms": 60000}}))
    await asyncio.wait_for(_until(lambda: client.in_flight == 2), GUARD)
    close_id = await client.generate(
        prompt="closer", callback=closing.append, options={"sim": {"ws_close_after": 3, "length": 500}}
    )

    for rid in (slow_id, close_id):
        with pytest.raises(exceptions.ConnectionError) as info:
            await asyncio.wait_for(client.wait(rid), GUARD)
        assert info.value.request_id == rid
        assert isinstance(info.value, ConnectionError)
    with pytest.raises(exceptions.ConnectionError):
        await asyncio.wait_for(whole, GUARD)
    for chunks in (slow, closing):
        assert chunks[-1].done and chunks[-1].error
        assert sum(c.done for c in chunks) == 1
    assert text_of(closing) == sim.answer_text("closer", length=500)[: 16 * 3]  # 3 chunks of 16
    with pytest.raises(exceptions.StreamInterruptedError) as interrupted:
        await client.wait(slow_id)
    assert interrupted.value.partial == text_of(slow)
    await asyncio.wait_for(rec.closed.wait(), GUARD)
    assert rec.closes == 1

    # later requests work again, over a new socket
    answer = await asyncio.wait_for(client.complete(prompt="after reconnect"), GUARD)
    assert answer.content == sim.answer_text("after reconnect")
    assert client.connection_count == 2
    assert client.connected
    frames = [r for r in sim.requests if r["method"] == "WS"]
    assert [f["json"]["type"] for f in frames].count("REGISTER") == 2


async def test_disconnect_fails_in_flight_requests(backend: str, sim: RhetorSimulator, rec: Recorder) -> None:
    c = TektonLLMWebSocketClient("ws-test", rhetor_url=sim.url, on_close=rec.on_close, on_error=rec.on_error)
    await c.connect()
    chunks: List[StreamingChunk] = []
    rid = await c.generate(
        prompt="never finished", callback=chunks.append, options={"sim": {"first_chunk_delay_ms": 60000}}
    )
    await asyncio.wait_for(c.disconnect(), GUARD)
    with pytest.raises(exceptions.ConnectionError):
        await c.wait(rid)
    assert chunks[-1].done and chunks[-1].error
    assert rec.closes == 1 and rec.errors == []
    assert not c.connected
    # connect() again works
    async with c:
        assert (await asyncio.wait_for(c.complete(prompt="again"), GUARD)).content == sim.answer_text("again")


async def test_server_gone_reconnects_are_reported_and_disconnect_stops_them(backend: str, rec: Recorder) -> None:
    sim = RhetorSimulator().start()
    c = TektonLLMWebSocketClient(
        "ws-test",
        rhetor_url=sim.url,
        on_close=rec.on_close,
        on_error=rec.on_error,
        connect_timeout=2,
        reconnect_base_delay=0.05,
        max_reconnect_delay=0.2,
    )
    await c.connect()
    sim.stop()
    await asyncio.wait_for(rec.closed.wait(), GUARD)
    await asyncio.wait_for(_until(lambda: any("reconnect attempt" in str(e) for e in rec.errors)), GUARD)
    assert all(isinstance(e, exceptions.ConnectionError) for e in rec.errors)
    with pytest.raises(exceptions.ConnectionError):
        await asyncio.wait_for(c.complete(prompt="nobody home"), GUARD)
    await asyncio.wait_for(c.disconnect(), GUARD)
    assert not c.connected


async def test_no_reconnect_when_disabled(backend: str, sim: RhetorSimulator, rec: Recorder) -> None:
    c = TektonLLMWebSocketClient("ws-test", rhetor_url=sim.url, on_close=rec.on_close, reconnect=False)
    await c.connect()
    rid = await c.generate(prompt="x", options={"sim": {"ws_close_after": 1, "length": 100}})
    with pytest.raises(exceptions.ConnectionError):
        await asyncio.wait_for(c.wait(rid), GUARD)
    await asyncio.wait_for(_until(lambda: not c.connected and c.connection_count == 0), GUARD)
    assert rec.closes == 1
    # the next call opens a fresh connection
    assert (await asyncio.wait_for(c.complete(prompt="y"), GUARD)).content == sim.answer_text("y")
    await c.disconnect()


# -- callbacks ---------------------------------------------------------------------------------


async def test_sync_and_async_callbacks(client: TektonLLMWebSocketClient, sim: RhetorSimulator) -> None:
    sync_got: List[str] = []
    async_got: List[str] = []

    def sync_cb(chunk: StreamingChunk) -> None:
        sync_got.append(chunk.chunk)

    async def async_cb(chunk: StreamingChunk) -> None:
        await asyncio.sleep(0)
        async_got.append(chunk.chunk)

    a = await client.generate(prompt="sync", callback=sync_cb)
    b = await client.generate(prompt="async", callback=async_cb)
    await asyncio.wait_for(asyncio.gather(client.wait(a), client.wait(b)), GUARD)
    assert "".join(sync_got) == sim.answer_text("sync")
    assert "".join(async_got) == sim.answer_text("async")


async def test_chunks_carry_their_arrival_time(client: TektonLLMWebSocketClient) -> None:
    started = time.monotonic_ns()
    seen: List[int] = []
    handed_over: List[int] = []

    def on_chunk(chunk: StreamingChunk) -> None:
        handed_over.append(time.monotonic_ns())
        assert isinstance(chunk.received_ns, int)
        seen.append(chunk.received_ns)

    rid = await client.generate(prompt="when", callback=on_chunk, options={"sim": {"chunks": 8, "chunk_delay_ms": 3}})
    await asyncio.wait_for(client.wait(rid), GUARD)
    assert len(seen) >= 8
    assert all(started <= r <= h for r, h in zip(seen, handed_over, strict=False)), (started, seen, handed_over)
    assert seen == sorted(seen)
    assert seen[-1] > seen[0], "paced chunks arrive at different times"


async def test_raising_callback_goes_to_on_error_and_the_socket_survives(
    client: TektonLLMWebSocketClient, sim: RhetorSimulator, rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    got: List[str] = []
    boom = ValueError("callback bug")

    def bad(chunk: StreamingChunk) -> None:
        got.append(chunk.chunk)
        if len(got) == 1:
            raise boom

    async def bad_async(chunk: StreamingChunk) -> None:
        raise KeyError("async callback bug")

    caplog.set_level(logging.ERROR, logger="tekton_llm_client.websocket")
    a = await client.generate(prompt="raise once", callback=bad)
    b = await client.generate(prompt="raise always", callback=bad_async)
    answer = await asyncio.wait_for(client.wait(a), GUARD)
    assert answer.content == sim.answer_text("raise once") == "".join(got)
    assert (await asyncio.wait_for(client.wait(b), GUARD)).content == sim.answer_text("raise always")
    assert rec.errors[0] is boom or boom in rec.errors
    assert sum(isinstance(e, KeyError) for e in rec.errors) >= 2
    assert all(isinstance(e, (ValueError, KeyError)) for e in rec.errors)
    assert "callback bug" in caplog.text
    assert (await asyncio.wait_for(client.complete(prompt="still alive"), GUARD)).content
    assert client.connection_count == 1


async def test_on_message_gets_every_decoded_message(client: TektonLLMWebSocketClient, rec: Recorder) -> None:
    rid = await client.generate(prompt="msgs")
    await asyncio.wait_for(client.wait(rid), GUARD)
    types = [m["type"] for m in rec.messages]
    assert types[0] == "REGISTER_ACK"
    assert "CHUNK" in types
    chunk_msgs = [m for m in rec.messages if m["type"] == "CHUNK"]
    assert all(m["request_id"] == rid for m in chunk_msgs) and chunk_msgs[-1]["done"] is True


async def test_server_error_for_one_request(client: TektonLLMWebSocketClient, rec: Recorder) -> None:
    with pytest.raises(exceptions.ServiceUnavailableError) as info:
        await asyncio.wait_for(client.complete(prompt="x", options={"sim": {"fail_status": 503}}), GUARD)
    assert info.value.status_code == 503 and info.value.request_id
    chunks: List[StreamingChunk] = []
    rid = await client.generate(prompt="y", callback=chunks.append, options={"sim": {"fail_status": 429}})
    with pytest.raises(exceptions.RateLimitError):
        await asyncio.wait_for(client.wait(rid), GUARD)
    assert len(chunks) == 1 and chunks[0].done and chunks[0].error and chunks[0].finish_reason == "error"
    assert rec.errors == []


# -- auth --------------------------------------------------------------------------------------


async def test_auth_token_accepted(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with RhetorSimulator(auth_token="s3cret-token") as sim:
        monkeypatch.setenv("RHETOR_AUTH_TOKEN", "s3cret-token")
        c = TektonLLMWebSocketClient("auth-test", rhetor_url=sim.url)
        assert "s3cret" not in repr(c)
        async with c:
            answer = await asyncio.wait_for(c.complete(prompt="authed"), GUARD)
            assert answer.content == sim.answer_text("authed")
        register = [r for r in sim.records(reveal_secrets=True) if r["method"] == "WS"][0]
        assert register["json"]["auth_token"] == "s3cret-token"
        assert register["auth_ok"] is True


async def test_wrong_token_is_an_authentication_error(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with RhetorSimulator(auth_token="right-token") as sim:
        c = TektonLLMWebSocketClient("auth-test", ws_url=sim.ws_url, auth_token="wrong-token-xyz", connect_timeout=10)
        with pytest.raises(exceptions.AuthenticationError) as info:
            await asyncio.wait_for(c.connect(), GUARD)
        for text in (str(info.value), repr(info.value), repr(c), caplog.text):
            assert "wrong-token-xyz" not in text
        assert not c.connected
        # no token at all is refused the same way
        anon = TektonLLMWebSocketClient("auth-test", ws_url=sim.ws_url)
        with pytest.raises(exceptions.AuthenticationError):
            await asyncio.wait_for(anon.connect(), GUARD)


# -- a server that never acknowledges REGISTER -------------------------------------------------


async def test_no_register_ack_is_a_timeout(backend: str) -> None:
    registered = asyncio.Event()

    async def silent(ws: Any) -> None:
        async for message in ws:
            if json.loads(message).get("type") == "REGISTER":
                registered.set()  # ... and never answer

    async with websockets.serve(silent, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        c = TektonLLMWebSocketClient("silent-test", ws_url=f"ws://127.0.0.1:{port}/ws", connect_timeout=0.5)
        with pytest.raises(exceptions.TimeoutError) as info:
            await asyncio.wait_for(c.connect(), GUARD)
        assert isinstance(info.value, TimeoutError)
        assert "REGISTER_ACK" in str(info.value)
        assert registered.is_set()
        assert not c.connected


async def test_silent_peer_is_detected_by_pings(backend: str, rec: Recorder) -> None:
    """A server that registers us and then stops reading (so it answers no ping) is declared dead:
    the request in flight fails, on_error hears why, on_close fires."""
    release = asyncio.Event()

    async def goes_silent(ws: Any) -> None:
        async for message in ws:
            frame = json.loads(message)
            if frame.get("type") == "REGISTER":
                await ws.send(json.dumps({"type": "REGISTER_ACK", "session_id": "s1"}))
            elif frame.get("type") == "STREAM":
                await ws.send(
                    json.dumps({"type": "CHUNK", "request_id": frame["request_id"], "chunk": "partial", "done": False})
                )
                ws.transport.pause_reading()  # deaf from now on: no pongs
                await release.wait()
                ws.transport.resume_reading()
                return

    async with websockets.serve(goes_silent, "127.0.0.1", 0, ping_interval=None, close_timeout=0.1) as server:
        port = server.sockets[0].getsockname()[1]
        c = TektonLLMWebSocketClient(
            "ping-test",
            ws_url=f"ws://127.0.0.1:{port}/ws",
            ping_interval=0.2,
            on_error=rec.on_error,
            on_close=rec.on_close,
            reconnect=False,
        )
        await asyncio.wait_for(c.connect(), GUARD)
        chunks: List[StreamingChunk] = []
        rid = await c.generate(prompt="anyone there?", callback=chunks.append)
        with pytest.raises(exceptions.StreamInterruptedError) as info:
            await asyncio.wait_for(c.wait(rid), GUARD)
        assert info.value.partial == "partial"
        assert chunks[-1].done and chunks[-1].error
        await asyncio.wait_for(rec.closed.wait(), GUARD)
        assert any(isinstance(e, exceptions.TimeoutError) and "ping" in str(e) for e in rec.errors)
        await asyncio.wait_for(c.disconnect(), GUARD)
        release.set()


async def test_unreachable_server_is_a_connection_error(backend: str) -> None:
    with RhetorSimulator() as sim:
        url = sim.ws_url
    c = TektonLLMWebSocketClient("gone", ws_url=url, connect_timeout=5)
    with pytest.raises(exceptions.ConnectionError):
        await asyncio.wait_for(c.connect(), GUARD)


async def test_a_bad_read_on_loop_setting_is_a_clear_error(
    sim: RhetorSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEKTON_LLM_WS_READ_ON_LOOP", "yes")
    c = TektonLLMWebSocketClient("bad", ws_url=sim.ws_url, backend="rust")
    with pytest.raises(ValueError, match="TEKTON_LLM_WS_READ_ON_LOOP must be 0 or 1"):
        await asyncio.wait_for(c.connect(), GUARD)


# -- bad frames and big messages ----------------------------------------------------------------


async def test_malformed_frame_is_reported_not_fatal(
    client: TektonLLMWebSocketClient, sim: RhetorSimulator, rec: Recorder
) -> None:
    chunks: List[StreamingChunk] = []
    rid = await client.generate(prompt="glitchy", callback=chunks.append, options={"sim": {"ws_malformed_after": 1}})
    answer = await asyncio.wait_for(client.wait(rid), GUARD)
    assert answer.content == text_of(chunks) == sim.answer_text("glitchy")
    protocol_errors = [e for e in rec.errors if isinstance(e, exceptions.ProtocolError)]
    assert len(protocol_errors) == 1 and "malformed" in str(protocol_errors[0])
    assert client.connection_count == 1 and client.connected


async def test_message_size_limit(backend: str, sim: RhetorSimulator, rec: Recorder) -> None:
    c = TektonLLMWebSocketClient(
        "limit-test", rhetor_url=sim.url, max_message_size=2048, on_error=rec.on_error, on_close=rec.on_close
    )
    async with c:
        with pytest.raises(exceptions.LimitExceededError) as info:
            await asyncio.wait_for(c.complete(prompt="big", options={"sim": {"length": 10000}}), GUARD)
        assert "2048" in str(info.value)
        assert any(isinstance(e, exceptions.LimitExceededError) for e in rec.errors)
        await asyncio.wait_for(rec.closed.wait(), GUARD)
        # small answers still work, over a new socket
        small = await asyncio.wait_for(c.complete(prompt="small"), GUARD)
        assert small.content == sim.answer_text("small")
        assert c.connection_count == 2


# -- configuration -----------------------------------------------------------------------------


def test_ws_url_derivation(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def url(**kw: Any) -> str:
        return TektonLLMWebSocketClient("c", **kw).ws_url

    assert url() == "ws://localhost:8003/ws"
    assert url(rhetor_url="https://rhetor.example/api/llm/") == "wss://rhetor.example/api/llm/ws"
    assert url(rhetor_url="http://h:1", ws_url="ws://other/socket") == "ws://other/socket"
    monkeypatch.setenv("RHETOR_URL", "http://envhost:9000/prefix")
    assert url() == "ws://envhost:9000/prefix/ws"
    monkeypatch.setenv("RHETOR_WS_URL", "ws://wshost/ws")
    assert url() == "ws://wshost/ws"
    with pytest.raises(ValueError):
        url(ws_url="http://not-a-socket")


async def test_path_prefix_is_kept(backend: str) -> None:
    with RhetorSimulator(path_prefix="/api/llm") as sim:
        c = TektonLLMWebSocketClient("prefix-test", rhetor_url=sim.url)
        assert c.ws_url.endswith("/api/llm/ws")
        async with c:
            assert (await asyncio.wait_for(c.complete(prompt="p"), GUARD)).content == sim.answer_text("p")


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)
