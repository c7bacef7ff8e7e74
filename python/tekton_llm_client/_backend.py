"""Which backend serves this process: the Rust core (default) or the pure-Python path, and the
constructors of its transports (the interface they implement: `_backend_interface.py`).

`TEKTON_LLM_BACKEND=python` selects the pure path. If the native module cannot be loaded the pure
path is used, with one warning that says why.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Awaitable, Callable, Mapping, Optional

from ._backend_interface import (
    BatchRunner,
    ChunkStream,
    HttpSettings,
    HttpTransport,
    Messages,
    Options,
    WebSocketSettings,
    WebSocketTransport,
)
from ._call_args import CallArgs
from .models import CompletionResponse

_core: Optional[ModuleType]
_load_error: Optional[BaseException] = None
try:
    from . import _core as _core_module

    _core = _core_module
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    _core = None
    _load_error = exc

_warned = False


def native() -> Optional[ModuleType]:
    """The native module, or None when it could not be loaded."""
    return _core


def backend_name(requested: Optional[str] = None) -> str:
    """'rust' or 'python': `requested` (an explicit argument) wins over TEKTON_LLM_BACKEND."""
    global _warned
    name = (requested or os.environ.get("TEKTON_LLM_BACKEND") or "rust").strip().lower()
    if name not in ("rust", "python"):
        source = "backend" if requested else "TEKTON_LLM_BACKEND"
        raise ValueError(f"unknown {source} {name!r}: use 'rust' or 'python'")
    if name == "rust" and _core is None:
        if not _warned:
            warnings.warn(
                f"tekton_llm_client: the native core could not be loaded ({_load_error}); "
                "using the pure-Python backend",
                RuntimeWarning,
                stacklevel=2,
            )
            _warned = True
        return "python"
    return name


def require_native() -> ModuleType:
    """The native module; raises ImportError with the original reason when it is missing."""
    if _core is None:
        raise ImportError(f"tekton_llm_client._core is not available: {_load_error}")
    return _core


def http_transport(backend: str, base_url: str, component_id: str, settings: HttpSettings) -> HttpTransport:
    """The HTTP client of `backend` ('rust' or 'python', as `backend_name` says)."""
    if backend == "rust":
        require_native()  # ImportError with the reason when the module could not be loaded
        return _core_module.HttpClient(base_url, component_id, **settings)
    # Imported on first use: the Rust path never needs httpx.
    from ._pure.http import HttpClient

    return HttpClient(base_url, component_id, **settings)


def websocket_transport(backend: str, url: str, component_id: str, settings: WebSocketSettings) -> WebSocketTransport:
    """The WebSocket transport of `backend`."""
    if backend == "rust":
        require_native()
        return _core_module.WebSocketTransport(url, component_id, **settings)
    # Imported on first use: the Rust path never needs the websockets package.
    from ._pure.websocket import WebSocketTransport as PureWebSocketTransport

    return PureWebSocketTransport(url, component_id, **settings)


def batch_runner(
    native: bool,
    http: HttpTransport,
    complete: Callable[[Messages, CallArgs, Optional[str]], Awaitable[CompletionResponse]],
    concurrency: int,
    rate: Optional[float],
    burst: int,
) -> BatchRunner:
    """The runner of `generate_batch`: the Rust one (`native`, which runs the calls over the
    native `http` itself) or the asyncio one, which runs each item through `complete` (the
    client's call, with its fallback policy)."""
    if native:
        require_native()
        if isinstance(http, _core_module.HttpClient):
            return _core_module.BatchRunner(http, concurrency=concurrency, rate=rate, burst=burst)
    from ._pure.batch import BatchRunner as PureBatchRunner

    return PureBatchRunner(complete, concurrency=concurrency, rate=rate, burst=burst)


def scheduled_stream(
    http: HttpTransport,
    messages: Messages,
    at_ns: int,
    *,
    context_id: str,
    model_id: Optional[str],
    options: Optional[Options],
) -> ChunkStream:
    """A stream the native I/O thread sends itself at `at_ns` (monotonic clock): the Rust
    HttpClient's `stream_chat_at`, which `tekton-llm bench` uses to send on schedule."""
    if _load_error is None and isinstance(http, _core_module.HttpClient):
        return http.stream_chat_at(messages, at_ns=at_ns, context_id=context_id, model_id=model_id, options=options)
    raise TypeError("scheduled streams need the Rust backend's HttpClient")


def scheduled_openai_stream(http: HttpTransport, path: str, body: Mapping[str, object], at_ns: int) -> ChunkStream:
    """An OpenAI-compatible stream (`POST path` with the JSON `body`) the native I/O thread sends
    itself at `at_ns` and times at the socket: the Rust HttpClient's `stream_openai_at`, which
    `tekton-llm bench --api openai` uses."""
    if _load_error is None and isinstance(http, _core_module.HttpClient):
        return http.stream_openai_at(path, body, at_ns=at_ns)
    raise TypeError("scheduled streams need the Rust backend's HttpClient")
