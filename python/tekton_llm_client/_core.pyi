"""Type stubs of the native module `tekton_llm_client._core` (Rust, PyO3).

The public API lives in the Python modules; these are the backend's building blocks.
"""

from typing import Any, Awaitable, Mapping, Sequence

__version__: str

# -- HTTP client (src/py_http.rs) --------------------------------------------------------------

class HttpClient:
    def __init__(
        self,
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
        max_response_bytes: int = 67108864,
        max_event_bytes: int = 8388608,
        headers: Sequence[tuple[str, str]] | None = None,
        ca_bundle: str | None = None,
    ) -> None: ...
    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        system_prompt: str | None = None,
        context_id: str = "",
        provider_id: str | None = None,
        model_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Awaitable[Any]: ...
    def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        system_prompt: str | None = None,
        context_id: str = "",
        provider_id: str | None = None,
        model_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> ChunkStream: ...
    def get_json(self, path: str, request_id: str | None = None) -> Awaitable[Any]: ...
    def request_json(self, method: str, path: str, body: Any = None,
                     request_id: str | None = None) -> Awaitable[Any]: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...

class ChunkStream:
    def take_ready(self) -> list[Any] | None: ...
    def next_batch(self) -> Awaitable[list[Any] | None]: ...
    def close(self) -> None: ...
    @property
    def request_id(self) -> str: ...

def decode_sse(reads: Sequence[bytes], max_event_bytes: int = 8388608) -> list[tuple[str, str, str | None]]: ...

# Test hook (src/py_test_hooks.rs): panics at `where` only with TEKTON_LLM_TEST_PANICS=1.
def _test_panic(where: str) -> Any: ...

# -- Rhetor simulator (src/py_sim.rs) ----------------------------------------------------------

class Simulator:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, auth_token: str | None = None,
                 unavailable_providers: list[str] | None = None, path_prefix: str | None = None,
                 record: bool = True, worker_threads: int = 1,
                 knobs: dict[str, Any] | None = None, tls_cert: str | None = None,
                 tls_key: str | None = None) -> None: ...
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

def sim_answer_text(prompt: str, system_prompt: str | None = None, length: int | None = None,
                    chunks: int | None = None, chunk_size: int | None = None) -> str: ...
def sim_split_chunks(text: str, chunks: int | None = None, chunk_size: int | None = None) -> list[str]: ...

# -- WebSocket transport (src/py_ws.rs) --------------------------------------------------------

class WebSocketTransport:
    def __init__(
        self,
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
    ) -> None: ...
    def connect(self) -> Awaitable[str]: ...
    def send(self, request_id: str, frame: str) -> Awaitable[None]: ...
    def cancel(self, request_id: str) -> bool: ...
    def next_events(self, max: int = 4096) -> Awaitable[list[tuple[Any, ...]] | None]: ...
    def close(self) -> Awaitable[None]: ...
    @property
    def connected(self) -> bool: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def connection_count(self) -> int: ...
    @property
    def in_flight(self) -> int: ...

# -- batch runner (src/py_batch.rs) ------------------------------------------------------------

class BatchRunner:
    def __init__(self, http: HttpClient, *, concurrency: int = 32, rate: float | None = None,
                 burst: int = 1) -> None: ...
    def submit(self, key: int, messages: Sequence[Mapping[str, Any]], *, system_prompt: str | None = None,
               context_id: str = "", provider_id: str | None = None, model_id: str | None = None,
               options: Mapping[str, Any] | None = None, request_id: str | None = None,
               fallback: tuple[str | None, str | None, Mapping[str, Any] | None] | None = None) -> None: ...
    def take_ready(self) -> list[tuple[int, bool, Any]]: ...
    def next_results(self) -> Awaitable[list[tuple[int, bool, Any]]]: ...
    def close(self) -> None: ...
    @property
    def pending(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def peak_in_flight(self) -> int: ...
    @property
    def closed(self) -> bool: ...

def _at_exit() -> None: ...
