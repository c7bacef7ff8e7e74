"""Frames a real server may send that the client's reader must take apart right, on every
WebSocket backend (the Rust one reading on the event loop's thread and on its runtime, and the pure
one), from a peer over a real socket: frames that come in the same write as the upgrade's answer
or as REGISTER_ACK, and a message in fragments over several writes with a ping between them."""

from __future__ import annotations

import asyncio
import json
from typing import List

import pytest
from tekton_llm_client import exceptions
from tekton_llm_client.websocket import TektonLLMWebSocketClient

from . import ws_peer

GUARD = 30.0  # hang guard, never a timing assertion

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(params=ws_peer.WS_BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return ws_peer.use_ws_backend(str(request.param), monkeypatch)


def fragment(opcode: int, payload: bytes, *, final: bool) -> bytes:
    """One unmasked frame of a fragmented message (opcode 0 continues it)."""
    assert len(payload) < 126
    return bytes([(0x80 if final else 0) | opcode, len(payload)]) + payload


async def next_text(reader: asyncio.StreamReader, pongs: List[bytes]) -> str:
    """The client's next text frame; its pongs are collected on the way."""
    while True:
        opcode, data = await ws_peer.read_frame(reader)
        if opcode == 0xA:
            pongs.append(data)
        elif opcode == 0x1:
            return data.decode()


async def until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pongs: List[bytes]) -> None:
    """Collect the client's pongs until its close frame, and answer that."""
    while True:
        opcode, data = await ws_peer.read_frame(reader)
        if opcode == 0xA:
            pongs.append(data)
        elif opcode == 0x8:
            writer.write(ws_peer.frame(0x8, data[:2]))
            await writer.drain()
            return


async def test_an_error_in_the_same_write_as_the_upgrade_answer_is_read(backend: str) -> None:
    """A server that refuses the token at once (before REGISTER) says so right behind its 101."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        refusal = ws_peer.text('{"type":"ERROR","error":"invalid auth token","code":"auth_failed"}')
        await ws_peer.accept_upgrade(reader, writer, then=refusal)
        writer.close()

    async with ws_peer.Peer(handle) as peer:
        c = TektonLLMWebSocketClient("peer", ws_url=peer.ws_url, backend=backend, reconnect=False, ping_interval=0)
        with pytest.raises(exceptions.AuthenticationError, match="invalid auth token"):
            await asyncio.wait_for(c.connect(), GUARD)


async def test_a_ping_in_the_same_write_as_register_ack_is_answered(backend: str) -> None:
    answered: "asyncio.Future[str]" = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await ws_peer.accept_upgrade(reader, writer)
        await next_text(reader, [])  # REGISTER
        writer.write(ws_peer.text('{"type":"REGISTER_ACK","session_id":"peer"}') + ws_peer.text('{"type":"PING"}'))
        await writer.drain()
        answered.set_result(await next_text(reader, []))
        await until_closed(reader, writer, [])

    async with ws_peer.Peer(handle) as peer:
        c = TektonLLMWebSocketClient("peer", ws_url=peer.ws_url, backend=backend, reconnect=False, ping_interval=0)
        await asyncio.wait_for(c.connect(), GUARD)
        try:
            assert json.loads(await asyncio.wait_for(answered, GUARD)) == {"type": "PONG"}
        finally:
            await asyncio.wait_for(c.disconnect(), GUARD)


async def test_a_fragmented_message_with_a_ping_between_its_fragments(backend: str) -> None:
    pongs: List[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await ws_peer.register(reader, writer)
        request = json.loads(await next_text(reader, pongs))
        message = json.dumps({"type": "CHUNK", "request_id": request["request_id"], "chunk": "whole", "done": True})
        data = message.encode()
        parts = [data[:10], data[10:40], data[40:]]
        writes = [
            fragment(0x1, parts[0], final=False),
            ws_peer.ping(b"between"),
            fragment(0x0, parts[1], final=False),
            fragment(0x0, parts[2], final=True),
        ]
        for piece in writes:  # one write each, apart: the reader sees them arrive one by one
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.02)
        await until_closed(reader, writer, pongs)

    async with ws_peer.Peer(handle) as peer:
        c = TektonLLMWebSocketClient("peer", ws_url=peer.ws_url, backend=backend, reconnect=False, ping_interval=0)
        chunks: List[str] = []
        try:
            request_id = await asyncio.wait_for(c.generate("x", callback=lambda ch: chunks.append(ch.chunk)), GUARD)
            answer = await asyncio.wait_for(c.wait(request_id), GUARD)
        finally:
            await asyncio.wait_for(c.disconnect(), GUARD)
        assert answer.content == "whole"
        assert chunks == ["whole"]
        assert pongs == [b"between"]
