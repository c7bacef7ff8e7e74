"""The body of one answer on our own HTTP/1.1, read as its framing says; the connection goes back
to the pool when the body has been read to its end."""

from __future__ import annotations

import asyncio
from typing import Callable, Optional

from ..aio import in_loop
from ..errors import Failure
from .chunked import ChunkedDecoder, ChunkedError
from .connection import Connection
from .head import CHUNKED, CLOSE, LENGTH, ResponseHead
from .pool import Pool

__all__ = ["H1Answer", "broken_failure"]


class _Pump:
    """A body being handed to `on_data` from the connection's callback (`H1Answer.pump`)."""

    __slots__ = ("on_data", "done", "idle", "last", "timer", "paused")

    def __init__(self, on_data: Callable[[bytes], bool], done: "asyncio.Future[None]", idle: float, now: float) -> None:
        self.on_data = on_data
        self.done = done
        self.idle = idle
        self.last = now  # loop.time() of the last completed event (or the start, or a resume)
        self.timer: Optional[asyncio.TimerHandle] = None
        self.paused = False


def broken_failure(why: object, request_id: str) -> Failure:
    """A connection that broke while we waited for or read an answer."""
    return Failure("connection", f"the connection to Rhetor broke while reading the answer: {why}", request_id)


class H1Answer:
    __slots__ = ("status", "url", "_head", "_conn", "_pool", "_loop", "_rid", "_left", "_chunks", "_done", "_pump")

    def __init__(
        self,
        conn: Connection,
        head: ResponseHead,
        pool: Pool,
        loop: asyncio.AbstractEventLoop,
        url: str,
        request_id: str,
    ) -> None:
        self.status = head.status
        self.url = url
        self._head = head
        self._conn: Optional[Connection] = conn  # None once given back or closed
        self._pool = pool
        self._loop = loop
        self._rid = request_id
        self._left = head.length  # body bytes still to come (LENGTH framing)
        self._chunks = ChunkedDecoder() if head.framing == CHUNKED else None
        self._done = False
        self._pump: Optional[_Pump] = None
        if head.framing == LENGTH and not head.length:
            self._end()

    def header(self, name: str) -> Optional[str]:
        return self._head.header(name)

    async def read(self) -> bytes:
        while not self._done:
            conn = self._conn
            if conn is None:
                raise broken_failure("the answer was closed", self._rid)
            if conn.buf:
                data = self._take(conn.buf)
                if data or self._done:
                    if self._done:
                        self._end()
                    return data
            if conn.eof:
                self._closed_by_server(conn)
                self._end()
                return b""
            await conn.fill()
        return b""

    def pump(self, on_data: Callable[[bytes], bool], idle: float) -> "asyncio.Future[None]":
        """The body handed to `on_data` in the connection's own receive callback (the `Answer`
        interface, `_pure/answer.py`)."""
        loop = self._loop
        done: asyncio.Future[None] = loop.create_future()
        p = self._pump = _Pump(on_data, done, idle, loop.time())
        if self._conn is not None:
            self._conn.listener = self._arrived
        self._arrived()
        if not done.done():
            p.timer = loop.call_at(p.last + idle, self._check_idle)
        return done

    def pause_reading(self) -> None:
        if self._pump is not None:
            self._pump.paused = True  # unread bytes stay in the buffer; the socket stops at READ_AHEAD

    def resume_reading(self) -> None:
        """Callable from any thread (a stream dropped elsewhere is stopped through here)."""
        in_loop(self._loop, self._resume)

    def _resume(self) -> None:
        p = self._pump
        if p is not None and p.paused:
            p.paused = False
            p.last = self._loop.time()  # the idle clock stops while the consumer is behind
            if self._conn is not None:
                self._conn.resume()
            self._arrived()

    def _arrived(self) -> None:
        p = self._pump
        if p is None or p.paused:
            return
        try:
            conn = self._conn
            while conn is not None and conn.buf and not self._done:
                data = self._take(conn.buf)
                if not data and not self._done:
                    break  # an incomplete chunk line: the rest has not come
                if data and p.on_data(data):
                    p.last = self._loop.time()
                if p.paused or self._pump is not p:
                    return
            if conn is None and not self._done:
                raise broken_failure("the answer was closed", self._rid)
            if conn is not None and not self._done:
                if not conn.eof:
                    conn.resume()  # everything was taken: read on (a full buffer may have paused it)
                    return
                self._closed_by_server(conn)
            self._finish(None)
        except Exception as e:
            self._finish(e)

    def _check_idle(self) -> None:
        p = self._pump
        if p is None:
            return
        now = self._loop.time()
        due = now + p.idle if p.paused else p.last + p.idle
        if now >= due:
            self._finish(asyncio.TimeoutError())
        else:
            p.timer = self._loop.call_at(due, self._check_idle)

    def _finish(self, error: Optional[BaseException]) -> None:
        """The pump is over: the body's end (`error` None) or what ended it."""
        p, self._pump = self._pump, None
        if p is None:
            return
        if p.timer is not None:
            p.timer.cancel()
        if self._conn is not None:
            self._conn.listener = None
        if error is None and self._done:
            self._end()
        else:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
        if not p.done.done():
            if error is None:
                p.done.set_result(None)
            else:
                p.done.set_exception(error)

    async def aclose(self) -> None:
        p = self._pump
        if p is not None:  # the reader stopped waiting (cancelled): nobody takes the result
            p.done.cancel()
            self._finish(None)
        conn = self._conn
        if conn is None:
            return
        # A body put down when the rest of its framing has already arrived (a stream left at
        # its done event, the terminating chunk a moment behind) still gives its connection back.
        try:
            while not self._done and conn.buf:
                before = len(conn.buf)
                self._take(conn.buf)
                if len(conn.buf) == before:  # an incomplete line: the rest has not come
                    break
        except Failure:
            pass
        if self._done:
            self._end()
        else:
            self._conn = None
            conn.close()

    def _closed_by_server(self, conn: Connection) -> None:
        """The server ended the connection with everything before it taken: the body's end when it
        is delimited by the close (`_done` set), a broken answer otherwise."""
        if self._head.framing != CLOSE or conn.error is not None:
            raise broken_failure(conn.error or "the server closed the connection before the body's end", self._rid)
        self._done = True

    def _take(self, buf: bytearray) -> bytes:
        """The body bytes at the front of `buf`, consumed; sets `_done` at the body's end."""
        framing = self._head.framing
        if framing == CHUNKED:
            assert self._chunks is not None
            try:
                data = self._chunks.decode(buf)
            except ChunkedError as e:
                raise broken_failure(e, self._rid) from None
            self._done = self._chunks.done
            return data
        if framing == LENGTH:
            n = min(self._left, len(buf))
            self._left -= n
            self._done = not self._left
        else:
            n = len(buf)
        if n == len(buf):
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[:n])
            del buf[:n]
        return data

    def _end(self) -> None:
        self._done = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.listener = None
            if self._head.keep_alive:
                self._pool.put(self._loop, conn)
            else:
                conn.close()
