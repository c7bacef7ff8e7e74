"""What the older dialects' translators share: the `CallTransport` surface (`chat` /
`stream_chat`, `_backend_interface.py`).

A translator stands in for the backend's `HttpClient` inside `TektonLLMClient` (same keyword
arguments, same return types), so the client's fallback policy and call objects work unchanged.
It reaches the server only through the backend's `request_json(method, path, body, request_id)`,
so retries, timeouts, size limits and the status → exception mapping are the backend's, on both
the Rust and the pure-Python path.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from .._backend_interface import HttpTransport
from ..exceptions import InvalidRequestError, ProtocolError, ServiceUnavailableError, TektonLLMError
from ..models import CompletionResponse, HealthStatus, ProvidersResponse
from ._oneshot import OneShotStream

__all__ = ["Translator", "plain_messages", "single_prompt", "as_dict"]


def plain_messages(messages: Sequence[Any], system_prompt: Optional[str]) -> List[Dict[str, Any]]:
    """Messages as `{"role", "content"[, "name"]}` dicts, every one with a role (Gen B fails with
    HTTP 500 on a message without one), and the system prompt as a leading system message."""
    out: List[Dict[str, Any]] = []
    if system_prompt is not None:
        out.append({"role": "system", "content": system_prompt})
    for m in messages:
        d = m.to_dict() if hasattr(m, "to_dict") else dict(m)
        msg: Dict[str, Any] = {"role": str(d.get("role") or "user"), "content": str(d.get("content", ""))}
        if isinstance(d.get("name"), str):
            msg["name"] = d["name"]
        out.append(msg)
    return out


def single_prompt(messages: Sequence[Any]) -> Optional[str]:
    """The prompt when the call is one user message (what `generate_text` sends), else None."""
    if len(messages) != 1:
        return None
    m = messages[0]
    d = m.to_dict() if hasattr(m, "to_dict") else m
    if d.get("role") == "user" and isinstance(d.get("content"), str) and not d.get("name"):
        return str(d["content"])
    return None


def as_dict(answer: Any, path: str, request_id: str, redact: Callable[[str], str] = str) -> Mapping[str, Any]:
    """The answer as a JSON object; anything else is not this dialect (the error quotes the
    answer, through `redact`)."""
    if not isinstance(answer, Mapping):
        raise ProtocolError(
            redact(f"{path} answered {str(answer)[:200]!r}, not a JSON object"), request_id=request_id or None
        )
    return answer


# How Gen A words a provider or model it does not know ("Provider anthropci not found"), as
# against one it knows but cannot reach ("Anthropic Claude is not available.").
_UNKNOWN = re.compile(r"\bnot found\b|\bunknown (provider|model)\b", re.IGNORECASE)


def error_in_200(answer: Mapping[str, Any], request_id: str, redact: Callable[[str], str]) -> TektonLLMError:
    """A 200 that carries `{"error"}` instead of an answer (Gen A). An unknown provider or model
    is the caller's mistake: InvalidRequestError (never sent to the fallback). Anything else (a
    provider that is unavailable) is ServiceUnavailableError, which the fallback may cure. The
    status stays 200: that is what the server said."""
    text = redact(str(answer["error"]))
    if _UNKNOWN.search(text):
        return InvalidRequestError(f"Rhetor refused the request: {text}", status_code=200, request_id=request_id)
    return ServiceUnavailableError(f"Rhetor could not answer: {text}", status_code=200, request_id=request_id)


class Translator:
    """Base of the Gen A and Gen B translators. Subclasses implement `_answer`, `health`, `providers`."""

    name = ""

    def __init__(self, http: HttpTransport, component_id: str) -> None:
        self._http = http
        self.component_id = component_id

    def _redact(self, text: str) -> str:
        """Server text with the auth token blanked out (the backend knows the token)."""
        return self._http.redact(text)

    async def chat(
        self,
        messages: Sequence[Any],
        *,
        system_prompt: Optional[str] = None,
        context_id: str = "",
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        request_id: Optional[str] = None,
    ) -> CompletionResponse:
        """One whole answer, as the backend's `chat` returns it (latency and request id set)."""
        rid = request_id or str(uuid.uuid4())
        started = time.monotonic()
        resp = await self._answer(
            list(messages),
            system_prompt,
            context_id or self.component_id,
            provider_id,
            model_id,
            dict(options or {}),
            rid,
        )
        resp.latency = time.monotonic() - started
        resp.request_id = rid
        return resp

    def stream_chat(
        self,
        messages: Sequence[Any],
        *,
        system_prompt: Optional[str] = None,
        context_id: str = "",
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        request_id: Optional[str] = None,
    ) -> OneShotStream:
        """The whole answer as one chunk plus the done chunk (these servers cannot stream)."""
        rid = request_id or str(uuid.uuid4())
        return OneShotStream(
            lambda: self.chat(
                messages,
                system_prompt=system_prompt,
                context_id=context_id,
                provider_id=provider_id,
                model_id=model_id,
                options=options,
                request_id=rid,
            ),
            rid,
        )

    async def _answer(
        self,
        messages: List[Any],
        system_prompt: Optional[str],
        context_id: str,
        provider_id: Optional[str],
        model_id: Optional[str],
        options: Dict[str, Any],
        request_id: str,
    ) -> CompletionResponse:
        raise NotImplementedError

    async def health(self) -> HealthStatus:
        raise NotImplementedError

    async def providers(self) -> ProvidersResponse:
        raise NotImplementedError

    def close(self) -> None:
        self._http.close()
