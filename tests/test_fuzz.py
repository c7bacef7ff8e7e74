"""Property tests (hypothesis) of the Python entry points: `_core.decode_sse`, and the whole
client (both backends) fed hostile HTTP answers by a raw TCP server on loopback.

Properties: no crash and no exception other than a TektonLLMError; limits hold; a valid stream
split anywhere decodes like the unsplit one; nothing hangs (every exchange has a hang guard).
Seeds: the Rust property tests' corpus (crates/tekton-core/tests/corpus).
Quick by default (100 examples per test); a long run: `HYPOTHESIS_PROFILE=long pytest
tests/test_fuzz.py` (20,000 examples per test; `medium`: 2,000)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path
from typing import Iterator, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tekton_llm_client import LimitExceededError, TektonLLMClient, TektonLLMError
from tekton_llm_client._backend import require_native

from .blocking_http import read_request

_core = require_native()

settings.register_profile("long", max_examples=20_000, deadline=None)
settings.register_profile("medium", max_examples=2_000, deadline=None)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])

CORPUS = Path(__file__).resolve().parent.parent / "crates" / "tekton-core" / "tests" / "corpus"


def _corpus(kind: str) -> List[bytes]:
    return [p.read_bytes() for p in sorted((CORPUS / kind).iterdir())]


SSE_SEEDS = _corpus("sse")
JSON_SEEDS = _corpus("json")


@st.composite
def mutated(draw: st.DrawFn, seeds: List[bytes]) -> bytes:
    """A seed with a few bytes flipped, inserted or removed."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.integers(0, 2))
        byte = draw(st.integers(0, 255))
        if op == 0 and at < len(data):
            data[at] = byte
        elif op == 1 or at >= len(data):
            data.insert(at, byte)
        else:
            del data[at]
    return bytes(data)


sse_bytes = st.one_of(
    mutated(SSE_SEEDS),
    st.binary(max_size=400),
    st.lists(
        st.sampled_from(
            [
                b"data: ",
                b"\r",
                b"\n",
                b":",
                b"event: x",
                b"id: 1",
                b"{}",
                b"\xe2\x82",
                b"\xac",
                b"\xff",
                b"\xef\xbb\xbf",
            ]
        ),
        max_size=60,
    ).map(b"".join),
)


def split(data: bytes, cuts: List[int]) -> List[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)] or [b""]


# -- the decoder -------------------------------------------------------------------------------


@given(sse_bytes, st.lists(st.integers(0, 10_000), max_size=20))
def test_decode_sse_split_anywhere_is_the_same(data: bytes, cuts: List[int]) -> None:
    assert _core.decode_sse(split(data, cuts)) == _core.decode_sse([data])


@given(sse_bytes, st.integers(1, 64))
def test_decode_sse_limit_holds(data: bytes, limit: int) -> None:
    try:
        events = _core.decode_sse([data], limit)
    except LimitExceededError:
        return
    assert all(len(d.encode()) <= limit for _, d, _ in events)


@given(st.text(max_size=40), st.integers(0, 1000))
def test_multibyte_character_split_across_reads(text: str, cut: int) -> None:
    data = f"data: {text}\n\n".encode()
    events = _core.decode_sse(split(data, [cut]))
    expected = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[0]
    assert events == [("message", expected, None)]


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8), st.lists(st.integers(0, 10_000), max_size=20))
def test_pure_chunked_body_split_anywhere_is_the_same(parts: List[bytes], cuts: List[int]) -> None:
    # The pure path's own HTTP/1.1 reads a chunked body whole however the reads split it, and
    # leaves what follows the body (the next answer on the connection) unread.
    from tekton_llm_client._pure.h1.chunked import ChunkedDecoder

    body = b"".join(parts)
    wire = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nx-trailer: 1\r\n\r\nNEXT"
    decoder, buf, out = ChunkedDecoder(), bytearray(), []
    for piece in split(wire, cuts):
        buf += piece
        out.append(decoder.decode(buf))
    assert decoder.done and b"".join(out) == body and bytes(buf) == b"NEXT"


def test_huge_line_is_refused() -> None:
    line = b"data: " + b"x" * (4 << 20)
    reads = [line[i : i + 65536] for i in range(0, len(line), 65536)]
    with pytest.raises(LimitExceededError):
        _core.decode_sse(reads, 1 << 20)


# -- the whole client against a hostile server ---------------------------------------------------


class HostileServer:
    """A TCP server on loopback that answers every HTTP request with `payload`, then closes."""

    def __init__(self) -> None:
        self.payload = b""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self._answer(conn)
                except OSError:
                    pass

    def _answer(self, conn: socket.socket) -> None:
        if read_request(conn) is None:
            return
        conn.sendall(self.payload)
        conn.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    s = HostileServer()
    yield s
    s.close()


def http_answer(status: int, body: bytes, content_type: str, length: Optional[int]) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", "Connection: close"]
    if length is not None:
        head.append(f"Content-Length: {length}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


answers = st.one_of(
    st.builds(
        lambda s, b, n: http_answer(s, b, "application/json", len(b) + n),
        st.sampled_from([200, 200, 200, 400, 401, 422, 429, 500, 503, 418]),
        st.one_of(mutated(JSON_SEEDS), st.binary(max_size=200)),
        st.sampled_from([0, 0, 0, 5, -1]),
    ),
    st.builds(lambda b: http_answer(200, b, "text/event-stream", None), sse_bytes),
    st.binary(max_size=300),
)

FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)


async def exchange(url: str, backend: str, streaming: bool) -> None:
    client = TektonLLMClient(
        "fuzz",
        rhetor_url=url,
        backend=backend,
        max_retries=0,
        timeout=3,
        stream_idle_timeout=3,
        dialect="v1",
        use_fallback=False,
    )
    try:
        if streaming:
            async for chunk in client.generate_text("x", streaming=True):
                assert isinstance(chunk.chunk, str)
        else:
            r = await client.generate_text("x")
            assert isinstance(r.content, str)
    except TektonLLMError:
        pass  # any typed error is a documented outcome
    finally:
        await client.shutdown()


@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
@FUZZ
@given(payload=answers)
def test_client_survives_hostile_answers(hostile: HostileServer, backend: str, streaming: bool, payload: bytes) -> None:
    hostile.payload = payload
    # The hang guard: a call that outlives every timeout it has is a failure.
    asyncio.run(asyncio.wait_for(exchange(hostile.url, backend, streaming), 30))
