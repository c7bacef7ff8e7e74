"""Reading a chunked body (RFC 9112 7.1): sizes in hex, extensions and trailers skipped."""

from __future__ import annotations

import re
from typing import List, Optional

from .head import find_within

__all__ = ["ChunkedDecoder", "ChunkedError"]

_SIZE = re.compile(rb"[ \t]*([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?")
MAX_LINE = 4096  # a size line or a trailer line longer than this is not a Rhetor's

_SIZE_LINE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedError(Exception):
    """The body is not chunked as RFC 9112 says."""


class ChunkedDecoder:
    """Takes chunked bytes from the front of a buffer and returns the body bytes in them."""

    __slots__ = ("_state", "_left")

    def __init__(self) -> None:
        self._state = _SIZE_LINE
        self._left = 0  # bytes of the current chunk still to come

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def decode(self, buf: bytearray) -> bytes:
        """The body bytes at the front of `buf` (consumed from it), as far as they are complete."""
        out: List[bytes] = []
        while buf and self._state != _DONE:
            state = self._state
            if state == _DATA:
                n = min(self._left, len(buf))
                out.append(bytes(buf[:n]))
                del buf[:n]
                self._left -= n
                if not self._left:
                    self._state = _DATA_END
            elif state == _DATA_END:
                if len(buf) < 2:
                    if buf[:1] != b"\r":
                        raise ChunkedError("no CRLF after a chunk's data")
                    break
                if buf[:2] != b"\r\n":
                    raise ChunkedError("no CRLF after a chunk's data")
                del buf[:2]
                self._state = _SIZE_LINE
            else:
                line = _line(buf)
                if line is None:
                    break
                if state == _SIZE_LINE:
                    m = _SIZE.fullmatch(line)
                    if m is None:
                        raise ChunkedError(f"bad chunk size line {bytes(line[:40])!r}")
                    self._left = int(m.group(1), 16)
                    self._state = _DATA if self._left else _TRAILER
                elif not line:  # the empty line after the trailers ends the body
                    self._state = _DONE
        return b"".join(out) if len(out) != 1 else out[0]


def _line(buf: bytearray) -> Optional[bytearray]:
    """The line at the front of `buf` without its CRLF (consumed), or None while incomplete."""
    i = find_within(buf, b"\r\n", MAX_LINE, _line_too_long)
    if i < 0:
        return None
    line = buf[:i]
    del buf[: i + 2]
    return line


def _line_too_long() -> ChunkedError:
    return ChunkedError(f"a chunk size or trailer line longer than {MAX_LINE} bytes")
