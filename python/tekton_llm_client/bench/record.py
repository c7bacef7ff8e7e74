"""What one request of a run measured: monotonic ns timestamps (the clock of
`time.monotonic_ns()`) and its outcome. Latencies are derived in metrics.py."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, List, Optional


@dataclass
class RequestRecord:
    index: int
    # When the schedule said this request was due (open loop), or when its worker was free to
    # send it (closed loop). Every latency is measured from here.
    scheduled_ns: int
    sent_ns: int = 0
    # Arrival of each chunk that carried output text.
    chunk_ns: List[int] = field(default_factory=list)
    end_ns: int = 0
    text_parts: List[str] = field(default_factory=list)
    usage_output_tokens: Optional[int] = None
    error_kind: Optional[str] = None
    error_message: Optional[str] = None
    # "socket": chunk times are when the Rust reader got the bytes; "delivery": when Python got
    # them (pure-Python paths).
    timestamps: str = "socket"
    finished: bool = False
    # Kept when the chunk times are dropped (compact): what the timeline draws.
    first_chunk_ns: Optional[int] = None
    folded: bool = False

    def add_chunk(self, chunk: Any, failure_kind: Optional[str] = None) -> bool:
        """Account one streamed chunk (its arrival time, text, usage); False once the stream
        failed (an error chunk), which ends the request. An error chunk carries only a message:
        `failure_kind` names the typed error when the caller knows it (the Rust path does)."""
        at = chunk.received_ns or time.monotonic_ns()
        if chunk.error:
            self.fail(failure_kind or "StreamErrorEvent", str(chunk.error), at)
            return False
        if chunk.chunk:
            self.chunk_ns.append(at)
            self.text_parts.append(chunk.chunk)
        if chunk.done:
            if chunk.usage is not None and chunk.usage.completion_tokens:
                self.usage_output_tokens = int(chunk.usage.completion_tokens)
            self.end_ns = at
        return True

    def fail(self, kind: str, message: str, now_ns: int) -> None:
        if self.error_kind is None:
            self.error_kind = kind
            self.error_message = message[:300]
        self.end_ns = self.end_ns or now_ns
        self.finished = True

    def compact(self) -> None:
        """Drops the per-chunk data once the run's figures have it (memory stays per request)."""
        if self.chunk_ns:
            self.first_chunk_ns = self.chunk_ns[0]
            self.end_ns = max(self.end_ns, self.chunk_ns[-1])
        self.chunk_ns = []
        self.text_parts = []

    @property
    def ok(self) -> bool:
        return self.finished and self.error_kind is None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)
