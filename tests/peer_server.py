"""A small HTTP/1.1 peer on 127.0.0.1 whose answers the test decides, for behaviour the
simulator does not have (redirects, bodies that echo request headers).

It runs on its own thread and event loop (so it serves the Rust backend and the pure-Python one
alike). `answer(request)` returns the whole response as bytes (`response()` builds one); every
request is recorded. Optionally TLS (`ssl=` a server context).

    with PeerServer(lambda req: response(307, headers={"Location": other.url + req.path})) as peer:
        ...
"""

from __future__ import annotations

import asyncio
import json
import ssl as _ssl
import threading
from typing import Any, Callable, List, Mapping, Optional

from .rhetor_replay import Request, _read_request

__all__ = ["PeerServer", "response", "sse"]

_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    401: "Unauthorized",
    500: "Internal Server Error",
}


def response(
    status: int, body: Any = b"", headers: Optional[Mapping[str, str]] = None, content_type: str = "application/json"
) -> bytes:
    """A complete HTTP/1.1 response; a dict or list body is sent as JSON."""
    raw = (
        json.dumps(body).encode()
        if isinstance(body, (dict, list))
        else (body.encode() if isinstance(body, str) else bytes(body))
    )
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
        f"content-type: {content_type}",
        f"content-length: {len(raw)}",
    ]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + raw


def sse(*events: Any) -> bytes:
    """A 200 text/event-stream response carrying `events` (dicts as JSON, strings as they are)."""
    body = "".join(f"data: {json.dumps(e) if not isinstance(e, str) else e}\n\n" for e in events)
    return response(200, body, content_type="text/event-stream")


class PeerServer:
    """Answers each request with `answer(request)`; use as a context manager."""

    def __init__(self, answer: Callable[[Request], bytes], ssl: Optional[_ssl.SSLContext] = None) -> None:
        self.answer = answer
        self.requests: List[Request] = []
        self._ssl = ssl
        self._loop = asyncio.new_event_loop()
        self._server: Optional[asyncio.base_events.Server] = None
        self._writers: List[asyncio.StreamWriter] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="peer-server", daemon=True)
        self.port = 0

    def __enter__(self) -> "PeerServer":
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._ssl)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            while True:
                req = await _read_request(reader)
                if req is None:
                    break
                self.requests.append(req)
                writer.write(self.answer(req))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, _ssl.SSLError):
            pass
        finally:
            writer.close()
