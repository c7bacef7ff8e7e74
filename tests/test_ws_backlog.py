"""A server that never reads cannot make the WebSocket client buffer without bound, on both
backends: pongs owed for its pings (WebSocket ping frames or protocol PING frames) and request
frames waiting to be written are each bounded; past the bound the client raises
LimitExceededError, closes the socket, and its memory has stayed small."""

from __future__ import annotations

import asyncio
import json
from typing import Any, List

import pytest
from tekton_llm_client import exceptions
from tekton_llm_client.websocket import TektonLLMWebSocketClient

from . import ws_peer

GUARD = 60.0  # hang guard, never a timing assertion
RSS_GROWTH_LIMIT = 200 * 1024 * 1024
# A flood of 1M chunks held in memory would take several hundred MiB.
FLOOD_GROWTH_LIMIT = 100 * 1024 * 1024

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(params=ws_peer.WS_BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return ws_peer.use_ws_backend(str(request.param), monkeypatch)


def flooder(burst: bytes, stop: asyncio.Event) -> ws_peer.Handler:
    """Register the client, then send `burst` over and over and never read again."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await ws_peer.register(reader, writer)
        for _ in range(1_000_000):  # bounded; the client gives up long before
            if stop.is_set():
                return
            writer.write(burst)
            await writer.drain()

    return handle


async def expect_limit_and_closed(backend: str, handler: ws_peer.Handler, stop: asyncio.Event) -> None:
    errors: List[BaseException] = []
    closed = asyncio.Event()
    async with ws_peer.Peer(handler, rcvbuf=4096) as peer:
        c = TektonLLMWebSocketClient(
            "flood",
            ws_url=peer.ws_url,
            backend=backend,
            reconnect=False,
            ping_interval=0,
            on_error=errors.append,
            on_close=closed.set,
        )
        before = ws_peer.rss_bytes()
        try:
            await asyncio.wait_for(c.connect(), GUARD)
            await asyncio.wait_for(closed.wait(), GUARD)
            growth = ws_peer.rss_bytes() - before
        finally:
            stop.set()
            await asyncio.wait_for(c.disconnect(), GUARD)
        limits = [e for e in errors if isinstance(e, exceptions.LimitExceededError)]
        assert limits, f"no LimitExceededError, only {errors!r}"
        assert "pings without reading our answers" in str(limits[0])
        assert not c.connected
        assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.0f} MiB"


@pytest.mark.parametrize("payload", [b"", b"x" * 125], ids=["empty", "125-bytes"])
async def test_websocket_ping_flood_from_a_server_that_never_reads(backend: str, payload: bytes) -> None:
    stop = asyncio.Event()
    await expect_limit_and_closed(backend, flooder(ws_peer.ping(payload) * 512, stop), stop)


async def test_protocol_ping_flood_from_a_server_that_never_reads(backend: str) -> None:
    stop = asyncio.Event()
    await expect_limit_and_closed(backend, flooder(ws_peer.text('{"type":"PING"}') * 512, stop), stop)


async def test_requests_to_a_server_that_never_reads_are_refused_past_the_backlog(backend: str) -> None:
    """Request frames pile up for a server that stops reading after REGISTER: past the send
    backlog `generate` raises LimitExceededError instead of queueing more."""
    registered = asyncio.Event()
    release = asyncio.Event()

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await ws_peer.register(reader, writer)
        registered.set()
        await release.wait()

    prompt = "p" * (1 << 20)  # 1 MiB per request frame
    async with ws_peer.Peer(deaf, rcvbuf=4096) as peer:
        c = TektonLLMWebSocketClient(
            "deaf", ws_url=peer.ws_url, backend=backend, reconnect=False, ping_interval=0, connect_timeout=30
        )
        before = ws_peer.rss_bytes()
        try:
            await asyncio.wait_for(c.connect(), GUARD)
            refused: Any = None
            for _ in range(200):  # 200 MiB asked for; the backlog bound is far below
                try:
                    await asyncio.wait_for(c.generate(prompt=prompt), GUARD)
                except exceptions.LimitExceededError as e:
                    refused = e
                    break
            growth = ws_peer.rss_bytes() - before
        finally:
            release.set()
            await asyncio.wait_for(c.disconnect(), GUARD)
        assert refused is not None, "200 MiB of requests were queued for a server that reads nothing"
        assert "send backlog" in str(refused)
        assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.0f} MiB"


async def test_a_reading_server_may_ping_a_lot(backend: str) -> None:
    """The bound is on pings left unanswered, not on pings: a server that reads our pongs may
    send thousands and the session stays up."""
    done = asyncio.Event()
    pongs = 0

    async def pinger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal pongs
        await ws_peer.register(reader, writer)
        for _ in range(3000):
            writer.write(ws_peer.text('{"type":"PING"}'))
            await writer.drain()
            opcode, data = await ws_peer.read_frame(reader)
            if opcode == 0x1 and json.loads(data).get("type") == "PONG":
                pongs += 1
        done.set()
        await asyncio.sleep(GUARD)

    errors: List[BaseException] = []
    async with ws_peer.Peer(pinger) as peer:
        c = TektonLLMWebSocketClient(
            "pinged", ws_url=peer.ws_url, backend=backend, reconnect=False, ping_interval=0, on_error=errors.append
        )
        await asyncio.wait_for(c.connect(), GUARD)
        await asyncio.wait_for(done.wait(), GUARD)
        assert c.connected and pongs == 3000
        assert not errors
        await asyncio.wait_for(c.disconnect(), GUARD)


async def test_a_flood_of_chunks_while_the_dispatcher_waits_on_a_callback(backend: str) -> None:
    """A server that floods one request with chunks while the client's async callback is stuck:
    the reader stops at EVENTS_QUEUED_LIMIT events not taken (the server then waits in TCP), so
    memory stays bounded; once the callback returns, everything queued is delivered in order."""
    stop = asyncio.Event()
    text = "x" * 100

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await ws_peer.register(reader, writer)
        request_id = json.loads(await ws_peer.read_text(reader))["request_id"]
        frame = ws_peer.text(json.dumps({"type": "CHUNK", "request_id": request_id, "chunk": text, "done": False}))
        burst = frame * 256
        for _ in range(4_000):  # up to 1,024,000 frames (~150 MiB); the client stops reading long before
            if stop.is_set():
                return
            writer.write(burst)
            await writer.drain()

    release = asyncio.Event()
    seen: List[str] = []

    async def stuck(chunk: Any) -> None:
        await release.wait()
        seen.append(chunk.chunk)

    async with ws_peer.Peer(handle) as peer:
        c = TektonLLMWebSocketClient("flood", ws_url=peer.ws_url, backend=backend, reconnect=False, ping_interval=0)
        before = ws_peer.rss_bytes()
        try:
            await asyncio.wait_for(c.connect(), GUARD)
            await asyncio.wait_for(c.generate("flood me", callback=stuck), GUARD)
            await asyncio.sleep(3.0)  # the flood runs; an unbounded reader would take it all
            growth = ws_peer.rss_bytes() - before
            release.set()
            for _ in range(100):  # what was queued reaches the callback once it returns
                if len(seen) >= 1_000:
                    break
                await asyncio.sleep(0.05)
        finally:
            release.set()
            stop.set()
            await asyncio.wait_for(c.disconnect(), GUARD)
        assert growth < FLOOD_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.0f} MiB"
        assert len(seen) >= 1_000 and set(seen[:1_000]) == {text}
