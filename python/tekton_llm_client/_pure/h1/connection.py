"""One TCP connection of our own HTTP/1.1: an asyncio Protocol that keeps what arrives in a
buffer and wakes the one reader waiting for it, or calls its listener (a streamed body decoded in
this callback: no task switch per read). No StreamReader, no task per connection."""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Optional

__all__ = ["Connection", "READ_AHEAD"]

# Unread bytes kept before the socket is no longer read (a consumer slower than the server).
READ_AHEAD = 256 << 10


class Connection(asyncio.Protocol):
    __slots__ = ("transport", "buf", "eof", "error", "idle_since", "listener", "_loop", "_waiter", "_paused")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.buf = bytearray()
        self.eof = False  # the server closed (or the connection broke: then `error` says how)
        self.error: Optional[BaseException] = None
        self.idle_since = 0.0  # time.monotonic() when it went back to the pool
        # Called (instead of waking a reader) when bytes arrive or the connection ends.
        self.listener: Optional[Callable[[], None]] = None
        self._loop = loop
        self._waiter: Optional[asyncio.Future[None]] = None
        self._paused = False

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._wake()  # a listener takes what it can now; a reader takes it when it runs
        # Checked after: a listener that took everything must not leave the socket paused.
        if len(self.buf) >= READ_AHEAD and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.eof = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        listener = self.listener
        if listener is not None:
            listener()
            return
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    # -- for the exchange ----------------------------------------------------------------------

    def resume(self) -> None:
        """Read the socket again if a full buffer had stopped it."""
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    async def fill(self) -> None:
        """Wait until more bytes came, or the connection ended (`eof`)."""
        self.resume()
        if self.eof:
            return
        w = self._waiter = self._loop.create_future()
        try:
            await w
        finally:
            self._waiter = None

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    @property
    def reusable(self) -> bool:
        """Idle, open and with nothing unread: a server that answered more than asked, or sent
        anything on an idle connection, is not one to send to."""
        t = self.transport
        return not self.eof and not self.buf and t is not None and not t.is_closing()

    def park(self) -> None:
        self.idle_since = time.monotonic()

    def close(self) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.close()
