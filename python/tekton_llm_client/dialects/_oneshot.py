"""A stream of exactly one content chunk and the `done` chunk, built from a whole answer.

Neither older Rhetor dialect could stream as shipped (Gen A: HTTP 500 or an empty 200; Gen B: one
`{"error"}` event), so in those dialects the client asks for the whole answer and hands it to the
caller through the same iterator interface as the backends' `ChunkStream` (`take_ready`,
`next_batch`, `close`, `request_id`), which is all `ChunkIterator` uses.
"""

from __future__ import annotations

from typing import Awaitable, Callable, List, Optional

from ..models import CompletionResponse, StreamingChunk

__all__ = ["OneShotStream"]


class OneShotStream:
    """Yields `[content chunk, done chunk]` once, then ends.

    `start` makes the request only when the caller first waits for a chunk, so a stream that is
    created and dropped sends nothing (and leaves no un-awaited coroutine behind).
    """

    __slots__ = ("_start", "_over", "request_id")

    def __init__(self, start: Callable[[], Awaitable[CompletionResponse]], request_id: str) -> None:
        self._start = start
        self._over = False
        self.request_id = request_id

    def take_ready(self) -> Optional[List[StreamingChunk]]:
        """Nothing is ready before the answer arrives; None once it has been handed out."""
        return None if self._over else []

    async def next_batch(self) -> Optional[List[StreamingChunk]]:
        """The answer as two chunks; None afterwards. Errors are raised (nothing was delivered)."""
        if self._over:
            return None
        self._over = True  # a failed answer ends the stream as well: it is never re-sent
        r = await self._start()
        return [
            StreamingChunk(
                r.content, False, None, r.model, r.provider, r.fallback, None, None, r.context_id, r.timestamp
            ),
            StreamingChunk(
                "", True, None, r.model, r.provider, r.fallback, r.finish_reason, r.usage, r.context_id, r.timestamp
            ),
        ]

    def close(self) -> None:
        """Stop: no chunk is handed out after this (a request in flight ends with its awaiter)."""
        self._over = True
