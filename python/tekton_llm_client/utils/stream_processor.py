"""Collecting a streamed answer: the guide's ``StreamProcessor``.

processor = StreamProcessor()
async for chunk in client.generate_text(prompt="...", streaming=True):
    processor.process_chunk(chunk)
text = processor.get_result()
"""

from __future__ import annotations

import inspect
from typing import Any, AsyncIterable, Callable, List, Mapping, Optional, Union

from ..models import StreamingChunk

__all__ = ["StreamProcessor"]

ChunkLike = Union[StreamingChunk, str, Mapping[str, Any]]


def _as_chunk(chunk: ChunkLike) -> StreamingChunk:
    if isinstance(chunk, StreamingChunk):
        return chunk
    if isinstance(chunk, str):
        return StreamingChunk(chunk)
    if isinstance(chunk, Mapping):
        text = chunk.get("chunk", chunk.get("content", chunk.get("text", "")))
        error = chunk.get("error")
        return StreamingChunk(
            chunk="" if text is None else str(text),
            done=bool(chunk.get("done", False)) or error is not None,
            error=None if error is None else str(error),
            model=chunk.get("model"),
            provider=chunk.get("provider"),
            fallback=bool(chunk.get("fallback", False)),
            finish_reason=chunk.get("finish_reason"),
            context_id=chunk.get("context_id"),
            timestamp=chunk.get("timestamp"),
        )
    text = getattr(chunk, "chunk", None)
    if isinstance(text, str):  # a chunk-like object from elsewhere
        return StreamingChunk(text, bool(getattr(chunk, "done", False)), getattr(chunk, "error", None))
    raise TypeError(f"cannot process a chunk of type {type(chunk).__name__}")


class StreamProcessor:
    """Accumulates the chunks of one streamed answer.

    ``process_chunk`` accepts a :class:`~tekton_llm_client.models.StreamingChunk`, a plain
    ``str``, or a dict with ``chunk``/``content``/``text`` and optionally ``done``, ``error``,
    ``finish_reason``. Text is joined once, when asked for.
    """

    __slots__ = ("_parts", "_complete", "_error", "_finish_reason", "_last")

    def __init__(self) -> None:
        self._parts: List[str] = []
        self._complete = False
        self._error: Optional[str] = None
        self._finish_reason: Optional[str] = None
        self._last: Optional[StreamingChunk] = None

    def process_chunk(self, chunk: ChunkLike) -> str:
        """Record one chunk; returns its text."""
        c = _as_chunk(chunk)
        if c.chunk:
            self._parts.append(c.chunk)
        if c.error is not None:
            self._error = c.error
        if c.finish_reason is not None:
            self._finish_reason = c.finish_reason
        if c.done or c.error is not None:
            self._complete = True
        self._last = c
        return c.chunk

    def get_result(self) -> str:
        """All text received so far."""
        return "".join(self._parts)

    def get_chunks(self) -> List[str]:
        """The non-empty text pieces, in order (a copy)."""
        return list(self._parts)

    @property
    def is_complete(self) -> bool:
        """True once a chunk with ``done`` (or an ``error``) was processed."""
        return self._complete

    @property
    def error(self) -> Optional[str]:
        """The stream's error message, if a chunk carried one."""
        return self._error

    @property
    def finish_reason(self) -> Optional[str]:
        """The last ``finish_reason`` seen (e.g. ``"stop"``, ``"length"``)."""
        return self._finish_reason

    def reset(self) -> None:
        """Forget everything, to process another stream."""
        self._parts = []
        self._complete = False
        self._error = None
        self._finish_reason = None
        self._last = None

    async def process_stream(
        self,
        stream: AsyncIterable[ChunkLike],
        callback: Optional[Callable[[StreamingChunk], Any]] = None,
    ) -> str:
        """Consume ``stream``, calling ``callback(chunk)`` (sync or async) with each chunk as a
        :class:`StreamingChunk`; stops after the chunk that completes it. Returns the text."""
        async for raw in stream:
            self.process_chunk(raw)
            if callback is not None and self._last is not None:
                result = callback(self._last)
                if inspect.isawaitable(result):
                    await result
            if self._complete:
                break
        return self.get_result()

    def __repr__(self) -> str:
        return f"StreamProcessor(chunks={len(self._parts)}, complete={self._complete}, error={self._error!r})"
