"""A second truth, taken *during* a client's run: a few blocking sockets, each sending one request
at a time at a low rate, whose first content byte is timed by the kernel (SO_TIMESTAMPNS: when
the bytes reached the socket, not when this process got to read them). Under load the server is
later than when idle; these probes see that lateness and nothing of the measured client's, so
"the client's TTFT p99 minus the probes' p99" is the client's own share.

Run as a process of its own (it must not share a GIL with an in-process client):
    python -m benches.kernel_stamped_probe URL SECONDS [PARALLEL] [PERIOD_S]
prints {"ttft_ms": [...]} as JSON.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
from typing import List, Optional

from . import careful_client

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; CLOCK_REALTIME stamps
BODY = json.dumps(careful_client.BODY).encode()


def _request(host: str) -> bytes:
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


def _kernel_stamp(ancillary: list) -> Optional[int]:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanos = struct.unpack("qq", data[:16])
            return int(seconds * 1_000_000_000 + nanos)
    return None


def one_stream(sock: socket.socket, request: bytes) -> Optional[float]:
    """Sends one streamed request; the TTFT in ms, from the kernel's stamp of the first read that
    held a `data: {` event (the simulator's first event carries the first content)."""
    sent = time.time_ns()
    sock.sendall(request)
    seen = b""
    first: Optional[int] = None
    while True:
        data, ancillary, _, _ = sock.recvmsg(65536, 256)
        if not data:
            raise ConnectionError("the server closed the connection")
        seen = (seen + data)[-16:] if first is not None else seen + data
        if first is None and b"data: {" in seen:
            first = _kernel_stamp(ancillary) or time.time_ns()
        if seen.endswith(b"0\r\n\r\n"):  # the chunked body's last chunk
            return None if first is None else (first - sent) / 1e6


def probe(url: str, seconds: float, parallel: int = 4, period_s: float = 0.3) -> List[float]:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = _request(f"{host}:{port}")
    ttfts: List[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        with socket.create_connection((host, port), timeout=30) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            one_stream(sock, request)  # warm-up
            due = time.monotonic()
            while due < stop_at:
                time.sleep(max(0.0, due - time.monotonic()))
                ttft = one_stream(sock, request)
                if ttft is not None:
                    with lock:
                        ttfts.append(ttft)
                due += period_s

    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ttfts


if __name__ == "__main__":
    args = sys.argv[1:]
    found = probe(
        args[0],
        float(args[1]),
        int(args[2]) if len(args) > 2 else 4,
        float(args[3]) if len(args) > 3 else 0.3,
    )
    print(json.dumps({"ttft_ms": found}))
