"""The idle connections of our own HTTP/1.1, per event loop (a connection belongs to the loop that
opened it, and one client may be used from several)."""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import List, Optional

from ..aio import in_loop
from ..answer import POOL_IDLE_TIMEOUT
from .connection import Connection

__all__ = ["Pool"]


class Pool:
    def __init__(self, max_idle: int) -> None:
        self.max_idle = max_idle
        self._idle: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, List[Connection]]" = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False

    def take(self, loop: asyncio.AbstractEventLoop) -> Optional[Connection]:
        """The most recently used idle connection of `loop` that is still good, if any."""
        idle = self._idle.get(loop)
        if not idle:
            return None
        expired = time.monotonic() - POOL_IDLE_TIMEOUT
        while idle:
            conn = idle.pop()
            if conn.reusable and conn.idle_since > expired:
                return conn
            conn.close()
        return None

    def put(self, loop: asyncio.AbstractEventLoop, conn: Connection) -> None:
        """Keep `conn` for the next exchange of `loop`, or close it when the pool is full or shut."""
        if self._closed or not conn.reusable:
            conn.close()
            return
        idle = self._idle.setdefault(loop, [])
        if len(idle) >= self.max_idle:
            conn.close()
            return
        conn.park()
        idle.append(conn)

    def idle_count(self, loop: asyncio.AbstractEventLoop) -> int:
        return len(self._idle.get(loop, ()))

    def close(self) -> None:
        """Close every idle connection, each in its loop's thread. Callable from any thread."""
        self._closed = True
        while True:
            try:
                loops = list(self._idle.items())
                break
            except RuntimeError:  # changed size meanwhile (another thread): copy again
                continue
        self._idle.clear()
        for loop, conns in loops:
            for conn in conns:
                in_loop(loop, conn.close)
