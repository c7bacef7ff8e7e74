"""Gen A: the Rhetor of spring 2025 (ckoons/Rhetor), as recorded in rhetor-transcripts/genA*.

Requests
- one user message and no system prompt → `POST /message`
  `{message, context_id, task_type, component, streaming: false, options}`;
- anything else → `POST /chat` `{messages, context_id, task_type, component, streaming: false,
  options}`. `/message` has no field for a system prompt (the server picks one per component), so
  a call's `system_prompt` goes to `/chat` as a leading system message, the shape recording
  `06_post_chat_nonstream` shows the server accepting.
- `task_type` (the server routes on it) follows the call, not the endpoint: `"default"` for one
  prompt (`generate_text`, with or without a system prompt), `"chat"` for a conversation, so that
  adding a system prompt does not change the model Gen A picks. A `task_type` key in the call's
  options is sent instead.
- `options` is the server's routing override: `{"provider", "model", "options": {temperature,
  max_tokens, fallback_provider, fallback_model, …}}` — provider and model ride inside it (its
  model router merges `options.options` over its own defaults). `options` is null when there is
  nothing to override, as in the recordings. A `task_type` key in the call's options is sent as
  the request's `task_type` (the server routes on it).

Answers
- `{"message", "model", "provider", "finished", "timestamp", "context"}`: the text is `message`.
- HTTP 200 `{"error", "timestamp", "context"}` is a failure: a provider it does not know
  ("Provider anthropci not found") is `InvalidRequestError` (the caller's mistake: no fallback);
  one that is unavailable is `ServiceUnavailableError`, so the client-side fallback may take over.
  Both keep `status_code=200`.
- HTTP 500 `{"detail"}` and 422 validation lists go through the backend's status mapping.

Health is `GET /health` (v1's shape) and providers `GET /providers` (v1's shape).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from ..exceptions import ProtocolError
from ..models import CompletionResponse, HealthStatus, ProvidersResponse, Usage
from ._translator import Translator, as_dict, error_in_200, plain_messages, single_prompt

__all__ = ["GenATranslator", "parse_health", "routing_options"]

NAME = "gen_a"


def parse_health(d: Mapping[str, Any]) -> HealthStatus:
    """`{"status", "version", "providers": {id: bool}}` → HealthStatus(dialect="gen_a")."""
    providers = d.get("providers")
    return HealthStatus(
        str(d.get("status", "")),
        d.get("version"),
        {str(k): bool(v) for k, v in providers.items()} if isinstance(providers, Mapping) else {},
        dialect=NAME,
    )


def routing_options(
    provider_id: Optional[str], model_id: Optional[str], options: Mapping[str, Any]
) -> Optional[Dict[str, Any]]:
    """The `options` field Gen A understands: provider/model at the top, the rest nested."""
    out: Dict[str, Any] = {}
    if provider_id:
        out["provider"] = provider_id
    if model_id:
        out["model"] = model_id
    if options:
        out["options"] = dict(options)
    return out or None


class GenATranslator(Translator):
    """Talks to a Gen A Rhetor through the backend's `request_json`."""

    name = NAME

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
        prompt = single_prompt(messages)
        # The task type follows the call, not the endpoint: one prompt is "default" with or
        # without a system prompt (Gen A picks its model by task type), a conversation "chat".
        task_type = options.pop("task_type", "default" if prompt is not None else "chat")
        body: Dict[str, Any]
        if prompt is not None and system_prompt is None:
            path = "/message"
            body = {"message": prompt}
        else:
            path = "/chat"
            body = {"messages": plain_messages(messages, system_prompt)}
        body.update(
            {
                "context_id": context_id,
                "task_type": str(task_type),
                "component": self.component_id,
                "streaming": False,
                "options": routing_options(provider_id, model_id, options),
            }
        )
        d = as_dict(await self._http.request_json("POST", path, body, request_id), path, request_id, self._redact)
        if "message" not in d:
            if "error" in d:
                raise error_in_200(d, request_id, self._redact)
            raise ProtocolError(
                self._redact(f"{path} answered without a message: {str(d)[:200]}"), request_id=request_id
            )
        return CompletionResponse(
            str(d["message"]),
            model=str(d.get("model") or ""),
            provider=str(d.get("provider") or ""),
            usage=Usage.from_mapping(d["usage"]) if isinstance(d.get("usage"), Mapping) else None,
            context_id=d.get("context") if isinstance(d.get("context"), str) else context_id,
            fallback=bool(d.get("fallback", False)),
            timestamp=d.get("timestamp"),
        )

    async def health(self) -> HealthStatus:
        d = as_dict(await self._http.get_json("/health"), "/health", "", self._redact)
        return parse_health(d)

    async def providers(self) -> ProvidersResponse:
        d = as_dict(await self._http.get_json("/providers"), "/providers", "", self._redact)
        if "providers" not in d:
            raise ProtocolError(self._redact(f"/providers answered without providers: {str(d)[:200]}"))
        return ProvidersResponse.from_json(d)
