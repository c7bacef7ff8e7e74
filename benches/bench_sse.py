"""SSE decoding MB/s on a recorded Rhetor stream, fed in network-sized reads: the Rust decoder
(through `_core.decode_sse`), our pure-Python decoder, and httpx-sse's decoder."""

from __future__ import annotations

import json
from typing import Any, Callable, List

import pytest
from tekton_llm_client import _core

from .conftest import record


def _recorded_stream() -> bytes:
    """A realistic Rhetor stream: 20,000 content events (CRLF and LF mixed in), pings, done."""
    parts: List[bytes] = []
    for i in range(20_000):
        ev = {
            "chunk": f"token {i} ",
            "model": "claude-3-sonnet-20240229",
            "provider": "anthropic",
            "context_id": "bench",
            "timestamp": "2026-11-28T12:00:00Z",
            "done": False,
        }
        eol = b"\r\n" if i % 3 == 0 else b"\n"
        parts.append(b"data: " + json.dumps(ev).encode() + eol + eol)
        if i % 500 == 0:
            parts.append(b": ping\n")
    parts.append(b'data: {"chunk": "", "done": true}\n\ndata: [DONE]\n\n')
    return b"".join(parts)


STREAM = _recorded_stream()
READS = [STREAM[i : i + 4096] for i in range(0, len(STREAM), 4096)]


def rust_decode() -> int:
    return len(_core.decode_sse(READS))


def pure_decode() -> int:
    from tekton_llm_client._pure.sse import SseDecoder

    d = SseDecoder()
    out: list = []
    for r in READS:
        d.feed(r, out)
    d.finish(out)
    return len(out)


def httpx_sse_decode() -> int:
    # httpx-sse's own decoders, fed the way it feeds them (text lines from httpx)
    from httpx._decoders import LineDecoder
    from httpx_sse._decoders import SSEDecoder

    lines = LineDecoder()
    sse = SSEDecoder()
    n = 0
    for r in READS:
        for line in lines.decode(r.decode("utf-8")):
            if sse.decode(line) is not None:
                n += 1
    for line in lines.flush():
        if sse.decode(line) is not None:
            n += 1
    return n


DECODERS: dict[str, Callable[[], int]] = {"rust": rust_decode, "python": pure_decode, "httpx-sse": httpx_sse_decode}


@pytest.mark.parametrize("name", list(DECODERS))
def test_sse_decode(benchmark: Any, name: str) -> None:
    benchmark.group = f"SSE decoding, {len(STREAM) / 1e6:.1f} MB in 4 KiB reads"
    fn = DECODERS[name]
    events = fn()
    assert events >= 20_000  # every decoder sees every event
    benchmark.pedantic(fn, rounds=5, iterations=1)
    mbps = len(STREAM) / 1e6 / benchmark.stats.stats.median
    benchmark.extra_info["MB_per_s"] = mbps
    record(benchmark.group, name, MB_per_s=mbps)
