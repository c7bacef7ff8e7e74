"""The WebSocket contenders of benches/bench_realistic_ws.py. Every contender does the same work:
open one socket, register, send one STREAM frame per stream, and for every CHUNK frame hand its
text to the caller (`on_text`), then return how many chunks each stream brought.

`Handwritten` is what a user writes on the `websockets` library without our client: one reader
task that `json.loads` every frame and routes it by `request_id` to the stream waiting for it.
`Ours` is `TektonLLMWebSocketClient` on either backend, with the chunk callback a user would pass
(`sync`, `async`), or none (`wait`: only the joined answer, the text is counted from it); `rust
runtime-reads` is the sync one with the socket read on the runtime's thread
(`TEKTON_LLM_WS_READ_ON_LOOP=0`, as before the loop read it, and as for wss://).

`wait` does none of the bench's own per-chunk work (handing each text to `on_text`, which the paced
runner uses to time the gaps), so it is compared with callbacks that do none either (`sync-bare`,
`async-bare`: they only count): that pair is what a callback itself costs. Their rows have no gap
figures.

`ProtocolFloor` is not a client: the least a Python program can do per frame on one socket (see its
docstring). What it costs is the floor for every client whose frames reach Python's event loop."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional

import websockets
from tekton_llm_client import TektonLLMWebSocketClient
from tekton_llm_client.config import ws_url

OnText = Optional[Callable[[str], None]]
READ_ON_LOOP = "TEKTON_LLM_WS_READ_ON_LOOP"


def stream_frame(request_id: str, prompt: str, sim: Dict[str, Any]) -> str:
    return json.dumps(
        {
            "type": "STREAM",
            "request_id": request_id,
            "context_id": "bench",
            "component_id": "bench",
            "prompt": prompt,
            "options": {"sim": sim},
        }
    )


class _Stream:
    __slots__ = ("on_text", "count", "done")

    def __init__(self, on_text: OnText, done: "asyncio.Future[int]") -> None:
        self.on_text = on_text
        self.count = 0
        self.done = done


class Handwritten:
    """connect, REGISTER, STREAM frames, `json.loads` per frame."""

    def __init__(self, url: str) -> None:
        self.url = ws_url(None, url)
        self.ws: Any = None
        self.streams: Dict[str, _Stream] = {}
        self.reader: Optional["asyncio.Task[None]"] = None

    async def open(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=16 * 1024 * 1024)
        await self.ws.send(
            json.dumps({"type": "REGISTER", "component_id": "bench", "capabilities": ["generate", "stream", "chat"]})
        )
        ack = json.loads(await self.ws.recv())
        if ack.get("type") != "REGISTER_ACK":
            raise RuntimeError(f"no REGISTER_ACK: {ack!r}")
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind == "CHUNK":
                stream = self.streams.get(msg["request_id"])
                if stream is None:
                    continue
                stream.count += 1
                if stream.on_text is not None:
                    stream.on_text(msg.get("chunk") or "")
                if msg.get("done"):
                    del self.streams[msg["request_id"]]
                    stream.done.set_result(stream.count)
            elif kind == "PING":
                await self.ws.send('{"type":"PONG"}')
            elif kind == "ERROR":
                stream = self.streams.pop(msg.get("request_id") or "", None)
                if stream is not None:
                    stream.done.set_exception(RuntimeError(msg.get("error")))

    async def drain(self, prompt: str, sim: Dict[str, Any], on_text: OnText = None) -> int:
        if self.ws is None:
            await self.open()
        request_id = uuid.uuid4().hex
        done: "asyncio.Future[int]" = asyncio.get_running_loop().create_future()
        self.streams[request_id] = _Stream(on_text, done)
        await self.ws.send(stream_frame(request_id, prompt, sim))
        return await done

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()


class ProtocolFloor:
    """Not a client: an asyncio Protocol on one socket that does the handshake and REGISTER by hand,
    sends the STREAM frames, and only counts the CHUNK frames in what it receives (no frame or JSON
    parsing: it counts the bytes `"type":"CHUNK"` and `"done":true`). What it costs per chunk is the
    event loop's own price for its wake-ups and reads: the floor for every client whose frames reach
    Python on the loop's thread, as `websockets` and ours do. Streams are not told apart: each end of
    a stream settles the oldest waiting `drain` with the chunks counted since the last end, so only
    the counts' sum is right (all the paced runner uses). No gap figures."""

    CHUNK = b'"type":"CHUNK"'
    DONE = b'"done":true'

    def __init__(self, url: str) -> None:
        host_port = url.split("://", 1)[1].rstrip("/")
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.transport: Any = None
        self.waiting: Deque["asyncio.Future[int]"] = deque()
        self.registered: Optional["asyncio.Future[None]"] = None
        self.chunks = 0
        self.tail = b""

    @staticmethod
    def frame(text: str) -> bytes:
        """A client text frame, masked with the all-zero key (so the payload is sent as is)."""
        payload = text.encode()
        n = len(payload)
        if n < 126:
            head = bytes([0x81, 0x80 | n])
        elif n < 65536:
            head = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
        return head + b"\0\0\0\0" + payload

    def received(self, data: bytes) -> None:
        seen = self.tail + data
        self.tail = seen[-(len(self.CHUNK) - 1) :]
        if self.registered is not None and not self.registered.done():
            if b"REGISTER_ACK" in seen:
                self.registered.set_result(None)
            return
        self.chunks += seen.count(self.CHUNK)
        for _ in range(seen.count(self.DONE)):
            if self.waiting:
                self.waiting.popleft().set_result(self.chunks)
                self.chunks = 0

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.registered = loop.create_future()
        floor = self

        class Counter(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                floor.received(data)

            def connection_lost(self, exc: Optional[BaseException]) -> None:
                for future in floor.waiting:
                    if not future.done():
                        future.set_exception(ConnectionError("the simulator closed the socket"))

        self.transport, _ = await loop.create_connection(Counter, self.host, self.port)
        self.transport.write(
            b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        register = {"type": "REGISTER", "component_id": "bench", "capabilities": ["generate", "stream", "chat"]}
        self.transport.write(self.frame(json.dumps(register)))
        await self.registered

    async def drain(self, prompt: str, sim: Dict[str, Any], on_text: OnText = None) -> int:
        if self.transport is None:
            await self.open()
        done: "asyncio.Future[int]" = asyncio.get_running_loop().create_future()
        self.waiting.append(done)
        self.transport.write(self.frame(stream_frame(uuid.uuid4().hex, prompt, sim)))
        return await done

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Ours:
    def __init__(self, url: str, backend: str, callback: str, read_on_loop: bool = True) -> None:
        self.client = TektonLLMWebSocketClient("bench", rhetor_url=url, backend=backend)
        self.callback = callback
        self.read_on_loop = read_on_loop

    async def connect(self) -> None:
        """Connect, with the Rust backend reading on its runtime when asked (the setting is read
        when the socket's transport is made, at connect)."""
        before = os.environ.get(READ_ON_LOOP)
        os.environ[READ_ON_LOOP] = "1" if self.read_on_loop else "0"
        try:
            await self.client.connect()
        finally:
            if before is None:
                del os.environ[READ_ON_LOOP]
            else:
                os.environ[READ_ON_LOOP] = before

    async def drain(self, prompt: str, sim: Dict[str, Any], on_text: OnText = None) -> int:
        if not self.client.connected:
            await self.connect()
        count = [0]
        callback: Any = None
        if self.callback in ("sync-bare", "async-bare"):
            on_text = None  # the same bench work as `wait`: none per chunk
        if self.callback in ("sync", "sync-bare"):

            def callback(chunk: Any) -> None:
                count[0] += 1
                if on_text is not None:
                    on_text(chunk.chunk)
        elif self.callback in ("async", "async-bare"):

            async def callback(chunk: Any) -> None:
                count[0] += 1
                if on_text is not None:
                    on_text(chunk.chunk)

        request_id = await self.client.generate(prompt, callback=callback, options={"sim": sim})
        answer = await self.client.wait(request_id)
        if self.callback == "wait":
            # No per-chunk call to count with: the simulator sends `chunk_size`-character chunks
            # and then an empty one with done=True (what the other contenders count).
            return -(-len(answer.content) // int(sim.get("chunk_size", 1))) + 1
        return count[0]

    async def close(self) -> None:
        await self.client.disconnect()


CONTENDERS: List[str] = [
    "rust",
    "rust async-cb",
    "rust wait",
    "rust bare-cb",
    "rust async-bare-cb",
    "rust runtime-reads",
    "python",
    "websockets",
    "rust http-sse",
    "floor: asyncio Protocol",
]


def make(name: str, url: str) -> Any:
    if name == "websockets":
        return Handwritten(url)
    if name == "floor: asyncio Protocol":
        return ProtocolFloor(url)
    if name == "rust http-sse":
        from .contenders import make as make_http

        return make_http("rust", url)
    backend, _, callback = name.partition(" ")
    if callback == "runtime-reads":
        return Ours(url, backend, "sync", read_on_loop=False)
    kinds = {"": "sync", "async-cb": "async", "wait": "wait", "bare-cb": "sync-bare", "async-bare-cb": "async-bare"}
    return Ours(url, backend, kinds[callback])
