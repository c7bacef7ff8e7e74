"""The backend interface: what the client asks of a backend, and nothing else.

A backend is the Rust core (`_core`, typed by `_core.pyi`) or the pure-Python path (`_pure/`).
Both provide the four pieces below; the client modules (`client.py`, `websocket.py`, `batch.py`,
`dialects/`) are typed against these protocols only, so mypy checks that each backend (and the
older dialects' translating transports) really offers what the client uses. Like httpx's
`AsyncBaseTransport`: the facade above never knows which backend it talks to.

| protocol | Rust | pure Python | used by |
|---|---|---|---|
| `CallTransport` | `_core.HttpClient` | `_pure.http.HttpClient` | `client.py` (calls), `dialects/` |
| `HttpTransport` (+ JSON documents) | `_core.HttpClient` | `_pure.http.HttpClient` | `client.py`, `dialects/` |
| `ChunkStream` | `_core.ChunkStream` | `_pure.http.PureChunkStream` | `client.ChunkIterator` |
| `WebSocketTransport` | `_core.WebSocketTransport` | `_pure.websocket.WebSocketTransport` | `websocket.py` |
| `BatchRunner` | `_core.BatchRunner` | `_pure.batch.BatchRunner` | `batch.py` |

The WebSocket transport hands its events over in batches of tuples; their shapes are the
`*Event` types here, the tags the `EV_*` constants (the Rust binding uses the same numbers).
JSON values cross as `object`: the caller narrows them with `isinstance`.
"""

from __future__ import annotations

from typing import Awaitable, Final, List, Literal, Mapping, Optional, Protocol, Sequence, Tuple, TypedDict, Union

from .models import CompletionResponse, StreamingChunk

__all__ = [
    "Messages",
    "Options",
    "CallTransport",
    "HttpTransport",
    "ChunkStream",
    "WebSocketTransport",
    "BatchRunner",
    "BatchOutcome",
    "HttpSettings",
    "WebSocketSettings",
    "WsEvent",
    "EV_CHUNK",
    "EV_RESPONSE",
    "EV_REQUEST_FAILED",
    "EV_CANCELLED",
    "EV_MESSAGE",
    "EV_ERROR",
    "EV_CONNECTED",
    "EV_CLOSED",
]

# A conversation as the backends take it: `{"role", "content"[, "name"]}` mappings.
Messages = Sequence[Mapping[str, object]]
# The request's `options` object (temperature, max_tokens, fallback_provider, ...).
Options = Mapping[str, object]


class ChunkStream(Protocol):
    """One streamed chat. Chunks come in batches: `take_ready()` hands over those already
    decoded without waiting (maybe `[]`), `next_batch()` waits for at least one; both return None
    once the stream is over. A failure before any chunk is raised; after content it arrives as a
    last chunk with `error` set."""

    @property
    def request_id(self) -> str: ...

    def take_ready(self) -> Optional[List[StreamingChunk]]: ...

    def next_batch(self) -> Awaitable[Optional[List[StreamingChunk]]]: ...

    def close(self) -> None: ...


class CallTransport(Protocol):
    """What a chat call goes through: the backend itself for a v1 Rhetor, a translator
    (`dialects.Translator`) for the older ones. Retries, timeouts, size limits and the
    status → exception mapping happen behind it; `request_id` is sent as X-Request-ID on every
    attempt (a new one is made when None)."""

    def chat(
        self,
        messages: Messages,
        *,
        system_prompt: Optional[str] = None,
        context_id: str = ...,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        options: Optional[Options] = None,
        request_id: Optional[str] = None,
    ) -> Awaitable[CompletionResponse]: ...

    def stream_chat(
        self,
        messages: Messages,
        *,
        system_prompt: Optional[str] = None,
        context_id: str = ...,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        options: Optional[Options] = None,
        request_id: Optional[str] = None,
    ) -> ChunkStream:
        """Nothing is sent before the stream's first `next_batch()`."""
        ...

    def close(self) -> None: ...


class HttpTransport(CallTransport, Protocol):
    """A backend's HTTP client: chat calls plus JSON documents (health, providers, and the
    older dialects' endpoints), and the redaction of its auth token from server text."""

    def get_json(self, path: str, request_id: Optional[str] = None) -> Awaitable[object]: ...

    def request_json(
        self, method: str, path: str, body: object = None, request_id: Optional[str] = None
    ) -> Awaitable[object]: ...

    def redact(self, text: str) -> str: ...


# -- WebSocket ---------------------------------------------------------------------------------

EV_CHUNK: Final = 0
EV_RESPONSE: Final = 1
EV_REQUEST_FAILED: Final = 2
EV_CANCELLED: Final = 3
EV_MESSAGE: Final = 4
EV_ERROR: Final = 5
EV_CONNECTED: Final = 6
EV_CLOSED: Final = 7

# (prompt_tokens, completion_tokens, total_tokens)
UsageTuple = Tuple[int, int, int]

# A chunk of a stream, built by the backend (its `received_ns` set).
ChunkEvent = Tuple[Literal[0], str, StreamingChunk]
# A whole answer: request_id, content, model, provider, finish_reason, usage, context_id,
# fallback, timestamp.
ResponseEvent = Tuple[
    Literal[1],
    str,
    str,
    Optional[str],
    Optional[str],
    Optional[str],
    Optional[UsageTuple],
    Optional[str],
    bool,
    Optional[str],
]
# A request failed: request_id, error kind, message, code, status, retry_after.
RequestFailedEvent = Tuple[Literal[2], str, str, str, Optional[str], Optional[int], Optional[float]]
# A request was cancelled: request_id.
CancelledEvent = Tuple[Literal[3], str]
# Every decoded server message, only when the transport was made with `emit_messages=True`.
MessageEvent = Tuple[Literal[4], str]
# An error of the session (no request): error kind, message, code, status, retry_after.
ErrorEvent = Tuple[Literal[5], str, str, Optional[str], Optional[int], Optional[float]]
# Registered (again): the session id.
ConnectedEvent = Tuple[Literal[6], Optional[str]]
# The socket closed: the reason.
ClosedEvent = Tuple[Literal[7], str]

WsEvent = Union[
    ChunkEvent,
    ResponseEvent,
    RequestFailedEvent,
    CancelledEvent,
    MessageEvent,
    ErrorEvent,
    ConnectedEvent,
    ClosedEvent,
]


class WebSocketTransport(Protocol):
    """One multiplexed socket to Rhetor's `/ws`: handshake (REGISTER → REGISTER_ACK), keep-alive,
    routing by request id and reconnects live behind it. `send` takes a whole request frame (JSON
    text) whose `request_id` is given; the answers come back through `next_events()`, which
    returns None once the transport is closed and every request has been failed."""

    def connect(self) -> Awaitable[str]:
        """Open and register; the session id."""
        ...

    def send(self, request_id: str, frame: str) -> Awaitable[None]: ...

    def cancel(self, request_id: str) -> bool:
        """Send CANCEL and end the request now (an EV_CANCELLED event); False when it was over."""
        ...

    def next_events(self, max: int = ...) -> Awaitable[Optional[List[WsEvent]]]: ...

    def close(self) -> Awaitable[None]: ...

    @property
    def connected(self) -> bool: ...

    @property
    def connection_count(self) -> int: ...


# -- batch runner -----------------------------------------------------------------------------

# (key, succeeded, the answer or the exception)
BatchOutcome = Tuple[int, bool, Union[CompletionResponse, BaseException]]


class BatchRunner(Protocol):
    """Runs submitted chat calls with at most `concurrency` at once (and a rate limit); hands
    the finished ones back in completion order. `fallback` is (provider, model, options) of the
    one fallback request a retryable failure may make, None for none."""

    def submit(
        self,
        key: int,
        messages: Messages,
        *,
        system_prompt: Optional[str] = None,
        context_id: str = ...,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        options: Optional[Options] = None,
        request_id: Optional[str] = None,
        fallback: Optional[Tuple[Optional[str], Optional[str], Optional[Options]]] = None,
    ) -> None: ...

    def take_ready(self) -> List[BatchOutcome]:
        """The finished items ready now, without waiting (maybe [])."""
        ...

    def next_results(self) -> Awaitable[List[BatchOutcome]]:
        """At least one finished item; [] when none is pending or the runner was closed."""
        ...

    def close(self) -> None: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def peak_in_flight(self) -> int: ...


# -- what the transports are made with ---------------------------------------------------------


class HttpSettings(TypedDict, total=False):
    """The keyword arguments of both backends' `HttpClient` (one set, passed whole to either);
    what is left out takes the backend's default (`config.DEFAULTS`)."""

    auth_token: Optional[str]
    timeout: float
    connect_timeout: float
    stream_idle_timeout: Optional[float]
    max_retries: int
    backoff_initial: float
    backoff_max: float
    max_retry_after: float
    pool_max_idle_per_host: int
    max_response_bytes: int
    max_event_bytes: int
    headers: Optional[Sequence[Tuple[str, str]]]
    ca_bundle: Optional[str]


class WebSocketSettings(TypedDict, total=False):
    """The keyword arguments of both backends' `WebSocketTransport`."""

    auth_token: Optional[str]
    capabilities: Optional[List[str]]
    connect_timeout: float
    reconnect: bool
    reconnect_base_delay: float
    max_reconnect_delay: float
    ping_interval: float
    max_message_size: int
    emit_messages: bool
    ca_bundle: Optional[str]
