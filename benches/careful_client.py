"""The truth of the accuracy bench: one careful client, one request at a time at 1 request/s,
on a blocking socket in its own thread (no event loop, nothing else to do), timestamps taken
with `time.monotonic_ns()` as soon as each read returns. It speaks the simulator's OpenAI face.
Every figure it gives is of the server plus the unavoidable minimum of a client."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from typing import Dict, List

# The one request every client of the accuracy bench sends (the reference, the probes, the truth).
BODY = {
    "model": "sim-model-1",
    "messages": [{"role": "user", "content": "benchmark prompt"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


def one_request(conn: http.client.HTTPConnection) -> tuple[int, List[int]]:
    """Sends one stream; returns its send time and the arrival time of each content delta."""
    payload = json.dumps(BODY).encode()
    sent = time.monotonic_ns()
    conn.request("POST", "/v1/chat/completions", body=payload, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.read()[:200]!r}")
    arrivals: List[int] = []
    buffer = b""
    while True:
        data = response.read1(65536)
        at = time.monotonic_ns()
        if not data:
            break
        buffer += data
        *events, buffer = buffer.split(b"\n\n")
        for event in events:
            line = event.strip()
            if not line.startswith(b"data:"):
                continue
            text = line[5:].strip()
            if text == b"[DONE]":
                continue
            choices = json.loads(text).get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                arrivals.append(at)
    return sent, arrivals


def measure(url: str, count: int, period_s: float = 1.0) -> Dict[str, List[float]]:
    """`count` requests, one every `period_s`; TTFTs and every inter-token gap, in ms."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    ttft: List[float] = []
    itl: List[float] = []
    try:
        one_request(conn)  # warm-up: the connection is open from now on
        due = time.monotonic() + period_s
        for _ in range(count):
            time.sleep(max(0.0, due - time.monotonic()))
            due += period_s
            sent, arrivals = one_request(conn)
            ttft.append((arrivals[0] - sent) / 1e6)
            itl.extend((b - a) / 1e6 for a, b in zip(arrivals, arrivals[1:], strict=False))
    finally:
        conn.close()
    return {"ttft": ttft, "itl": itl}
