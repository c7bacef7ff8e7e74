"""Incremental server-sent-events decoder (the rules of `tekton-core`'s `sse.rs`).

WHATWG EventSource parsing rules (LF, CRLF or CR line ends, `:` comments, `data` / `event` /
`id` / `retry` fields, one leading space after the colon stripped, a BOM dropped at the start of
the stream), plus a lenient flush at end of stream so that a missing final blank line loses
nothing. `tests/sse_vectors.json` holds the cases both decoders must agree on.

Linear time: each read is split once (`bytes.splitlines`, which splits on exactly LF, CRLF and
CR); only the bytes of a line that is split across reads are kept (in a bytearray) until its end
arrives, and a CR that ends one read is remembered so that an LF starting the next read does not
end a second (empty) line.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional

__all__ = ["SseEvent", "SseDecoder", "SseLimitExceeded"]

_BOM = b"\xef\xbb\xbf"


class SseEvent(NamedTuple):
    """One dispatched event. `event` is the `event:` field or "message"; `id` is the last
    `id:` seen on the stream so far (None if never set)."""

    event: str
    data: str
    id: Optional[str]


class SseLimitExceeded(Exception):
    """An event (or a line) grew past the decoder's `max_event_bytes`."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a stream event is larger than the limit of {limit} bytes")
        self.limit = limit


def _text(raw: bytes) -> str:
    # Invalid UTF-8 becomes U+FFFD (per maximal subpart, as the WHATWG decoder does).
    return raw.decode("utf-8", "replace")


class SseDecoder:
    """Feed network reads with `feed(data, out)`; complete events are appended to `out`.
    Call `finish(out)` at end of stream. Both raise SseLimitExceeded when an event grows past
    `max_event_bytes` (counted in UTF-8 bytes of the data, plus the unfinished line)."""

    __slots__ = (
        "_partial",
        "_data",
        "_data_len",
        "_has_data",
        "_event_type",
        "_last_id",
        "_pending_cr",
        "_at_stream_start",
        "max_event_bytes",
        "comments",
    )

    def __init__(self, max_event_bytes: int = 8 << 20) -> None:
        self._partial = bytearray()
        self._data: List[str] = []
        self._data_len = 0
        self._has_data = False
        self._event_type = ""
        self._last_id: Optional[str] = None
        self._pending_cr = False
        self._at_stream_start = True
        self.max_event_bytes = max_event_bytes
        # comment lines seen (keep-alives such as `: ping`)
        self.comments = 0

    def feed(self, data: bytes, out: List[SseEvent]) -> None:
        if not data:
            return  # an empty read changes nothing (a pending CR stays pending)
        if self._pending_cr:
            self._pending_cr = False
            if data[0] == 0x0A:  # the LF of a CRLF split across reads
                data = data[1:]
                if not data:
                    return
        # bytes.splitlines splits on exactly LF, CRLF and CR, in C
        lines = data.splitlines()
        last = data[-1]
        if last == 0x0A:
            tail = None
        elif last == 0x0D:
            tail = None
            self._pending_cr = True  # a lone CR ends this read: an LF may start the next
        else:
            tail = lines.pop()  # an unfinished line
        if lines:
            partial = self._partial
            if partial:
                partial += lines[0]
                lines[0] = bytes(partial)
                partial.clear()
            line_fn = self._line
            for line in lines:
                if self._at_stream_start:
                    line_fn(line, out)
                elif not line:
                    if self._has_data:  # dispatch, inlined for the common case
                        parts = self._data
                        out.append(
                            SseEvent(
                                self._event_type or "message",
                                parts[0] if len(parts) == 1 else "\n".join(parts),
                                self._last_id,
                            )
                        )
                        self._data = []
                        self._has_data = False
                        self._data_len = 0
                    self._event_type = ""
                elif line.startswith(b"data: "):
                    self._data_line(line[6:])
                else:
                    line_fn(line, out)
        if tail is not None:
            partial = self._partial
            partial += tail
            if len(partial) + self._data_len > self.max_event_bytes:
                raise SseLimitExceeded(self.max_event_bytes)

    def finish(self, out: List[SseEvent]) -> None:
        """End of stream: an unterminated last line is processed and a pending event dispatched."""
        if self._partial:
            line = bytes(self._partial)
            self._partial.clear()
            self._line(line, out)
        self._dispatch(out)

    def _line(self, line: bytes, out: List[SseEvent]) -> None:
        if self._at_stream_start:
            self._at_stream_start = False
            if line.startswith(_BOM):
                line = line[3:]
        if not line:
            self._dispatch(out)
            return
        if line[0] == 0x3A:  # ':'
            self.comments += 1
            return
        colon = line.find(b":")
        if colon < 0:
            field, value = line, b""
        else:
            field = line[:colon]
            value = line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
        if field == b"data":
            self._data_line(value)
        elif field == b"event":
            self._event_type = _text(value)
        elif field == b"id":
            if b"\x00" not in value:
                self._last_id = _text(value)
        # `retry:` only matters to auto-reconnecting EventSource objects: parsed and ignored,
        # like every unknown field.

    def _data_line(self, value: bytes) -> None:
        text = _text(value)
        # the limit counts UTF-8 bytes of the decoded text
        n = len(value) if "\ufffd" not in text else len(text.encode("utf-8"))
        if self._has_data:
            n += 1  # the LF joining data lines
        self._has_data = True
        self._data.append(text)
        self._data_len += n
        if self._data_len > self.max_event_bytes:
            raise SseLimitExceeded(self.max_event_bytes)

    def _dispatch(self, out: List[SseEvent]) -> None:
        if self._has_data:
            data = self._data
            out.append(
                SseEvent(self._event_type or "message", data[0] if len(data) == 1 else "\n".join(data), self._last_id)
            )
            self._data = []
        elif self._data:
            self._data = []
        self._has_data = False
        self._data_len = 0
        self._event_type = ""
