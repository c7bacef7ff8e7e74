"""Rhetor's WebSocket frames (JSON text) → checked dicts: the type, the request id, the text, and
typed fields read in snake_case or camelCase."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple

__all__ = ["Malformed", "bool_field", "decode", "field", "int_value", "str_field", "usage_counts"]


class Malformed(Exception):
    """A frame the client cannot read (its text says why)."""


def _preview(text: str) -> str:
    return repr(text[:80]) + ("…" if len(text) > 80 else "")


def field(obj: Dict[str, Any], snake: str, camel: str) -> Any:
    value = obj.get(snake)
    return obj.get(camel) if value is None and snake not in obj else value


def str_field(obj: Dict[str, Any], snake: str, camel: str) -> Optional[str]:
    value = field(obj, snake, camel)
    return value if isinstance(value, str) else None


def bool_field(obj: Dict[str, Any], snake: str, camel: str) -> bool:
    return field(obj, snake, camel) is True


def int_value(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_counts(obj: Dict[str, Any]) -> Optional[Tuple[int, int, int]]:
    u = obj.get("usage")
    if not isinstance(u, dict):
        return None

    def first(*names: str) -> Optional[int]:
        for n in names:
            v = int_value(u.get(n))
            if v is not None:
                return v
        return None

    p = first("prompt_tokens", "promptTokens", "input_tokens") or 0
    c = first("completion_tokens", "completionTokens", "output_tokens") or 0
    t = first("total_tokens", "totalTokens")
    return (p, c, p + c if t is None else t)


def decode(text: str) -> Dict[str, Any]:
    """Parse and check one frame; raises Malformed. CHUNK and RESPONSE frames get their request id
    as `_rid`, and their text as `_chunk` / `_content`."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise Malformed(f"not JSON ({exc}): {_preview(text)}") from None
    if not isinstance(obj, dict):
        raise Malformed(f"not a JSON object: {_preview(text)}")
    frame_type = obj.get("type")
    if not isinstance(frame_type, str):
        raise Malformed(f'no "type" field: {_preview(text)}')
    kind = frame_type.upper()
    if kind in ("CHUNK", "RESPONSE"):
        request_id = str_field(obj, "request_id", "requestId")
        if not request_id:
            raise Malformed(f'{kind} frame without "request_id"')
        obj["_rid"] = request_id
        if kind == "CHUNK":
            chunk = field(obj, "chunk", "chunk")
            if chunk is None:
                chunk = ""
            elif not isinstance(chunk, str):
                raise Malformed(f'CHUNK for request {request_id}: "chunk" is not a string')
            obj["_chunk"] = chunk
        else:
            content = str_field(obj, "content", "content")
            if content is None:
                content = str_field(obj, "response", "response")
            if content is None:
                content = str_field(obj, "message", "message")
            if content is None:
                raise Malformed(f'RESPONSE for request {request_id} has no "content"')
            obj["_content"] = content
    return obj
