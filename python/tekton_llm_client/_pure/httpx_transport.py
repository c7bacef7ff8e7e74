"""The httpx transport of the pure path, for what our own HTTP/1.1 (`h1/`) leaves to it: https://,
proxies, URLs with credentials. For each event loop, a few httpx clients of at most SHARD_REQUESTS
requests in flight each."""

from __future__ import annotations

import asyncio
import functools
import ssl
import weakref
from typing import Callable, Iterable, List, Optional, Set, TypeVar

import httpx

from .aio import in_loop, within
from .answer import POOL_IDLE_TIMEOUT
from .errors import Failure, transport_failure

__all__ = ["HttpxAnswer", "HttpxTransport", "SHARD_REQUESTS"]

T = TypeVar("T")

# Requests in flight on one httpx client before another is opened. httpcore's pool scans every
# connection it holds on each request and each response end, so one client holding a thousand
# streams spends quadratic time there (100 s for 1,000 streams of 1 s); clients of at most 32
# requests keep the scan short, and 1,000 paced streams keep their pace (docs/performance.md §1).
SHARD_REQUESTS = 32


class Shard:
    """One httpx client and how many requests it has in flight."""

    __slots__ = ("client", "in_flight")

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.in_flight = 0


class HttpxAnswer:
    """An `Answer` (answer.py) on an httpx response; its shard's slot is given back on close."""

    __slots__ = ("status", "url", "_resp", "_reads", "_shard", "_rid", "_resumed")

    def __init__(self, resp: httpx.Response, shard: Shard, request_id: str) -> None:
        self.status = resp.status_code
        self.url = str(resp.url)
        self._resp = resp
        self._reads = resp.aiter_raw()
        self._shard: Optional[Shard] = shard
        self._rid = request_id
        self._resumed: Optional[asyncio.Future[None]] = None  # set while paused

    def header(self, name: str) -> Optional[str]:
        value: Optional[str] = self._resp.headers.get(name)
        return value

    async def read(self) -> bytes:
        try:
            return await self._reads.__anext__()
        except StopAsyncIteration:
            return b""
        except httpx.HTTPError as e:
            raise transport_failure(e, self._rid, True) from None

    async def pump(self, on_data: Callable[[bytes], bool], idle: float) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            if self._resumed is not None:
                await self._resumed
                last = loop.time()
            data = await within(max(last + idle - loop.time(), 0.0), self.read())
            if not data:
                return
            if on_data(data):
                last = loop.time()

    def pause_reading(self) -> None:
        if self._resumed is None:
            self._resumed = asyncio.get_running_loop().create_future()

    def resume_reading(self) -> None:
        resumed, self._resumed = self._resumed, None
        if resumed is not None and not resumed.done():
            resumed.set_result(None)

    async def aclose(self) -> None:
        try:
            await self._reads.aclose()  # type: ignore[attr-defined]  # an async generator, typed AsyncIterator
            await self._resp.aclose()
        finally:
            shard, self._shard = self._shard, None
            if shard is not None:
                shard.in_flight -= 1


class HttpxTransport:
    """httpx's connections belong to the loop that opened them, and one `HttpClient` may be used
    from several loops (threads each running their own): one list of shards per loop."""

    def __init__(self, headers: httpx.Headers, tls: ssl.SSLContext, connect_timeout: float, max_idle: int) -> None:
        self._headers = headers
        self._tls = tls
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle
        self._loops: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, List[Shard]]" = weakref.WeakKeyDictionary()

    async def send_once(self, method: str, url: str, body: Optional[bytes], request_id: str) -> HttpxAnswer:
        shard = self._shard()
        shard.in_flight += 1
        try:
            client = shard.client
            req = client.build_request(method, url, content=body, headers={"x-request-id": request_id})
            resp = await client.send(req, stream=True)
        except BaseException as e:
            shard.in_flight -= 1
            if isinstance(e, httpx.HTTPError):
                raise transport_failure(e, request_id, False) from None
            if isinstance(e, httpx.InvalidURL):
                raise Failure("connection", f"HTTP request to Rhetor failed: {e}", request_id) from None
            raise
        return HttpxAnswer(resp, shard, request_id)

    async def preconnect(self, count: int) -> int:
        """httpx opens its connections as requests need them (as reqwest does on the Rust path)."""
        return 0

    def _shard(self) -> Shard:
        """The least busy of this loop's clients; a new one when each has SHARD_REQUESTS in flight.
        A lone caller always gets the first, so sequential calls share connections."""
        shards = self._loops.setdefault(asyncio.get_running_loop(), [])
        best = min(shards, key=lambda s: s.in_flight, default=None)
        if best is not None and best.in_flight < SHARD_REQUESTS:
            return best
        shard = Shard(self._new_client())
        shards.append(shard)
        return shard

    def _new_client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=self._connect_timeout),
            limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=self._max_idle, keepalive_expiry=POOL_IDLE_TIMEOUT
            ),
            verify=self._tls,
            follow_redirects=False,  # exchange.send decides which redirects are followed
            trust_env=True,  # HTTP(S)_PROXY / NO_PROXY
        )
        client.headers = self._headers
        # No Accept-Encoding: bodies are read raw, and the size limits count the bytes that arrive.
        if "accept-encoding" not in self._headers:
            del client.headers["accept-encoding"]
        return client

    def close(self) -> None:
        """Close every client, each in its loop's thread, in the background. Callable from any
        thread."""
        loops = _snapshot(self._loops.items())
        self._loops.clear()
        for loop, shards in loops:
            for shard in shards:
                in_loop(loop, functools.partial(_close_in_background, shard.client))


def _snapshot(items: Iterable[T]) -> List[T]:
    """A list of `items`, a view that other threads may change while we copy it."""
    while True:
        try:
            return list(items)
        except RuntimeError:  # changed size meanwhile: copy again
            continue


_closing: Set["asyncio.Task[None]"] = set()  # strong references until the closes finish


def _close_in_background(client: httpx.AsyncClient) -> None:
    task = asyncio.get_running_loop().create_task(client.aclose())
    _closing.add(task)
    task.add_done_callback(_closed)


def _closed(task: "asyncio.Task[None]") -> None:
    _closing.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failing close is not worth a warning
