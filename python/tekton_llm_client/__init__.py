"""tekton-llm-client: Tekton's client for Rhetor, the LLM router.

from tekton_llm_client import TektonLLMClient
client = TektonLLMClient(component_id="my-component")
response = await client.generate_text("Hello")
async for chunk in client.generate_text("Hello", streaming=True): ...
"""

from __future__ import annotations

from importlib import resources as _resources
from pathlib import Path as _Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .client import ChatCall, ChunkIterator, TektonLLMClient
from .exceptions import (
    AuthenticationError,
    ConnectionError,
    InvalidRequestError,
    LimitExceededError,
    ProtocolError,
    RateLimitError,
    RedirectError,
    ServiceUnavailableError,
    StreamInterruptedError,
    TektonLLMError,
    TimeoutError,
)
from .models import (
    CompletionResponse,
    HealthStatus,
    Message,
    ModelInfo,
    ProviderInfo,
    ProvidersResponse,
    StreamingChunk,
    Usage,
)

if TYPE_CHECKING:
    from .websocket import TektonLLMWebSocketClient


__all__ = [
    "__version__",
    "TektonLLMClient",
    "TektonLLMWebSocketClient",
    "ChatCall",
    "ChunkIterator",
    "CompletionResponse",
    "StreamingChunk",
    "Message",
    "Usage",
    "ModelInfo",
    "ProviderInfo",
    "ProvidersResponse",
    "HealthStatus",
    "TektonLLMError",
    "InvalidRequestError",
    "AuthenticationError",
    "TimeoutError",
    "RateLimitError",
    "ServiceUnavailableError",
    "ConnectionError",
    "StreamInterruptedError",
    "ProtocolError",
    "LimitExceededError",
    "RedirectError",
    "static_path",
]


def static_path() -> _Path:
    """The folder holding `js/tekton-llm-client.js` (+ `.mjs`, `.d.ts`) and `demo.html`, for
    components that serve the browser client themselves."""
    return _Path(str(_resources.files(__name__) / "static"))


def __getattr__(name: str) -> Any:
    # The WebSocket client loads on first use: most components only need HTTP.
    if name == "TektonLLMWebSocketClient":
        from .websocket import TektonLLMWebSocketClient

        return TektonLLMWebSocketClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
