"""Rhetor's JSON answers → models: a whole answer (`/api/v1/chat`) and one stream event.

Fields are typed (strings, `done` and `fallback` booleans, `usage` a map of non-negative ints), and
read in snake_case or camelCase; a wrong type raises ValueError, which the caller reports as a
ProtocolError."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from ..models import StreamingChunk, Usage

__all__ = ["completion_fields", "event_chunk"]


def _get(doc: Dict[str, Any], snake: str, camel: str) -> Any:
    return doc[snake] if snake in doc else doc.get(camel)


def _str(name: str, v: Any) -> Optional[str]:
    if v is None or isinstance(v, str):
        return v
    raise ValueError(f"`{name}` is a {type(v).__name__}, not a string")


def _count(name: str, v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v
    raise ValueError(f"`usage.{name}` is not a non-negative integer")


_USAGE_NAMES = (
    ("prompt_tokens", ("prompt_tokens", "promptTokens", "input_tokens")),
    ("completion_tokens", ("completion_tokens", "completionTokens", "output_tokens")),
    ("total_tokens", ("total_tokens", "totalTokens")),
)


def _usage(v: Any) -> Optional[Usage]:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise ValueError("`usage` is not an object")
    counts: Dict[str, Optional[int]] = {}
    for field, names in _USAGE_NAMES:
        value = next((v[n] for n in names if n in v), None)
        counts[field] = None if value is None else _count(field, value)
    return Usage(counts["prompt_tokens"] or 0, counts["completion_tokens"] or 0, counts["total_tokens"])


def _bool(name: str, v: Any) -> bool:
    if v is None or isinstance(v, bool):
        return v is True
    raise ValueError(f"`{name}` is not a boolean")


def completion_fields(doc: Any) -> Dict[str, Any]:
    """The fields of a whole answer, typed; `content` and `error` may be None."""
    if not isinstance(doc, dict):
        raise ValueError("the answer is not a JSON object")
    return {
        "content": _str("content", doc.get("content")),
        "model": _str("model", doc.get("model")),
        "provider": _str("provider", doc.get("provider")),
        "finish_reason": _str("finish_reason", _get(doc, "finish_reason", "finishReason")),
        "usage": _usage(doc.get("usage")),
        "context_id": _str("context_id", _get(doc, "context_id", "contextId")),
        "fallback": _bool("fallback", doc.get("fallback")),
        "timestamp": _str("timestamp", doc.get("timestamp")),
        "error": _str("error", doc.get("error")),
    }


def event_chunk(ev: Any) -> Tuple[StreamingChunk, Optional[str], Optional[str]]:
    """One decoded stream event → (chunk, the event's `error`, its `code`)."""
    if not isinstance(ev, dict):
        raise ValueError("the event is not a JSON object")
    done = ev.get("done", False)
    if not isinstance(done, bool):
        raise ValueError("`done` is not a boolean")
    chunk = StreamingChunk(
        _str("chunk", ev.get("chunk")) or "",
        done,
        None,
        _str("model", ev.get("model")),
        _str("provider", ev.get("provider")),
        _bool("fallback", ev.get("fallback")),
        _str("finish_reason", _get(ev, "finish_reason", "finishReason")),
        _usage(ev.get("usage")),
        _str("context_id", _get(ev, "context_id", "contextId")),
        _str("timestamp", ev.get("timestamp")),
    )
    return chunk, _str("error", ev.get("error")), _str("code", ev.get("code"))
