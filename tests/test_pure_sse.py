"""The shared SSE vectors (tests/sse_vectors.json) through the pure-Python decoder, as recorded
and re-split one byte at a time, plus property tests: any split of a stream decodes the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tekton_llm_client._pure.sse import SseDecoder, SseEvent, SseLimitExceeded

VECTORS: List[Dict[str, Any]] = json.loads((Path(__file__).parent / "sse_vectors.json").read_text(encoding="utf-8"))[
    "vectors"
]


def _reads(v: Dict[str, Any]) -> List[bytes]:
    if "chunks_hex" in v:
        return [bytes.fromhex(h) for h in v["chunks_hex"]]
    return [c.encode("utf-8") for c in v["chunks"]]


def _decode(reads: List[bytes], limit: int = 1 << 20) -> List[SseEvent]:
    dec = SseDecoder(limit)
    out: List[SseEvent] = []
    for r in reads:
        dec.feed(r, out)
    dec.finish(out)
    return out


def _as_dicts(events: List[SseEvent]) -> List[Dict[str, Any]]:
    return [{"event": e.event, "data": e.data, "id": e.id} for e in events]


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_as_recorded(v: Dict[str, Any]) -> None:
    assert _as_dicts(_decode(_reads(v))) == v["events"]


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_one_byte_reads(v: Dict[str, Any]) -> None:
    whole = b"".join(_reads(v))
    assert _as_dicts(_decode([whole[i : i + 1] for i in range(len(whole))])) == v["events"]


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_one_read(v: Dict[str, Any]) -> None:
    assert _as_dicts(_decode([b"".join(_reads(v))])) == v["events"]


def test_event_limit() -> None:
    with pytest.raises(SseLimitExceeded):
        _decode([b"data: 0123456789"], limit=8)  # an unfinished line counts
    with pytest.raises(SseLimitExceeded):
        _decode([b"data: 01234\ndata: 56789\n\n"], limit=8)  # so do the data lines of one event
    assert [e.data for e in _decode([b"data: 0123\n\ndata: 4567\n\n"], limit=8)] == ["0123", "4567"]


def test_crlf_at_end_of_read_is_one_line_end() -> None:
    # "\r\n" ending a read must not leave a CR pending that would eat the next read's LF
    events = _decode([b"data: a\r\n", b"\ndata: b\n\n"])
    assert [e.data for e in events] == ["a", "b"]


def test_empty_read_between_cr_and_lf() -> None:
    # an empty read carries no bytes: the CR before it and the LF after it are still one line end
    events = _decode([b"data: a\r", b"", b"\ndata: b\r\n\r\n"])
    assert [e.data for e in events] == ["a\nb"]


def test_long_line_in_many_reads_is_linear() -> None:
    # 200k one-byte reads of one line: quadratic re-scanning would take minutes
    payload = b"data: " + b"x" * 200_000 + b"\n\n"
    events = _decode([payload[i : i + 1] for i in range(len(payload))])
    assert len(events) == 1 and len(events[0].data) == 200_000


# -- properties -------------------------------------------------------------------------------

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=20)
_line_end = st.sampled_from(["\n", "\r\n", "\r"])
_line = st.one_of(
    st.builds(lambda t: "data: " + t, _text),
    st.builds(lambda t: "data:" + t, _text),
    st.builds(lambda t: "event: " + t, _text),
    st.builds(lambda t: "id: " + t, _text),
    st.builds(lambda t: ": " + t, _text),
    st.just("retry: 100"),
    st.just("data"),
    st.just(""),
)


@st.composite
def _streams(draw: Any) -> bytes:
    parts = []
    for line in draw(st.lists(_line, max_size=25)):
        parts.append(line + draw(_line_end))
    if draw(st.booleans()):
        parts.append(draw(_line))  # maybe an unterminated last line
    return "".join(parts).encode("utf-8")


@st.composite
def _split(draw: Any) -> tuple:
    stream = draw(_streams())
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    reads, prev = [], 0
    for c in cuts + [len(stream)]:
        reads.append(stream[prev:c])
        prev = c
    return stream, reads


@settings(max_examples=400, deadline=None)
@given(_split())
def test_any_split_decodes_the_same(case: tuple) -> None:
    stream, reads = case
    assert _decode(reads) == _decode([stream])


@settings(max_examples=200, deadline=None)
@given(_streams())
def test_one_byte_reads_decode_the_same(stream: bytes) -> None:
    assert _decode([stream[i : i + 1] for i in range(len(stream))]) == _decode([stream])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30).filter(lambda t: "\r" not in t and "\n" not in t), max_size=10), st.data())
def test_data_round_trip(payloads: List[str], data: Any) -> None:
    # every `data: X` + blank line comes back as X, whatever the line ends and the split
    ends = [data.draw(_line_end) for _ in payloads]
    stream = "".join(f"data: {p}{e}{e}" for p, e in zip(payloads, ends, strict=True)).encode("utf-8")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reads, prev = [], 0
    for c in cuts + [len(stream)]:
        reads.append(stream[prev:c])
        prev = c
    assert [e.data for e in _decode(reads)] == payloads


# -- differential: the Rust core's decoder (when the native module is built) ------------------

_rust_decode_sse: Optional[Callable[..., List[Tuple[str, str, Optional[str]]]]]
try:
    from tekton_llm_client._core import decode_sse as _rust_decode_sse
except ImportError:  # pragma: no cover - pure installs
    _rust_decode_sse = None

needs_core = pytest.mark.skipif(_rust_decode_sse is None, reason="native module not built")

# bytes that matter to the framing, plus UTF-8 pieces (whole, split, invalid) and BOMs
_atoms = st.sampled_from(
    [
        b"data",
        b"data:",
        b"data: ",
        b"event:",
        b"id:",
        b"id: 1",
        b"retry: 5",
        b":",
        b": ping",
        b"\n",
        b"\r",
        b"\r\n",
        b" ",
        b"x",
        b"\x00",
        b"\xef\xbb\xbf",
        b"\xc3\xa9",
        b"\xc3",
        b"\xa9",
        b"\xe2\x82\xac",
        b"\xf0\x9f\x98\x80",
        b"\xff",
        b"[DONE]",
        b'{"chunk": "hi"}',
        b"\x0b",
        b"\x0c",
        b"\x1c",
        b"\xc2\x85",
        b"\xe2\x80\xa8",
    ]
)  # not line ends in SSE


@st.composite
def _raw_split(draw: Any) -> List[bytes]:
    stream = b"".join(draw(st.lists(_atoms, max_size=40)))
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(stream) - 1)), max_size=10))))
    reads, prev = [], 0
    for c in cuts + [len(stream)]:
        if c > prev:  # non-empty reads: see test_empty_read_between_cr_and_lf for the empty case
            reads.append(stream[prev:c])
            prev = c
    return reads


def _outcome(fn: Any) -> Any:
    try:
        return [tuple(e) for e in fn()]
    except Exception as e:  # the limit: both must refuse
        return ("limit", "larger than the limit" in str(e) or isinstance(e, SseLimitExceeded))


@needs_core
@settings(max_examples=500, deadline=None)
@given(_raw_split(), st.sampled_from([1 << 20, 16, 4]))
def test_same_events_as_the_rust_decoder(reads: List[bytes], limit: int) -> None:
    assert _rust_decode_sse is not None
    ours = _outcome(lambda: _decode(reads, limit))
    theirs = _outcome(lambda: _rust_decode_sse(reads, limit))
    assert ours == theirs


@needs_core
@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_same_as_rust(v: Dict[str, Any]) -> None:
    assert _rust_decode_sse is not None
    reads = [r for r in _reads(v) if r]
    assert [tuple(e) for e in _decode(reads)] == _rust_decode_sse(reads)
