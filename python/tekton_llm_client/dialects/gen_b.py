"""Gen B: the Rhetor of summer/autumn 2025 (ckoons/Tekton), as recorded in
rhetor-transcripts/genB and genB-stubci.

Requests
- one user message → `POST /api/v1/generate` `{prompt, system_prompt?, model?, temperature?,
  max_tokens?}` → `{response, model, usage}`;
- anything else → `POST /api/v1/chat` `{messages, model?, temperature?, max_tokens?}` →
  `{content, model, usage, contextId, metadata, response}`; a call's system prompt becomes a
  leading system message.
- Never a `context_id` (in any spelling): this server fails with HTTP 500 when one is sent. Every
  message carries a `role`: a message without one fails with HTTP 500 too.
- This server picks the provider itself: `provider_id`, the fallback options and the other
  options (stop, top_p, …) have no field here and are not sent (a debug log line says so).

Answers carry no provider: `provider` is `""` unless the answer's `metadata` names one.
`context_id` is the `contextId` the server made up for the call (chat) or None (generate).

One request at a time: Gen B serves every request over its one socket to its model backend and
closes that socket when a request ends, so a second request in flight fails the first (and
itself) with HTTP 500 — a retry then runs the model again. The translator therefore sends its
requests one after another (per event loop), and says so once in an INFO log line. Concurrency
asked of the client (batch, bench, `asyncio.gather`) still works: it only queues.

Health is `GET /health` (camelCase, no providers: `HealthStatus.providers` is `{}`). Providers
come from its model catalogue `GET /api/models/` (its `/api/v1/models` fails with HTTP 500),
grouped by provider. Gen B does not report whether a provider is reachable: every listed
provider is reported `available=True` (meaning "configured in Rhetor's catalogue").
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Dict, List, Mapping, Optional

from ..exceptions import ProtocolError
from ..models import CompletionResponse, HealthStatus, ModelInfo, ProviderInfo, ProvidersResponse, Usage
from ._translator import Translator, as_dict, error_in_200, plain_messages, single_prompt

__all__ = ["GenBTranslator", "parse_health", "looks_like_gen_b"]

NAME = "gen_b"
logger = logging.getLogger("tekton_llm_client")

# The generation settings Gen B has fields for; everything else in options is dropped.
_SENT_OPTIONS = ("temperature", "max_tokens")


def looks_like_gen_b(d: Mapping[str, Any]) -> bool:
    """Gen B's health names its component and speaks camelCase (`registeredWithHermes`)."""
    return d.get("component") == "rhetor" or "registeredWithHermes" in d


def parse_health(d: Mapping[str, Any]) -> HealthStatus:
    """Gen B's `/health` → HealthStatus(dialect="gen_b"); it lists no providers."""
    return HealthStatus(str(d.get("status", "")), d.get("version"), {}, dialect=NAME)


def _settings(model_id: Optional[str], options: Mapping[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if model_id:
        out["model"] = model_id
    for key in _SENT_OPTIONS:
        if options.get(key) is not None:
            out[key] = options[key]  # 0 and 0.0 are values: sent
    return out


class GenBTranslator(Translator):
    """Talks to a Gen B Rhetor through the backend's `request_json`, one request at a time."""

    name = NAME

    def __init__(self, http: Any, component_id: str) -> None:
        super().__init__(http, component_id)
        # One lock per event loop (an asyncio.Lock belongs to one loop).
        self._turns: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()
        logger.info(
            "Rhetor is Gen B, which serves one request at a time (a second request in flight "
            "fails both with HTTP 500): this client sends its requests to it one by one"
        )

    def _turn(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._turns.get(loop)
        if lock is None:
            lock = self._turns[loop] = asyncio.Lock()
        return lock

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
        dropped = sorted(k for k in options if k not in _SENT_OPTIONS) + (["provider_id"] if provider_id else [])
        if dropped:
            logger.debug("Gen B Rhetor has no field for %s; not sent", ", ".join(dropped))
        prompt = single_prompt(messages)
        body: Dict[str, Any]
        if prompt is not None:
            path, body = "/api/v1/generate", {"prompt": prompt}
            if system_prompt is not None:
                body["system_prompt"] = system_prompt
        else:
            path, body = "/api/v1/chat", {"messages": plain_messages(messages, system_prompt)}
        body.update(_settings(model_id, options))
        async with self._turn():
            answer = await self._http.request_json("POST", path, body, request_id)
        d = as_dict(answer, path, request_id, self._redact)
        text = d.get("content", d.get("response"))
        if not isinstance(text, str):
            if "error" in d:
                raise error_in_200(d, request_id, self._redact)
            raise ProtocolError(self._redact(f"{path} answered without content: {str(d)[:200]}"), request_id=request_id)
        raw_meta = d.get("metadata")
        meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
        usage = d.get("usage")
        ctx = d.get("contextId", d.get("context_id"))
        return CompletionResponse(
            text,
            model=str(d.get("model") or ""),
            provider=str(meta.get("provider") or ""),
            usage=Usage.from_mapping(usage) if isinstance(usage, Mapping) else None,
            context_id=ctx if isinstance(ctx, str) else None,
            timestamp=d.get("timestamp"),
        )

    async def health(self) -> HealthStatus:
        return parse_health(as_dict(await self._http.get_json("/health"), "/health", "", self._redact))

    async def providers(self) -> ProvidersResponse:
        catalogue = await self._http.get_json("/api/models/")
        if not isinstance(catalogue, list):
            raise ProtocolError(self._redact(f"/api/models/ answered {str(catalogue)[:200]!r}, not a list of models"))
        providers: Dict[str, ProviderInfo] = {}
        for m in catalogue:
            if not isinstance(m, Mapping) or not m.get("id"):
                continue
            pid = str(m.get("provider") or "unknown")
            info = providers.setdefault(pid, ProviderInfo(pid, pid, True, []))
            ctx = m.get("context_window", m.get("context_length"))
            info.models.append(
                ModelInfo(str(m["id"]), str(m.get("name") or m["id"]), int(ctx) if isinstance(ctx, int) else None)
            )
        return ProvidersResponse(providers)
