"""`Http1`: our own HTTP/1.1 for the pure path, as `tekton-core`'s `h1` is for the Rust one. It
is used for `http://` when no proxy is named in the environment; `https://`, proxies and URLs with
credentials go through httpx (`httpx_transport.py`). Both send the same headers; the exchange
above them follows the same redirects and maps the same failures."""

from __future__ import annotations

import asyncio
import os
from typing import Optional, Sequence, Tuple
from urllib.parse import urlsplit

from ..aio import within
from ..errors import Failure
from .answer import H1Answer, broken_failure
from .connection import Connection
from .head import HeadError, ResponseHead, parse_response_head, request_head
from .pool import Pool

__all__ = ["Http1", "PROXY_VARIABLES"]

# The proxy variables httpx and reqwest obey for http://: with any of them set, httpx does the work.
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")


class Http1:
    """Requests to one origin over pooled keep-alive connections."""

    def __init__(self, host: str, port: int, common_head: bytes, connect_timeout: float, max_idle: int) -> None:
        self._host = host
        self._port = port
        self._common = common_head
        self._connect_timeout = connect_timeout
        self._pool = Pool(max_idle)

    @classmethod
    def for_url(
        cls, base_url: str, headers: Sequence[Tuple[bytes, bytes]], connect_timeout: float, max_idle: int
    ) -> Optional["Http1"]:
        """Our own HTTP/1.1 for `base_url` sending `headers`, or None where httpx does the work."""
        if any(os.environ.get(v) for v in PROXY_VARIABLES):
            return None
        try:
            parts = urlsplit(base_url)
            port = parts.port or 80
        except ValueError:
            return None
        if parts.scheme != "http" or not parts.hostname or "@" in parts.netloc or not parts.netloc.isascii():
            return None
        lines = [b"%s: %s\r\n" % (name, value) for name, value in headers]
        if not any(name.lower() == b"host" for name, _ in headers):  # a Host of the caller's wins
            lines.insert(0, b"host: %s\r\n" % parts.netloc.encode("ascii"))
        return cls(parts.hostname, port, b"".join(lines), connect_timeout, max_idle)

    async def send_once(self, method: str, url: str, body: Optional[bytes], request_id: str) -> H1Answer:
        loop = asyncio.get_running_loop()
        parts = urlsplit(url)
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        # A body's length; a bodiless POST says 0 (some servers wait for a body otherwise).
        length = len(body) if body is not None else (0 if method in ("POST", "PUT") else None)
        request = request_head(method, target, self._common, request_id, length)
        if body:
            request += body
        conn = self._pool.take(loop) or await self._open(loop, request_id)
        try:
            conn.write(request)
            head = await _read_head(conn, request_id)
        except BaseException:
            conn.close()
            raise
        return H1Answer(conn, head, self._pool, loop, url, request_id)

    async def preconnect(self, count: int) -> int:
        """Opens connections at once until `count` are idle in this loop's pool (no more than it
        keeps), so a load that starts at full rate does not pay a connect per request at first.
        How many were opened; a Failure only when none could be."""
        loop = asyncio.get_running_loop()
        want = min(count, self._pool.max_idle) - self._pool.idle_count(loop)
        if want <= 0:
            return 0
        opened, failure = 0, None
        for result in await asyncio.gather(*(self._open(loop, None) for _ in range(want)), return_exceptions=True):
            if isinstance(result, Connection):
                self._pool.put(loop, result)
                opened += 1
            elif isinstance(result, Failure):
                failure = failure or result
            else:
                raise result  # cancelled, or a bug: not a connect that failed
        if failure is not None and not opened:
            raise failure
        return opened

    async def _open(self, loop: asyncio.AbstractEventLoop, request_id: Optional[str]) -> Connection:
        try:
            _, conn = await within(
                self._connect_timeout, loop.create_connection(lambda: Connection(loop), self._host, self._port)
            )
        except asyncio.TimeoutError:  # before OSError: on 3.11 it is one
            raise Failure("timeout", "cannot connect to Rhetor: timed out", request_id) from None
        except OSError as e:
            raise Failure("connection", f"cannot connect to Rhetor: {e}", request_id) from None
        return conn

    def close(self) -> None:
        self._pool.close()


async def _read_head(conn: Connection, request_id: str) -> ResponseHead:
    while True:
        try:
            head = parse_response_head(conn.buf)
        except HeadError as e:
            raise Failure("protocol", str(e), request_id) from None
        if head is None:
            if conn.eof:
                raise broken_failure(conn.error or "the server closed the connection", request_id)
            await conn.fill()
            continue
        del conn.buf[: head.size]
        # 1xx answers come before the real one (101 is not asked for, so not expected).
        if 100 <= head.status < 200 and head.status != 101:
            continue
        return head
