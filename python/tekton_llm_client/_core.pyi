"""Type stubs of the native module `tekton_llm_client._core` (Rust, PyO3).

The public API lives in the Python modules; these are the backend's building blocks. The
transports implement the protocols of `tekton_llm_client._backend_interface` (mypy checks it
where the client uses them).
"""

from asyncio import AbstractEventLoop
from typing import Any, Awaitable, Generator, Iterable, Mapping, Sequence, final, overload

from typing_extensions import Self, disjoint_base

from tekton_llm_client._backend_interface import BatchOutcome, WsEvent
from tekton_llm_client.models import CompletionResponse, StreamingChunk

__version__: str

# -- HTTP client (src/py_http.rs) --------------------------------------------------------------

@final
class HttpClient:
    def __new__(
        cls,
        base_url: str,
        component_id: str,
        *,
        auth_token: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        stream_idle_timeout: float | None = None,
        max_retries: int = 3,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 60.0,
        pool_max_idle_per_host: int = 100,
        max_response_bytes: int = ...,
        max_event_bytes: int = ...,
        headers: Sequence[tuple[str, str]] | None = None,
        ca_bundle: str | None = None,
    ) -> HttpClient: ...
    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        system_prompt: str | None = None,
        context_id: str = ...,
        provider_id: str | None = None,
        model_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Awaitable[CompletionResponse]: ...
    def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        system_prompt: str | None = None,
        context_id: str = ...,
        provider_id: str | None = None,
        model_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> ChunkStream: ...
    def stream_chat_at(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        at_ns: int,
        system_prompt: str | None = None,
        context_id: str = ...,
        provider_id: str | None = None,
        model_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> ChunkStream: ...
    def stream_openai_at(
        self, path: str, body: Mapping[str, object], *, at_ns: int, request_id: str | None = None
    ) -> ChunkStream: ...
    def get_json(self, path: str, request_id: str | None = None) -> Awaitable[object]: ...
    def request_json(
        self, method: str, path: str, body: object = None, request_id: str | None = None
    ) -> Awaitable[object]: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def kernel_receive_times(self) -> bool: ...
    def preconnect(self, count: int) -> Awaitable[int]: ...
    def redact(self, text: str) -> str: ...

@final
class ChunkStream:
    def take_ready(self) -> list[StreamingChunk] | None: ...
    def next_batch(self) -> Awaitable[list[StreamingChunk] | None]: ...
    def close(self) -> None: ...
    @property
    def request_id(self) -> str: ...
    @property
    def started_ns(self) -> int | None: ...
    @property
    def failure_kind(self) -> str | None: ...

# Native base of the Rust path's chunk iterator (src/py_chunk_iter.rs).
@disjoint_base
class ChunkBuffer:
    def __new__(cls, *_args: Any, **_kwargs: Any) -> Self: ...
    def __anext__(self) -> Awaitable[Any]: ...
    def _set_buffer(self, batch: list[Any], start: int) -> None: ...
    def _clear_buffer(self) -> None: ...
    def _attach(self, stream: Any) -> None: ...

# What ChunkBuffer.__anext__ returns for a chunk already in hand: awaiting it returns the chunk.
@final
class ReadyChunk:
    def __await__(self) -> Generator[Any, None, Any]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...

def decode_sse(reads: Sequence[bytes], max_event_bytes: int = ...) -> list[tuple[str, str, str | None]]: ...

# Not stubbed: `_test_panic(where)` (src/py_test_hooks.rs) exists only in builds with the
# `test-hooks` cargo feature (the test build, never a release wheel); tests/test_panics.py uses it.

# -- Rhetor simulator (src/py_sim.rs) ----------------------------------------------------------

@final
class Simulator:
    def __new__(
        cls,
        *,
        host: str = ...,
        port: int = 0,
        auth_token: str | None = None,
        unavailable_providers: list[str] | None = None,
        path_prefix: str | None = None,
        record: bool = True,
        worker_threads: int = 1,
        knobs: dict[str, Any] | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        header_read_timeout: float = 30.0,
        idle_timeout: float = 120.0,
        max_connections: int = 512,
    ) -> Simulator: ...
    @property
    def url(self) -> str: ...
    @property
    def ws_url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def running(self) -> bool: ...
    @property
    def connections_accepted(self) -> int: ...
    @property
    def active_tasks(self) -> int: ...
    def records(self, reveal_secrets: bool = False) -> list[dict[str, Any]]: ...
    def clear(self) -> None: ...
    def stop(self) -> None: ...

def sim_answer_text(
    prompt: str,
    system_prompt: str | None = None,
    length: int | None = None,
    chunks: int | None = None,
    chunk_size: int | None = None,
) -> str: ...
def sim_split_chunks(text: str, chunks: int | None = None, chunk_size: int | None = None) -> list[str]: ...

# -- WebSocket transport (src/py_ws.rs) --------------------------------------------------------

@final
class WebSocketTransport:
    def __new__(
        cls,
        url: str,
        component_id: str,
        *,
        auth_token: str | None = None,
        capabilities: list[str] | None = None,
        connect_timeout: float = 10.0,
        reconnect: bool = True,
        reconnect_base_delay: float = 0.25,
        max_reconnect_delay: float = 30.0,
        ping_interval: float = 20.0,
        max_message_size: int = 16777216,
        emit_messages: bool = False,
        ca_bundle: str | None = None,
        read_on_loop: bool | None = None,
    ) -> WebSocketTransport: ...
    def connect(self) -> Awaitable[str]: ...
    def send(self, request_id: str, frame: str) -> Awaitable[None]: ...
    def cancel(self, request_id: str) -> bool: ...
    def next_events(self, max: int = 4096) -> Awaitable[list[WsEvent] | None]: ...
    def close(self) -> Awaitable[None]: ...
    @property
    def connected(self) -> bool: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def connection_count(self) -> int: ...
    @property
    def in_flight(self) -> int: ...

@final
class WebSocketReader:
    """A ws:// socket read on the event loop's thread; made and registered by the transport."""

    def read_ready(self) -> None: ...
    def fileno(self) -> int: ...

# -- batch runner (src/py_batch.rs) ------------------------------------------------------------

@final
class BatchRunner:
    def __new__(
        cls, http: HttpClient, *, concurrency: int = 32, rate: float | None = None, burst: int = 1
    ) -> BatchRunner: ...
    def submit(
        self,
        key: int,
        messages: Sequence[Mapping[str, Any]],
        *,
        system_prompt: str | None = None,
        context_id: str = ...,
        provider_id: str | None = None,
        model_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        fallback: tuple[str | None, str | None, Mapping[str, Any] | None] | None = None,
    ) -> None: ...
    def take_ready(self) -> list[BatchOutcome]: ...
    def next_results(self) -> Awaitable[list[BatchOutcome]]: ...
    def close(self) -> None: ...
    @property
    def pending(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def peak_in_flight(self) -> int: ...
    @property
    def closed(self) -> bool: ...

# -- tokens (src/py_tokens.rs) -----------------------------------------------------------------

@overload
def count_tokens(text: str, encoding_name: str) -> int: ...  # type: ignore[overload-overlap]
@overload
def count_tokens(text: Iterable[str], encoding_name: str) -> list[int]: ...
def count_message_tokens(messages: Iterable[Any], encoding_name: str) -> int: ...
def truncate_text(text: str, max_tokens: int, encoding_name: str, keep: str, marker: str) -> str: ...
def optimize_plan(
    messages: Iterable[Any], max_tokens: int, encoding_name: str, keep_system_prompt: bool, marker: str
) -> tuple[list[int], int | None, str | None] | None: ...
def tiktoken_rank_file(encoding_name: str) -> bytes: ...

# -- the event-loop bridge (src/py_bridge.rs) --------------------------------------------------

@final
class LoopWaker:
    def fileno(self) -> int: ...
    def drain(self) -> None: ...

def loop_waker(event_loop: AbstractEventLoop) -> LoopWaker: ...

@final
class AbortOnCancel:
    def __call__(self, future: Any) -> None: ...

SIM_KNOB_NAMES: list[str]
