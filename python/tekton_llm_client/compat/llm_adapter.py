"""`LLMAdapter`: the old per-component adapter surface, served by `TektonLLMClient` through Rhetor.

Old code keeps working unchanged::

    adapter = LLMAdapter(api_key=os.environ.get("ANTHROPIC_API_KEY"), model="claude-3-sonnet-20240229")
    text = await adapter.generate_response("Summarise this", system_prompt="Be brief.")
    text = await adapter.chat_conversation([{"role": "user", "content": "Hi"}])
    await adapter.stream_response("Tell me a story", callback)   # callback(text) per chunk

What it does differently from the adapters it replaces
- Every call goes to Rhetor (`rhetor_url=`, else env RHETOR_URL, else http://localhost:8003);
  whichever Rhetor answers (v1, or the older Gen A / Gen B servers) is detected by the client.
- `api_key` is accepted and ignored: Rhetor holds the provider keys. `model` becomes the client's
  `model_id`, `provider` its `provider_id`; `component_id` (default "llm-adapter") is how Rhetor
  sees the caller. Any other keyword (timeout, max_retries, auth_token, backend, dialect, …) goes
  to `TektonLLMClient` as is.
- Constructing one emits one DeprecationWarning per instance (at the caller's line) naming the
  replacement calls; the methods themselves do not warn again.

Errors, as the old surface promised them
- `generate_response` and `chat_conversation` never raise for a failed call: they log it and
  return the string `"Error: <message>"`, exactly as the old adapters' `except` blocks did (the
  message is the client's, e.g. `Error: Rhetor answered 503 Service Unavailable: …`).
- `stream_response` never raises for a failed call either: the callback receives
  `"Error: <message>"` once, after whatever text had already arrived, and the stream stops.
  An exception raised by the callback itself is the caller's and propagates.
New code should use `TektonLLMClient`, whose typed exceptions tell these failures apart.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from types import TracebackType
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence, Type, Union

from ..client import TektonLLMClient

__all__ = ["LLMAdapter"]

logger = logging.getLogger("tekton_llm_client.compat")

Callback = Callable[[str], Union[None, Awaitable[Any]]]

DEPRECATION = (
    "tekton_llm_client.compat.LLMAdapter is a migration shim: use tekton_llm_client.TektonLLMClient "
    "directly — generate_response(p, s) → (await client.generate_text(p, system_prompt=s)).content, "
    "chat_conversation(m) → (await client.generate_chat_response(m)).content, "
    "stream_response(p, cb) → async for chunk in client.generate_text(p, streaming=True). "
    "See docs/migration.md."
)


class LLMAdapter:
    """The old adapter's surface over a `TektonLLMClient` (available as `.client`)."""

    def __init__(
        self,
        api_key: Optional[str] = None,
        model: Optional[str] = None,
        *,
        component_id: str = "llm-adapter",
        rhetor_url: Optional[str] = None,
        provider: Optional[str] = None,
        **client_kwargs: Any,
    ) -> None:
        warnings.warn(DEPRECATION, DeprecationWarning, stacklevel=2)
        if api_key is not None:
            # Not an error: old call sites pass their provider key; Rhetor has its own.
            logger.info("LLMAdapter: api_key is ignored; Rhetor holds the provider keys")
        self.client = TektonLLMClient(
            component_id,
            rhetor_url=rhetor_url,
            provider_id=client_kwargs.pop("provider_id", provider),
            model_id=client_kwargs.pop("model_id", model),
            **client_kwargs,
        )

    @property
    def model(self) -> Optional[str]:
        """The model asked for (None: Rhetor's default), as the old adapters exposed it."""
        return self.client.model_id

    @property
    def provider(self) -> Optional[str]:
        return self.client.provider_id

    def __repr__(self) -> str:
        return f"LLMAdapter({self.client!r})"

    async def generate_response(self, prompt: str, system_prompt: Optional[str] = None) -> str:
        """The answer's text, or `"Error: …"` when the call failed."""
        try:
            response = await self.client.generate_text(prompt, system_prompt=system_prompt)
            return str(response.content)
        except Exception as e:  # the old surface returned a string, never raised
            logger.error("Error generating response: %s", e)
            return f"Error: {e}"

    async def chat_conversation(self, messages: Sequence[Mapping[str, Any]]) -> str:
        """The answer to a conversation (`{"role", "content"}` dicts), or `"Error: …"`."""
        try:
            response = await self.client.generate_chat_response(
                [{"role": m["role"], "content": m["content"]} for m in messages]
            )
            return str(response.content)
        except Exception as e:  # the old surface returned a string, never raised
            logger.error("Error in chat conversation: %s", e)
            return f"Error: {e}"

    async def stream_response(self, prompt: str, callback: Callback) -> None:
        """Call `callback(text)` (sync or async) for each piece of the answer as it arrives; on
        failure, once more with `"Error: …"`."""
        failure: Optional[str] = None
        try:
            # `async with`: a callback that raises still closes the HTTP exchange at once
            async with self.client.generate_text(prompt, streaming=True).__aiter__() as chunks:
                async for chunk in chunks:
                    if chunk.error:
                        logger.error("Streaming error: %s", chunk.error)
                        failure = f"Error: {chunk.error}"
                        break
                    if chunk.chunk:  # the old text streams never yielded empty strings
                        await _deliver(callback, chunk.chunk)
        except _CallbackError as e:
            if e.__cause__ is None:  # pragma: no cover - _deliver always chains the callback's error
                raise
            raise e.__cause__ from None
        except Exception as e:  # the old surface reported through the callback, never raised
            logger.error("Error streaming response: %s", e)
            failure = f"Error: {e}"
        if failure is not None:
            await _deliver(callback, failure, wrap=False)

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.shutdown()

    shutdown = close

    async def __aenter__(self) -> "LLMAdapter":
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()


class _CallbackError(Exception):
    """Carries an exception raised by the caller's callback past the "Error: …" handler."""


async def _deliver(callback: Callback, text: str, wrap: bool = True) -> None:
    try:
        result = callback(text)
        if inspect.isawaitable(result):
            await result
    except Exception as e:
        if not wrap:
            raise
        raise _CallbackError() from e
