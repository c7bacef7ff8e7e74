"""A raw WebSocket peer for the hostile-server tests: the upgrade and RFC 6455 framing by hand on
asyncio streams, so a test can do what no well-behaved server library lets it (flood pings and
never read, answer the upgrade with a redirect, accept TCP and say nothing)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import struct
from typing import Any, Awaitable, Callable, Optional, Tuple

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_head(reader: asyncio.StreamReader) -> Tuple[str, dict[str, str]]:
    """The request line and the (lowercased) headers of an HTTP request."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def accept_upgrade(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, then: bytes = b""
) -> dict[str, str]:
    """Answer a WebSocket upgrade with 101, and `then` (frames) in the same write; returns the
    request's headers."""
    _, headers = await read_head(reader)
    key = headers["sec-websocket-key"].encode()
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
        + then
    )
    await writer.drain()
    return headers


def frame(opcode: int, payload: bytes, *, mask: bool = False) -> bytes:
    """One final frame (servers send unmasked frames, clients masked ones)."""
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def text(payload: str, *, mask: bool = False) -> bytes:
    return frame(0x1, payload.encode(), mask=mask)


def ping(payload: bytes = b"", *, mask: bool = False) -> bytes:
    return frame(0x9, payload, mask=mask)


async def read_frame(reader: asyncio.StreamReader) -> Tuple[int, bytes]:
    """(opcode, payload) of the next frame (unmasking a client's)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    key = await reader.readexactly(4) if b1 & 0x80 else None
    data = await reader.readexactly(n)
    if key is not None:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return b0 & 0x0F, data


async def read_text(reader: asyncio.StreamReader) -> bytes:
    """The payload of the client's next text frame (other frames are skipped)."""
    while True:
        opcode, data = await read_frame(reader)
        if opcode == 0x1:
            return data


async def register(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Upgrade, read the client's REGISTER and acknowledge it; returns the REGISTER payload."""
    await accept_upgrade(reader, writer)
    data = await read_text(reader)
    writer.write(text('{"type":"REGISTER_ACK","session_id":"peer"}'))
    await writer.drain()
    return data


class Peer:
    """A TCP server on 127.0.0.1 running `handler` for each connection (async with)."""

    def __init__(self, handler: Handler, *, rcvbuf: Optional[int] = None) -> None:
        self.handler = handler
        self.rcvbuf = rcvbuf
        self.connections = 0
        self.port = 0
        self._server: Optional[asyncio.base_events.Server] = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass  # the client went away: that is what these tests provoke
        finally:
            writer.close()

    async def __aenter__(self) -> "Peer":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.rcvbuf is not None:
            # Small, so a peer that does not read fills up after few bytes.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._serve, sock=sock)
        self.port = sock.getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


def rss_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


# The facade's WebSocket backends as the tests run them: the Rust one reads ws:// sockets on the
# event loop's thread; `rust-runtime-reads` is the same backend reading them on its runtime, as it
# reads every wss:// socket.
WS_BACKENDS = ["rust", "rust-runtime-reads", "python"]


def use_ws_backend(name: str, monkeypatch: Any) -> str:
    """Select WebSocket backend `name` for clients made from now on; returns "rust" or "python"."""
    backend = "python" if name == "python" else "rust"
    monkeypatch.setenv("TEKTON_LLM_BACKEND", backend)
    if name == "rust-runtime-reads":
        monkeypatch.setenv("TEKTON_LLM_WS_READ_ON_LOOP", "0")
    else:
        monkeypatch.delenv("TEKTON_LLM_WS_READ_ON_LOOP", raising=False)
    return backend
