"""HTTP/1.1 framing as servers really write it, on both backends: chunked bodies split at every
byte with trailers, bodies sized by Content-Length, bodies that end when the server closes, a
`100 Continue` first, keep-alive reuse across calls and streams, a server that closes an idle
connection. And on the Rust path (our own HTTP/1.1 reader), a chunk's `received_ns` is when the
bytes reached the socket, even when the loop was busy long after.

The server is a blocking socket on a thread that writes what each test scripts, byte by byte if
asked: what it sends is exactly what the client must read."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Callable, Iterator, List

import pytest
from tekton_llm_client import TektonLLMClient
from tekton_llm_client.exceptions import TektonLLMError

from .blocking_http import read_request

EVENTS = [{"chunk": "Hel"}, {"chunk": "lo"}, {"chunk": "", "done": True, "model": "m", "provider": "p"}]
SSE = "".join(f"data: {json.dumps(e)}\n\n" for e in EVENTS).encode()
COMPLETION = json.dumps({"content": "Hello", "model": "m", "provider": "p"}).encode()

# One step of an answer: bytes to write, then seconds to wait.
Script = List[tuple]


def chunked(body: bytes, size: int, last: bool = True) -> bytes:
    """`body` in chunks of `size` bytes, with a chunk extension; if `last`, the body's end and a
    trailer after them."""
    out = b""
    for i in range(0, len(body), size):
        part = body[i : i + size]
        out += f"{len(part):x};n=1\r\n".encode() + part + b"\r\n"
    return out + b"0\r\nx-trailer: 1\r\n\r\n" if last else out


def head(status: str, *lines: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *lines]) + "\r\n\r\n").encode()


class ScriptedServer:
    """Answers each request on a connection with `answer(n)` (n counts requests over all
    connections): a list of (bytes, pause) steps, then keeps the connection unless the last
    step's bytes are None (close)."""

    def __init__(self, answer: Callable[[int], Script], byte_by_byte: bool = False) -> None:
        self.answer = answer
        self.byte_by_byte = byte_by_byte
        self.requests = 0
        self.connections = 0
        self.closed_by_client = 0
        self.request_lines: List[str] = []
        # (monotonic ns before, after) each step's bytes were written, over all requests.
        self.sent_ns: List[tuple] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        with conn:
            while True:
                try:
                    request = read_request(conn, buf)
                except OSError:  # reset by a client that gave up on a broken answer
                    request = None
                if request is None:
                    self.closed_by_client += 1
                    return
                self.request_lines.append(request.line)
                buf = request.rest
                n = self.requests
                self.requests += 1
                for data, pause in self.answer(n):
                    if data is None:
                        return
                    pieces = [data[i : i + 1] for i in range(len(data))] if self.byte_by_byte else [data]
                    try:
                        before = time.monotonic_ns()
                        for piece in pieces:
                            conn.sendall(piece)
                        self.sent_ns.append((before, time.monotonic_ns()))
                    except OSError:
                        return
                    time.sleep(pause)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    servers: List[ScriptedServer] = []

    def start(answer: Callable[[int], Script], byte_by_byte: bool = False) -> ScriptedServer:
        servers.append(ScriptedServer(answer, byte_by_byte))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def client(url: str, backend: str) -> TektonLLMClient:
    return TektonLLMClient(
        "framing", rhetor_url=url, backend=backend, max_retries=0, timeout=5, use_fallback=False, dialect="v1"
    )


async def stream_text(c: TektonLLMClient) -> str:
    return "".join([chunk.chunk async for chunk in c.generate_text("x", streaming=True)])


async def two_streams(url: str, backend: str) -> List[str]:
    c = client(url, backend)
    try:
        return [await stream_text(c), await stream_text(c)]
    finally:
        await c.shutdown()


SSE_HEAD = "content-type: text/event-stream"
JSON_OK = head("200 OK", "content-type: application/json", f"content-length: {len(COMPLETION)}") + COMPLETION


@pytest.mark.parametrize(
    "answer",
    [
        head("200 OK", SSE_HEAD, "transfer-encoding: chunked") + chunked(SSE, 7),
        head("200 OK", SSE_HEAD, f"content-length: {len(SSE)}") + SSE,
        head("100 Continue") + head("200 OK", SSE_HEAD, f"content-length: {len(SSE)}") + SSE,
    ],
    ids=["chunked", "content-length", "100-continue"],
)
def test_streams_read_whole_however_the_bytes_are_split(serve, backend: str, answer: bytes) -> None:
    server = serve(lambda n: [(answer, 0)], byte_by_byte=True)
    # The second on the same connection: each body was read to its end.
    assert asyncio.run(two_streams(server.url, backend)) == ["Hello", "Hello"]
    assert server.connections == 1


def test_a_stream_larger_than_the_read_ahead_in_one_write_is_read_whole(serve, backend: str) -> None:
    # 1 MiB of events written at once: the client's socket reads fill its read-ahead (256 KiB on
    # the pure path) many times over; each time it must read on, never stall.
    events = [{"chunk": f"{i:06d}" + "x" * 200} for i in range(5_000)] + [EVENTS[-1]]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode()
    answer = head("200 OK", SSE_HEAD, "transfer-encoding: chunked") + chunked(body, 4096)
    server = serve(lambda n: [(answer, 0)])

    async def main() -> str:
        c = client(server.url, backend)
        try:
            return await stream_text(c)
        finally:
            await c.shutdown()

    text = asyncio.run(asyncio.wait_for(main(), 30))
    assert text == "".join(e["chunk"] for e in events)


def test_pure_reads_on_when_its_read_ahead_filled_before_the_body_was_taken(serve) -> None:
    # The pure path's own HTTP/1.1 stops reading a socket when 256 KiB are unread; a stream's body
    # that arrived while nobody took it (its task had not run yet) must be read on once the
    # stream starts taking it, not left paused until the idle timeout.
    from tekton_llm_client._pure.h1 import Http1
    from tekton_llm_client._pure.h1.connection import READ_AHEAD

    payload = bytes(range(256)) * (4 * READ_AHEAD // 256)
    answer = head("200 OK", SSE_HEAD, "transfer-encoding: chunked") + chunked(payload, 8192)
    server = serve(lambda n: [(answer, 0)])

    async def main() -> bytes:
        h1 = Http1.for_url(server.url, [], 5.0, 4)
        assert h1 is not None
        resp = await h1.send_once("POST", server.url + "/api/v1/chat/stream", b"{}", "rid")
        await asyncio.sleep(0.3)  # the body arrives meanwhile, more of it than the read-ahead
        got: List[bytes] = []
        try:
            await asyncio.wait_for(resp.pump(lambda data: got.append(data) is None, 5.0), 10)
        finally:
            await resp.aclose()
            h1.close()
        return b"".join(got)

    assert asyncio.run(main()) == payload


def test_a_consumer_that_falls_behind_gets_every_chunk(serve, backend: str) -> None:
    # 20,000 events written at once to a consumer that stops after its first chunk: the client
    # buffers a bounded number of chunks (4,096 on the pure path), stops reading the socket,
    # and reads on when the consumer takes them again.
    events = [{"chunk": f"{i:05d};"} for i in range(20_000)] + [EVENTS[-1]]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode()
    answer = head("200 OK", SSE_HEAD, "transfer-encoding: chunked") + chunked(body, 16384)
    server = serve(lambda n: [(answer, 0)])

    async def main() -> str:
        c = client(server.url, backend)
        parts: List[str] = []
        try:
            async for chunk in c.generate_text("x", streaming=True):
                parts.append(chunk.chunk)
                if len(parts) == 1:
                    await asyncio.sleep(0.5)  # meanwhile every event arrives
            return "".join(parts)
        finally:
            await c.shutdown()

    text = asyncio.run(asyncio.wait_for(main(), 30))
    assert text == "".join(e["chunk"] for e in events)


def test_a_body_that_ends_when_the_server_closes(serve, backend: str) -> None:
    server = serve(lambda n: [(head("200 OK", SSE_HEAD) + SSE, 0), (None, 0)])
    assert asyncio.run(two_streams(server.url, backend)) == ["Hello", "Hello"]
    assert server.connections == 2  # a close-delimited body cannot leave its connection open


def test_calls_and_streams_share_one_connection(serve, backend: str) -> None:
    def answer(n: int) -> Script:
        if n % 2:
            return [(head("200 OK", SSE_HEAD, "transfer-encoding: chunked") + chunked(SSE, 64), 0)]
        return [(JSON_OK, 0)]

    server = serve(answer)

    async def main() -> List[str]:
        c = client(server.url, backend)
        try:
            out = []
            for _ in range(3):
                out.append((await c.generate_text("x")).content)
                out.append(await stream_text(c))
            return out
        finally:
            await c.shutdown()

    assert asyncio.run(main()) == ["Hello"] * 6
    assert server.connections == 1


def test_an_idle_connection_the_server_closed_is_not_used(serve, backend: str) -> None:
    ok = JSON_OK
    # The server answers, then closes the connection a moment later (its keep-alive timeout).
    server = serve(lambda n: [(ok, 0.05), (None, 0)])

    async def main() -> List[str]:
        c = client(server.url, backend)  # max_retries=0: a stale connection would fail the call
        try:
            first = (await c.generate_text("x")).content
            await asyncio.sleep(0.3)
            return [first, (await c.generate_text("x")).content]
        finally:
            await c.shutdown()

    assert asyncio.run(main()) == ["Hello", "Hello"]
    assert server.connections == 2


def test_preconnect_opens_connections_the_next_requests_use(serve, backend: str) -> None:
    server = serve(lambda n: [(JSON_OK, 0)])

    async def main() -> tuple:
        c = client(server.url, backend)
        try:
            opened = await c._http.preconnect(4)
            again = await c._http.preconnect(4)  # four are idle already
            answers = await asyncio.gather(*(c.generate_text("x") for _ in range(4)))
            return opened, again, [a.content for a in answers]
        finally:
            await c.shutdown()

    assert asyncio.run(main()) == (4, 0, ["Hello"] * 4)
    assert server.connections == 4 and server.requests == 4


def test_preconnect_to_nothing_is_a_connection_error(backend: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: refused

        async def main() -> None:
            c = client(url, backend)
            try:
                await c._http.preconnect(3)
            finally:
                await c.shutdown()

        with pytest.raises(TektonLLMError) as caught:
            asyncio.run(main())
    assert type(caught.value).__name__ == "ConnectionError" and "cannot connect" in str(caught.value)


def test_a_proxy_named_in_the_environment_is_used(serve, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Our own HTTP/1.1 steps aside for reqwest when a proxy variable is set; both backends then
    # send through the proxy, in absolute form.
    def answer(n: int) -> Script:
        if n % 2:
            return [(head("200 OK", SSE_HEAD, "transfer-encoding: chunked") + chunked(SSE, 64), 0)]
        return [(JSON_OK, 0)]

    proxy = serve(answer)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    target = "http://127.0.0.1:9"  # nothing listens there: only the proxy can answer

    async def main() -> List[str]:
        c = client(target, backend)
        try:
            return [(await c.generate_text("x")).content, await stream_text(c)]
        finally:
            await c.shutdown()

    assert asyncio.run(main()) == ["Hello", "Hello"]
    assert proxy.request_lines == [
        f"POST {target}/api/v1/chat HTTP/1.1",
        f"POST {target}/api/v1/chat/stream HTTP/1.1",
    ]


def test_shutdown_closes_idle_connections(serve, backend: str) -> None:
    server = serve(lambda n: [(JSON_OK, 0)])

    async def main() -> None:
        c = client(server.url, backend)
        assert (await c.generate_text("x")).content == "Hello"
        assert server.closed_by_client == 0  # kept for the next call
        await c.shutdown()
        deadline = time.monotonic() + 5
        while server.closed_by_client == 0 and time.monotonic() < deadline:  # a hang guard
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert server.closed_by_client == 1


@pytest.mark.parametrize(
    "answer",
    [
        head("200 OK", SSE_HEAD, "transfer-encoding: chunked") + b"zz\r\n",
        head("200 OK", SSE_HEAD, "transfer-encoding: chunked") + b"5\r\nhello!!",
        head("200 OK", SSE_HEAD, "content-length: 1000") + SSE[:20],
    ],
    ids=["bad-size", "no-crlf-after-data", "shorter-than-its-length"],
)
def test_broken_framing_is_a_typed_error(serve, backend: str, answer: bytes) -> None:
    server = serve(lambda n: [(answer, 0), (None, 0)])

    async def main() -> None:
        c = client(server.url, backend)
        try:
            with pytest.raises(TektonLLMError) as caught:
                await stream_text(c)
            assert type(caught.value).__name__ in ("ConnectionError", "StreamInterruptedError", "ProtocolError")
        finally:
            await c.shutdown()

    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_head_that_never_ends_is_refused_at_its_limit(serve, backend: str) -> None:
    # 200 KiB of one header line and no end of head: refused at 64 KiB, not read without end.
    endless = b"HTTP/1.1 200 OK\r\nx-filler: " + b"a" * (200 << 10)
    server = serve(lambda n: [(endless, 1.0), (None, 0)])

    async def main() -> None:
        c = client(server.url, backend)
        try:
            with pytest.raises(TektonLLMError) as caught:
                await c.generate_text("x")
            assert type(caught.value).__name__ == "ProtocolError"
            assert "head larger than 65536 bytes" in str(caught.value)
        finally:
            await c.shutdown()

    asyncio.run(asyncio.wait_for(main(), 10))


def test_received_ns_is_when_the_bytes_arrived_not_when_the_loop_got_to_them(serve) -> None:
    # The first event; then the loop is kept busy until the server has written the rest, and
    # 200 ms more: the second's `received_ns` is the kernel's receive time, when it was written.
    events = [f"data: {json.dumps(e)}\n\n".encode() for e in EVENTS]
    sse_head = head("200 OK", SSE_HEAD, "transfer-encoding: chunked")
    server = serve(
        lambda n: [(sse_head + chunked(events[0], 999, last=False), 0.05), (chunked(b"".join(events[1:]), 999), 0)]
    )

    async def main() -> tuple:
        c = client(server.url, "rust")
        try:
            seen = []
            async for chunk in c.generate_text("x", streaming=True):
                seen.append((chunk.received_ns, time.monotonic_ns()))
                if len(seen) == 1:
                    # Blocks the loop (not awaited on purpose) while the next event arrives.
                    deadline = time.monotonic() + 5
                    while len(server.sent_ns) < 2 and time.monotonic() < deadline:
                        time.sleep(0.005)
                    time.sleep(0.2)
            return tuple(seen)
        finally:
            await c.shutdown()

    first, second, done = asyncio.run(main())
    assert first[0] <= first[1] and second[0] == done[0]  # the last two came in one write
    written_from, written_by = server.sent_ns[1]
    # Stamped when written (loopback delivers within the write; 50 ms slack for a busy machine),
    # though the loop only saw it at least 200 ms later.
    assert written_from <= second[0] < written_by + 50_000_000, (server.sent_ns, second)
    assert second[1] - written_by >= 200_000_000
