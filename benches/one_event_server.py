"""A Rhetor v1 server written the way a Python ASGI server behaves on the wire: every SSE event
goes out in its own `write` (one HTTP chunk of `Transfer-Encoding: chunked`), the loop runs
between events, and calls are answered with one JSON body. The realistic benches run it in a
process of its own (`python -m benches.one_event_server`), so the client sees one event per read,
as from uvicorn, and only the client's CPU is measured.

It reads `options.sim` like the simulator for the knobs it needs: `chunks`, `chunk_size`,
`chunk_delay_ms`, `first_chunk_delay_ms`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, Dict, Tuple

HEALTH = json.dumps({"status": "healthy", "version": "bench-one-event", "providers": {"sim": True}}).encode()


def _knobs(body: bytes) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    doc = json.loads(body) if body else {}
    sim = ((doc.get("options") or {}).get("sim")) or {}
    return doc, sim


def _event(payload: Dict[str, Any]) -> bytes:
    data = b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _stream(writer: asyncio.StreamWriter, doc: Dict[str, Any], sim: Dict[str, Any]) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    chunks = int(sim.get("chunks", 20))
    size = int(sim.get("chunk_size", 8))
    delay = float(sim.get("chunk_delay_ms", 0)) / 1000
    first = float(sim.get("first_chunk_delay_ms", 0)) / 1000
    loop = asyncio.get_running_loop()
    start = loop.time() + first
    common = {
        "model": "sim-model",
        "provider": "sim",
        "context_id": doc.get("context_id", ""),
        "timestamp": "2026-01-01T00:00:00Z",
        "done": False,
    }
    text = ("w" * (size - 1) + " ")[: max(size, 1)]
    for i in range(chunks):
        # Paced on an absolute schedule (no drift); unpaced, the loop still runs between events.
        wait = start + i * delay - loop.time()
        await asyncio.sleep(wait if wait > 0 else 0)
        writer.write(_event({"chunk": text, **common}))
        await writer.drain()
    writer.write(
        _event(
            {
                "chunk": "",
                **common,
                "done": True,
                "finish_reason": "stop",
                "usage": {"prompt_tokens": 1, "completion_tokens": chunks, "total_tokens": chunks + 1},
            }
        )
    )
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def _json_response(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)) + body


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection":
                    close = value.strip().lower() == "close"
            body = await reader.readexactly(length) if length else b""
            if method == "GET" and path.endswith("/health"):
                writer.write(_json_response(HEALTH))
            elif method == "POST" and path == "/api/v1/chat/stream":
                doc, sim = _knobs(body)
                await _stream(writer, doc, sim)
            elif method == "POST" and path == "/api/v1/chat":
                doc, sim = _knobs(body)
                words = int(sim.get("chunks", 20))
                answer = {
                    "content": "w " * words,
                    "model": "sim-model",
                    "provider": "sim",
                    "context_id": doc.get("context_id", ""),
                    "finish_reason": "stop",
                    "usage": {"prompt_tokens": 1, "completion_tokens": words, "total_tokens": words + 1},
                }
                writer.write(_json_response(json.dumps(answer).encode()))
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"RHETOR_SIMULATOR_URL=http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
