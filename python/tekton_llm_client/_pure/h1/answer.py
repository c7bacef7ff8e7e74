"""The body of one answer on our own HTTP/1.1, read as its framing says; the connection goes back
to the pool when the body has been read to its end."""

from __future__ import annotations

import asyncio
from typing import Optional

from ..errors import Failure
from .chunked import ChunkedDecoder, ChunkedError
from .connection import Connection
from .head import CHUNKED, CLOSE, LENGTH, ResponseHead
from .pool import Pool

__all__ = ["H1Answer", "broken_failure"]


def broken_failure(why: object, request_id: str) -> Failure:
    """A connection that broke while we waited for or read an answer."""
    return Failure("connection", f"the connection to Rhetor broke while reading the answer: {why}", request_id)


class H1Answer:
    __slots__ = ("status", "url", "_head", "_conn", "_pool", "_loop", "_rid", "_left", "_chunks", "_done")

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
                if self._head.framing == CLOSE and conn.error is None:
                    self._end()
                    return b""
                raise broken_failure(conn.error or "the server closed the connection before the body's end", self._rid)
            await conn.fill()
        return b""

    async def aclose(self) -> None:
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
            if self._head.keep_alive:
                self._pool.put(self._loop, conn)
            else:
                conn.close()
