"""The simulator's own defences against clients that hold connections without using them, with
raw sockets and small numbers: a request head that never completes and an idle kept-alive
connection are closed after `header_read_timeout`; past `max_connections` a new connection gets
503 and the simulator serves again once the idle ones are gone; a WebSocket that sends nothing
is closed after `idle_timeout`; a WebSocket client that floods pings and never reads is closed,
and memory stays bounded meanwhile."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from typing import Iterator, List

import httpx
import pytest
from tekton_llm_client.testing import RhetorSimulator
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from . import ws_peer

GUARD = 15.0  # hang guard, never a timing assertion
SHORT = 0.5  # the timeouts configured here

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def sim() -> Iterator[RhetorSimulator]:
    with RhetorSimulator(header_read_timeout=SHORT, idle_timeout=SHORT, max_connections=4) as s:
        yield s


def connect(sim: RhetorSimulator) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", sim.bound_port), timeout=GUARD)
    return s


def closed_by_server(s: socket.socket) -> bool:
    """Reads until the server closes (True) or the hang guard passes (False)."""
    s.settimeout(GUARD)
    try:
        while s.recv(65536):
            pass
    except socket.timeout:
        return False
    except ConnectionResetError:
        pass
    return True


def health_ok(sim: RhetorSimulator) -> bool:
    try:
        return httpx.get(sim.url + "/api/v1/health", timeout=GUARD).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_request_head_that_never_completes_is_closed(sim: RhetorSimulator) -> None:
    s = connect(sim)
    s.sendall(b"POST /api/v1/chat HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # ... and nothing more
    assert closed_by_server(s)
    s.close()


def test_a_connection_that_sends_nothing_is_closed(sim: RhetorSimulator) -> None:
    s = connect(sim)
    assert closed_by_server(s)
    s.close()


def test_an_idle_kept_alive_connection_is_closed(sim: RhetorSimulator) -> None:
    s = connect(sim)
    s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    first = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    assert closed_by_server(s)
    s.close()


def test_connections_past_the_cap_get_503_and_service_resumes(sim: RhetorSimulator) -> None:
    held: List[socket.socket] = [connect(sim) for _ in range(4)]
    try:
        extra = connect(sim)
        extra.settimeout(GUARD)
        answer = b""
        try:
            while chunk := extra.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"too many open connections" in answer
        # The held sockets send nothing: the header timeout frees their slots.
        deadline = time.monotonic() + GUARD
        while not health_ok(sim) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert health_ok(sim)
    finally:
        for s in held:
            s.close()


async def test_a_silent_websocket_is_closed_after_the_idle_timeout(sim: RhetorSimulator) -> None:
    async with ws_connect(sim.ws_url, open_timeout=GUARD, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "REGISTER", "component_id": "idle"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), GUARD))["type"] == "REGISTER_ACK"
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), GUARD)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001


def ws_handshake(s: socket.socket) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head


def test_a_websocket_client_that_floods_pings_and_never_reads_is_closed() -> None:
    # A roomy idle timeout: the flood must be stopped by the unanswered-ping bound itself.
    with RhetorSimulator(idle_timeout=60) as sim:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills after few pongs
        s.settimeout(GUARD)
        s.connect(("127.0.0.1", sim.bound_port))
        ws_handshake(s)
        s.sendall(ws_peer.text('{"type":"REGISTER","component_id":"flood"}', mask=True))
        burst = ws_peer.ping(b"x" * 125, mask=True) * 256
        before = ws_peer.rss_bytes()
        deadline = time.monotonic() + GUARD
        closed = False
        while time.monotonic() < deadline:
            try:
                s.sendall(burst)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            except socket.timeout:
                continue  # the simulator is not reading (it has closed, or is slow): try again
        growth = ws_peer.rss_bytes() - before
        s.close()
        assert closed, "the simulator kept reading pings from a client that reads none of its pongs"
        assert growth < 200 * 1024 * 1024, f"RSS grew by {growth / 2**20:.0f} MiB"
        assert health_ok(sim)
