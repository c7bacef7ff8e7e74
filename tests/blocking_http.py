"""Reading one HTTP/1.1 request from a blocking socket, for the tests' small raw servers (the
hostile server of test_fuzz.py, the scripted one of test_http1_framing.py)."""

from __future__ import annotations

import socket
from typing import NamedTuple, Optional


class Request(NamedTuple):
    line: str  # the request line, e.g. "POST /api/v1/chat HTTP/1.1"
    body: bytes
    rest: bytes  # bytes read past this request (the start of the next one)


def read_request(conn: socket.socket, buf: bytes = b"") -> Optional[Request]:
    """The next request on `conn` (`buf`: bytes already read); None if the client closed first."""
    while b"\r\n\r\n" not in buf:
        part = conn.recv(65536)
        if not part:
            return None
        buf += part
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    length = 0
    for line in lines[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(rest) < length:
        part = conn.recv(65536)
        if not part:
            return None
        rest += part
    return Request(lines[0].decode("latin-1"), rest[:length], rest[length:])
