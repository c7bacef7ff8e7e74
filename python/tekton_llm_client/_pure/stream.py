"""`PureChunkStream`: a streamed chat on the pure path (the interface of `_core.ChunkStream`).

A reader task sends the request and hands the answer's body to a decoder (`Answer.pump`: on our own
HTTP/1.1 it runs in the connection's receive callback, so an event costs the consumer's wake-up
only) that turns the server-sent events into `StreamingChunk`s in a `_Sink`; the consumer takes
them in lists. A failure before the first content chunk is retried (as a whole call is); after it,
the failure is the stream's last chunk (`error` set).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Callable, List, Optional, Protocol, Tuple

from ..models import StreamingChunk
from .aio import in_loop, within
from .answer import Answer
from .errors import Failure, closed_failure, internal_failure
from .responses import event_chunk
from .sse import SseDecoder, SseEvent, SseLimitExceeded


class StreamOwner(Protocol):
    """What a stream uses of the client that opened it (`http.HttpClient`)."""

    stream_idle_timeout: float
    max_event_bytes: int

    @property
    def closed(self) -> bool: ...

    def redact(self, text: str) -> str: ...

    def track(self, task: "asyncio.Task[Any]") -> None: ...

    def retry_delay(self, f: Failure, attempt: int) -> Optional[float]: ...

    async def send(self, method: str, url: str, body: Optional[bytes], request_id: str) -> Answer: ...


__all__ = ["PureChunkStream"]

logger = logging.getLogger("tekton_llm_client")

MAX_BATCH = 4096  # chunks handed over in one next_batch / take_ready
STREAM_BUFFER_EVENTS = 4096  # decoded chunks buffered for a slow consumer before reading pauses


class _Sink:
    """Between the reader task and the consumer: decoded chunks, the terminal failure, wake-ups."""

    __slots__ = ("items", "error", "finished", "delivered", "stopped", "on_space", "_waiter")

    def __init__(self) -> None:
        self.items: List[StreamingChunk] = []
        self.error: Optional[Tuple[Failure, bool]] = None  # the failure, and whether content came before it
        self.finished = False
        self.delivered = False  # a non-empty content chunk has been decoded
        self.stopped = False  # the consumer closed the stream
        self._waiter: Optional[asyncio.Future[None]] = None
        # Set while the reader is paused because the buffer is full; called when there is room.
        self.on_space: Optional[Callable[[], None]] = None

    def fail(self, failure: Failure) -> None:
        self.error = (failure, self.delivered)
        self.wake()

    def wake(self) -> None:
        w, self._waiter = self._waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    async def wait(self) -> None:
        w = self._waiter
        if w is None or w.done():
            w = self._waiter = asyncio.get_running_loop().create_future()
        await w

    def space(self) -> None:
        on_space, self.on_space = self.on_space, None
        if on_space is not None:
            on_space()


class PureChunkStream:
    """A streamed chat. `take_ready()` hands over the chunks already decoded, without waiting;
    `next_batch()` waits for at least one. Both return None once the stream is over. An error
    before any content is raised; after content it is the last chunk (`error` set)."""

    __slots__ = ("request_id", "_http", "_url", "_body", "_sink", "_task", "_ended", "__weakref__")

    def __init__(self, http: StreamOwner, url: str, body: bytes, request_id: str) -> None:
        self.request_id = request_id
        self._http = http
        self._url = url
        self._body = body
        self._sink = _Sink()
        self._task: Optional[asyncio.Task[None]] = None
        self._ended = False

    def take_ready(self) -> Optional[List[StreamingChunk]]:
        """The chunks ready now (maybe []), or None once the stream is over."""
        if self._ended:
            return None
        sink = self._sink
        if not sink.items and sink.error is None:
            if sink.finished:
                self._ended = True
                return None
            return []
        return self._batch()

    async def next_batch(self) -> Optional[List[StreamingChunk]]:
        """The next non-empty list of chunks, or None once the stream is over."""
        if self._ended:
            return None
        if self._task is None:
            reader = _Reader(self._http, self._url, self._body, self.request_id, self._sink)
            self._task = asyncio.get_running_loop().create_task(reader.run())
            self._http.track(self._task)
        sink = self._sink
        while not sink.items and sink.error is None and not sink.finished:
            await sink.wait()
            if self._ended:
                return None
        if not sink.items and sink.error is None:
            self._ended = True
            return None
        return self._batch()

    def close(self) -> None:
        """Stop now; the HTTP exchange is closed."""
        self._ended = True
        self._stop()

    def _stop(self) -> None:
        self._sink.stopped = True
        self._sink.space()
        self._sink.wake()
        task = self._task
        if task is not None and not task.done():
            in_loop(task.get_loop(), task.cancel)  # it may be dropped in another thread than its loop's

    def _batch(self) -> List[StreamingChunk]:
        sink = self._sink
        batch, sink.items = sink.items[:MAX_BATCH], sink.items[MAX_BATCH:]
        sink.space()
        if not sink.items and sink.error is not None:
            failure, delivered = sink.error
            sink.error = None
            self._ended = True
            if not delivered and not batch:
                raise failure.to_exception()
            batch.append(StreamingChunk("", True, str(failure)))
        return batch

    def __del__(self) -> None:
        # Dropping the stream stops its reader, which closes the connection.
        try:
            if self._task is not None and not self._task.done():
                self._stop()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        return f"PureChunkStream(request_id={self.request_id!r})"


class _Reader:
    """The reader task of one stream: attempts until the stream is done or has failed."""

    __slots__ = ("http", "url", "body", "request_id", "sink", "saw_done")

    def __init__(self, http: StreamOwner, url: str, body: bytes, request_id: str, sink: _Sink) -> None:
        self.http = http
        self.url = url
        self.body = body
        self.request_id = request_id
        self.sink = sink
        self.saw_done = False  # of the current attempt

    async def run(self) -> None:
        sink = self.sink
        try:
            await self._attempts()
        except asyncio.CancelledError:
            if self.http.closed and not sink.stopped and sink.error is None:
                sink.fail(closed_failure(self.request_id))
            # otherwise the consumer closed or dropped the stream: end quietly
        except Exception as e:  # a bug must not leave the consumer waiting forever
            logger.exception("stream %s: unexpected error", self.request_id)
            sink.error = (internal_failure("the stream reader", e, self.request_id), False)
        finally:
            sink.finished = True
            sink.wake()

    async def _attempts(self) -> None:
        """A failure before the first content chunk is retried; after it, it ends the stream."""
        attempt = 0
        while True:
            try:
                if self.http.closed:
                    raise closed_failure(self.request_id)
                await self._attempt()
                return
            except Failure as failure:
                delay = (
                    self.http.retry_delay(failure, attempt) if failure.retryable and not self.sink.delivered else None
                )
                if delay is None:
                    self.sink.fail(failure)
                    return
                logger.warning(
                    "stream %s: attempt %d failed before its first chunk (%s); retrying in %.2fs",
                    self.request_id,
                    attempt + 1,
                    failure,
                    delay,
                )
                await asyncio.sleep(delay)
                attempt += 1

    async def _attempt(self) -> None:
        http, request_id, sink = self.http, self.request_id, self.sink
        idle = http.stream_idle_timeout
        try:
            resp = await within(idle, http.send("POST", self.url, self.body, request_id))
        except asyncio.TimeoutError:
            raise Failure("timeout", f"no answer within {idle}s", request_id) from None
        decoder = SseDecoder(http.max_event_bytes)
        events: List[SseEvent] = []
        self.saw_done = False
        refused: List[Failure] = []  # what decoding the events raised (not the transport)

        def on_data(data: bytes) -> bool:
            decoder.feed(data, events)
            if not events:
                return False
            try:
                self._deliver(events)
            except Failure as f:
                refused.append(f)
                raise
            finally:
                events.clear()
            if len(sink.items) >= STREAM_BUFFER_EVENTS and not sink.stopped:
                resp.pause_reading()  # until the consumer takes a batch
                sink.on_space = resp.resume_reading
            return True

        try:
            try:  # `idle` bounds the time between two events, however many reads they take
                await resp.pump(on_data, idle)
            except asyncio.TimeoutError:
                if self.saw_done:
                    return
                raise Failure("timeout", f"no stream event within {idle}s", request_id) from None
            except SseLimitExceeded:
                raise self._too_large() from None
            except Failure as f:
                if refused and f is refused[0]:
                    raise
                if self.saw_done:
                    return
                f.message = f"the stream was cut before its end: {f.message}"
                f.args = (f.message,)
                raise
            decoder.finish(events)
            self._deliver(events)
            if self.saw_done:
                return
            kind = "stream_interrupted" if sink.delivered else "connection"
            raise Failure(kind, "the stream ended before its done event", request_id)
        finally:
            sink.on_space = None
            await resp.aclose()

    def _deliver(self, events: List[SseEvent]) -> None:
        """Decode `events` into the sink (`saw_done` set at the done event)."""
        sink = self.sink
        received = time.monotonic_ns()
        for sse in events:
            if self.saw_done:
                break  # events after the done event are ignored
            if sse.data == "[DONE]":
                chunk = StreamingChunk("", True)
            else:
                chunk = self._chunk(sse.data)
            self.saw_done = chunk.done
            chunk.received_ns = received
            if chunk.chunk:
                sink.delivered = True
            sink.items.append(chunk)
        if events:
            sink.wake()

    def _chunk(self, data: str) -> StreamingChunk:
        try:
            chunk, error, code = event_chunk(json.loads(data))
        except (ValueError, RecursionError) as e:
            raise Failure(
                "protocol", f"Rhetor sent an event that is not valid JSON ({e})", self.request_id, retryable=False
            ) from None
        if error is not None:
            raise Failure(
                "service_unavailable",
                self.http.redact(f"Rhetor reported an error in the stream: {error}"),
                self.request_id,
                code=code,
                retryable=False,
            )
        return chunk

    def _too_large(self) -> Failure:
        limit = self.http.max_event_bytes
        return Failure(
            "limit_exceeded",
            f"a stream event is larger than the limit of {limit} bytes",
            self.request_id,
            retryable=False,
        )
