"""The request head we write and the response head we read (the rules of `tekton-core`'s
`h1/head.rs`)."""

from __future__ import annotations

import re
from typing import Callable, Iterable, Optional, Tuple

__all__ = ["CHUNKED", "CLOSE", "LENGTH", "MAX_RESPONSE_HEAD", "HeadError", "ResponseHead", "parse_response_head"]

# The largest response head we wait for: Rhetor's heads are a few hundred bytes.
MAX_RESPONSE_HEAD = 64 << 10
# Response header lines we look at; more is a malformed head, not a Rhetor.
MAX_HEADERS = 100

# How the response body is delimited.
LENGTH = 0  # by Content-Length
CHUNKED = 1
CLOSE = 2  # until the server closes the connection

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")


class HeadError(Exception):
    """The answer is not HTTP/1.1 as we read it."""


class ResponseHead:
    __slots__ = ("status", "framing", "length", "keep_alive", "retry_after", "location", "size")

    def __init__(self, status: int, keep_alive: bool, size: int) -> None:
        self.status = status
        self.framing = CLOSE
        self.length = 0  # of the body, when framing is LENGTH
        self.keep_alive = keep_alive  # the connection may carry another exchange after this one
        self.retry_after: Optional[str] = None
        self.location: Optional[str] = None
        self.size = size  # bytes of the head, CRLF CRLF included

    def header(self, name: str) -> Optional[str]:
        """The headers the exchange asks about (Retry-After, Location, Content-Length)."""
        if name == "retry-after":
            return self.retry_after
        if name == "location":
            return self.location
        if name == "content-length":
            return str(self.length) if self.framing == LENGTH else None
        return None


def find_within(buf: bytearray, sep: bytes, limit: int, too_long: Callable[[], Exception]) -> int:
    """Where `sep` starts in the first `limit` bytes of `buf`, or -1 while it may still come;
    raises `too_long()` once `limit` bytes are here without it (memory stays bounded)."""
    i = buf.find(sep, 0, limit)
    if i < 0 and len(buf) >= limit:
        raise too_long()
    return i


def parse_response_head(buf: bytearray) -> Optional[ResponseHead]:
    """The head at the start of `buf`, or None while it is incomplete. Raises HeadError."""
    end = find_within(buf, b"\r\n\r\n", MAX_RESPONSE_HEAD, _head_too_large)
    if end < 0:
        return None
    lines = bytes(buf[:end]).split(b"\r\n")
    m = _STATUS_LINE.fullmatch(lines[0])
    if m is None:
        raise HeadError(f"Rhetor's answer is not HTTP/1.1 (status line {lines[0][:80]!r})")
    if len(lines) - 1 > MAX_HEADERS:
        raise HeadError(f"Rhetor's answer has more than {MAX_HEADERS} headers")
    http11 = m.group(1) == b"1"
    head = ResponseHead(int(m.group(2)), http11, end + 4)
    length: Optional[int] = None
    transfer_encoding = False
    for name, value in _fields(lines[1:]):
        if name == "transfer-encoding":
            # The last coding decides; only `chunked` delimits (anything else is read to close).
            transfer_encoding = True
            last = value.rsplit(",", 1)[-1].strip().lower()
            head.framing = CHUNKED if last == "chunked" else CLOSE
        elif name == "content-length":
            if not _DIGITS.fullmatch(value):
                raise HeadError(f"Rhetor sent a bad Content-Length {value!r}")
            if length is not None and length != int(value):
                raise HeadError("Rhetor sent two different Content-Length headers")
            length = int(value)
        elif name == "connection":
            for token in value.lower().split(","):
                token = token.strip()
                if token == "close":
                    head.keep_alive = False
                elif token == "keep-alive" and not http11:
                    head.keep_alive = True
        elif name == "retry-after":
            head.retry_after = value
        elif name == "location":
            head.location = value
    if not transfer_encoding and length is not None:
        head.framing, head.length = LENGTH, length
    if head.status in (204, 304):  # no body, whatever the headers say (RFC 9112 6.3)
        head.framing, head.length = LENGTH, 0
    if head.framing == CLOSE:
        head.keep_alive = False
    return head


def _head_too_large() -> HeadError:
    return HeadError(f"Rhetor's answer has a head larger than {MAX_RESPONSE_HEAD} bytes")


def _fields(lines: Iterable[bytes]) -> Iterable[Tuple[str, str]]:
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise HeadError(f"Rhetor's answer is not HTTP/1.1 (header line {line[:80]!r})")
        yield name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")


def request_head(method: str, target: str, common: bytes, request_id: str, body_length: Optional[int]) -> bytes:
    """The head of one request: `common` holds the client's header lines (Host among them)."""
    # Request ids are ours or the caller's: control characters would end the header line.
    rid = request_id if request_id.isprintable() else "".join(c for c in request_id if c.isprintable())
    length = b"" if body_length is None else b"content-length: %d\r\n" % body_length
    return b"%s %s HTTP/1.1\r\n%sx-request-id: %s\r\n%s\r\n" % (
        method.encode("ascii"),
        target.encode("utf-8"),
        common,
        rid.encode("utf-8"),
        length,
    )
