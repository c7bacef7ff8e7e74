"""A replay server for the recorded exchanges with real Rhetor servers (Gen A, Gen B).

An asyncio TCP server on 127.0.0.1, on its own thread and event loop (so it serves the Rust
backend and the pure-Python one alike, whatever the test's loop is doing). For each request it
picks the first route whose method, path and (optionally) body predicate match, and writes that
recording's `.response.bin` verbatim: status line, headers and body exactly as the real server
sent them (chunked framing included). An unmatched request gets the server's own recorded 404.
A route whose recording is a WebSocket exchange (`NAME.frames`) accepts the upgrade and answers
the client's n-th text frame with the frames the real server sent after the n-th recorded one.
Every request is recorded (method, path, headers, raw body, decoded JSON) so tests can check
what the client sent.

    with gen_a() as server:
        client = TektonLLMClient("c", rhetor_url=server.url)
        ...
        assert server.bodies("/message")[0]["options"] == {"model": "x"}

The recordings live in tests/fixtures/rhetor-transcripts/ (copied into the repository so a clean
clone needs nothing outside it).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rhetor-transcripts"

__all__ = [
    "FIXTURES",
    "Route",
    "Request",
    "RhetorReplay",
    "gen_a",
    "gen_b",
    "recorded_request",
    "recorded_ws_replies",
    "response_body",
    "with_body",
]


@dataclass(frozen=True)
class Route:
    """`method path` (and `when(json_body)`, if given) → the recording to answer with.

    `body` replaces the recording's body (Content-Length adjusted), for an answer the server's
    code gives that was not recorded. `hold` > 0 makes the answer take that long (the model's
    time); with `busy` set, a request arriving while another such one is held fails both with
    the `busy` recording — Gen B, which serves every request over one upstream socket that it
    closes when a request ends, so concurrent requests fail each other."""

    method: str
    path: str
    recording: str  # e.g. "genA-shim/04_post_message_nonstream"
    when: Optional[Callable[[Any], bool]] = None
    body: Optional[bytes] = None
    hold: float = 0.0
    busy: Optional[str] = None

    def matches(self, method: str, path: str, body: Any) -> bool:
        return self.method == method and self.path == path and (self.when is None or bool(self.when(body)))


@dataclass
class Request:
    """One request as the replay server received it."""

    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    json: Any = None
    answered_with: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)


def _read_bin(recording: str, suffix: str) -> bytes:
    return (FIXTURES / f"{recording}.{suffix}.bin").read_bytes()


def recorded_ws_replies(recording: str) -> List[List[str]]:
    """For each frame the recorder sent, the text frames the server sent back before the next."""
    replies: List[List[str]] = []
    for line in (FIXTURES / f"{recording}.jsonl").read_text(encoding="utf-8").splitlines():
        frame = json.loads(line)
        if frame["dir"] == "SEND":
            replies.append([])
        elif frame["dir"] == "RECV" and replies:
            replies[-1].append(frame["text"])
    return replies


def recorded_request(recording: str) -> Tuple[str, str, Any]:
    """(method, path, decoded JSON body or None) of the request a real server was sent."""
    raw = _read_bin(recording, "request")
    head, _, body = raw.partition(b"\r\n\r\n")
    method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        decoded = None
    return method, path, decoded


def with_body(raw: bytes, body: bytes) -> bytes:
    """A recorded (Content-Length framed) response with its body replaced."""
    head = raw.partition(b"\r\n\r\n")[0].split(b"\r\n")
    head = [h if not h.lower().startswith(b"content-length:") else b"content-length: %d" % len(body) for h in head]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def response_body(recording: str) -> Any:
    """The decoded JSON body of a recorded response (Content-Length framed)."""
    raw = _read_bin(recording, "response")
    return json.loads(raw.partition(b"\r\n\r\n")[2])


class RhetorReplay:
    """Serves recorded responses; use as a context manager (starts and stops its thread)."""

    def __init__(self, routes: Sequence[Route], not_found: str) -> None:
        self.routes = list(routes)
        self.not_found = not_found
        self.requests: List[Request] = []
        self._responses: Dict[str, bytes] = {}
        self._ws_replies: Dict[str, List[List[str]]] = {}
        for name in {r.recording for r in self.routes} | {r.busy for r in self.routes if r.busy} | {not_found}:
            if name.endswith(".frames"):
                self._ws_replies[name] = recorded_ws_replies(name)
            else:
                self._responses[name] = _read_bin(name, "response")
        self.ws_frames: List[str] = []  # text frames received over WebSocket
        self._held: List[Request] = []  # requests of `busy` routes being answered now
        self.most_held = 0  # the most such requests at once
        self._loop = asyncio.new_event_loop()
        self._server: Optional[asyncio.base_events.Server] = None
        self._writers: List[asyncio.StreamWriter] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="rhetor-replay", daemon=True)
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> "RhetorReplay":
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = fut.result(timeout=10)
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what the client sent ----------------------------------------------------------------

    def to(self, path: str, method: Optional[str] = None) -> List[Request]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def bodies(self, path: str) -> List[Any]:
        """The decoded JSON bodies sent to `path`, in order."""
        return [r.json for r in self.to(path)]

    def paths(self) -> List[Tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    # -- serving ---------------------------------------------------------------------------

    def _pick(self, method: str, path: str, body: Any) -> Optional[Route]:
        for r in self.routes:
            if r.matches(method, path, body):
                return r
        return None

    async def _answer(self, req: Request, route: Optional[Route]) -> bytes:
        if route is None:
            return self._responses[self.not_found]
        if route.hold > 0:
            if route.busy is not None:
                for other in self._held:
                    other.extra["clobbered"] = True
                if self._held:
                    req.answered_with = route.busy
                    return self._responses[route.busy]
                self._held.append(req)
                self.most_held = max(self.most_held, len(self._held))
            try:
                await asyncio.sleep(route.hold)
            finally:
                if req in self._held:
                    self._held.remove(req)
            if req.extra.get("clobbered") and route.busy is not None:
                req.answered_with = route.busy
                return self._responses[route.busy]
        raw = self._responses[route.recording]
        return raw if route.body is None else with_body(raw, route.body)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            while True:
                req = await _read_request(reader)
                if req is None:
                    break
                route = self._pick(req.method, req.path, req.json)
                req.answered_with = route.recording if route is not None else self.not_found
                self.requests.append(req)
                if req.answered_with in self._ws_replies:
                    await self._serve_ws(req, reader, writer, self._ws_replies[req.answered_with])
                    break
                writer.write(await self._answer(req, route))
                await writer.drain()
                if req.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _serve_ws(
        self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, replies: List[List[str]]
    ) -> None:
        """RFC 6455 server side, just enough for the recorded exchanges: the upgrade, then the
        recorded answers to each text frame; a close frame is answered and ends the session."""
        accept = base64.b64encode(
            hashlib.sha1((req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await writer.drain()
        n = 0
        while True:
            opcode, payload = await _read_ws_frame(reader)
            if opcode == 0x8:  # close: echo it and stop
                writer.write(_ws_frame(0x8, payload[:2]))
                await writer.drain()
                return
            if opcode == 0x9:  # ping → pong
                writer.write(_ws_frame(0xA, payload))
            elif opcode == 0x1:
                self.ws_frames.append(payload.decode("utf-8"))
                for text in replies[n] if n < len(replies) else []:
                    writer.write(_ws_frame(0x1, text.encode("utf-8")))
                n += 1
            await writer.drain()


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, unfragmented server frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


async def _read_ws_frame(reader: asyncio.StreamReader) -> Tuple[int, bytes]:
    """(opcode, unmasked payload) of one client frame (clients always mask; no fragmentation)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(n)
    return b0 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


async def _read_request(reader: asyncio.StreamReader) -> Optional[Request]:
    """One HTTP/1.1 request (Content-Length or chunked body), or None at end of connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        decoded = None
    return Request(method, target.split("?", 1)[0], headers, body, decoded)


# -- the two servers, as recorded ------------------------------------------------------------


def _streaming(flag: bool) -> Callable[[Any], bool]:
    return lambda body: isinstance(body, Mapping) and bool(body.get("streaming")) is flag


def gen_a(*overrides: Route) -> RhetorReplay:
    """Gen A (spring 2025) with a working completion path (`genA-shim`): health, providers,
    `/message` and `/chat`. `overrides` come first (e.g. a 500 or an HTTP-200 error answer)."""
    return RhetorReplay(
        [
            *overrides,
            Route("GET", "/health", "genA-shim/02_get_health"),
            Route("GET", "/providers", "genA-shim/03_get_providers"),
            Route("POST", "/message", "genA-shim/04_post_message_nonstream", _streaming(False)),
            Route("POST", "/chat", "genA-shim/06_post_chat_nonstream", _streaming(False)),
            # what that server did with streaming=true: 200, SSE headers, zero body bytes
            Route("POST", "/chat", "genA-shim/09_post_chat_streaming_true", _streaming(True)),
            # its /ws answers REGISTER with its own envelope, never REGISTER_ACK
            Route("GET", "/ws", "genA-shim/20_ws_register.frames"),
        ],
        not_found="genA-shim/17_unknown_path",
    )


def gen_b(*overrides: Route) -> RhetorReplay:
    """Gen B (autumn 2025) with a model backend (`genB-stubci`): health, model catalogue,
    `/api/v1/chat`, `/api/v1/generate`, and its stream endpoint's one error event."""
    return RhetorReplay(
        [
            *overrides,
            # a context_id makes the real server fail (recording 16): replay that, so a client
            # that sends one sees what it would see
            Route(
                "POST",
                "/api/v1/chat",
                "genB-stubci/16_chat_unknown_context",
                lambda b: isinstance(b, Mapping) and ("context_id" in b or "contextId" in b),
            ),
            Route("GET", "/health", "genB-stubci/02_get_health"),
            Route("GET", "/api/models/", "genB-stubci/21_get_api_models"),
            Route("POST", "/api/v1/chat", "genB-stubci/05_post_chat"),
            Route(
                "POST",
                "/api/v1/generate",
                "genB-stubci/07_post_generate",
                lambda b: isinstance(b, Mapping) and "system_prompt" not in b,
            ),
            Route("POST", "/api/v1/generate", "genB-stubci/07b_post_generate_with_system"),
            Route("POST", "/api/v1/chat/stream", "genB-stubci/08_post_chat_stream"),
            # its /ws answers any frame without `messages` (REGISTER too) with {"type": "error"}
            Route("GET", "/ws", "genB/31_ws_no_messages.frames"),
        ],
        not_found="genB-stubci/19_legacy_message_404",
    )
