"""The arguments of one chat call, checked and completed from the client's settings.

`TektonLLMClient` (one call) and `batch.py` (many) build their calls here, so both check the
messages, temperature and max_tokens alike and name the same fallback request.
"""

from __future__ import annotations

import math

# collections.abc, not typing: every call checks its arguments, and isinstance against typing's
# aliases goes through the alias's __instancecheck__ first (0.26 against 0.09 µs for a dict).
from collections.abc import Mapping, Sequence
from typing import Dict, List, Optional, Protocol, TypedDict

from .models import Message, MessageLike

__all__ = [
    "CallArgs",
    "CallDefaults",
    "call_args",
    "checked_messages",
    "checked_max_tokens",
    "checked_temperature",
    "fallback_args",
]

# The options keys that name the fallback: the client acts on them, Rhetor is not sent them
# again on the fallback request itself.
FALLBACK_KEYS = ("fallback_provider", "fallback_model")


class CallArgs(TypedDict):
    """The keyword arguments of a transport's `chat` / `stream_chat` (besides `request_id`)."""

    system_prompt: Optional[str]
    context_id: str
    provider_id: Optional[str]
    model_id: Optional[str]
    options: Dict[str, object]


class CallDefaults(Protocol):
    """The client settings a call falls back on (`TektonLLMClient` has them as attributes)."""

    component_id: str
    provider_id: Optional[str]
    model_id: Optional[str]
    fallback_provider: Optional[str]
    fallback_model: Optional[str]
    use_fallback: bool


def checked_messages(messages: Sequence[MessageLike]) -> List[Mapping[str, object]]:
    """The conversation as mappings, each with a role and a content; TypeError / ValueError else."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError("messages must be a list of {'role': ..., 'content': ...} dicts or Message objects")
    out: List[Mapping[str, object]] = []
    for i, m in enumerate(messages):
        if isinstance(m, Message):
            out.append(m.to_dict())
        elif isinstance(m, Mapping):
            if "role" not in m or "content" not in m:
                raise ValueError(f"message {i} needs 'role' and 'content'")
            out.append(m)
        else:
            raise TypeError(f"message {i} is a {type(m).__name__}, not a dict or Message")
    if not out:
        raise ValueError("messages is empty")
    return out


def checked_temperature(value: object) -> float:
    """A temperature is a finite number, 0 or more (the upper bound is the provider's to say)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"temperature must be a number, not {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"temperature must be a finite number, 0 or more, got {value!r}")
    return value


def checked_max_tokens(value: object) -> int:
    """A whole number, 0 or more (0 is sent as given: what it means is the provider's to say)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_tokens must be a whole number, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"max_tokens must be 0 or more, got {value}")
    return value


def call_args(
    defaults: CallDefaults,
    system_prompt: Optional[str],
    options: Optional[Mapping[str, object]],
    context_id: Optional[str],
    provider_id: Optional[str],
    model_id: Optional[str],
    temperature: object,
    max_tokens: object,
) -> CallArgs:
    """The call's arguments: what the caller gave, else the client's settings."""
    if options is not None and not isinstance(options, Mapping):
        raise TypeError("options must be a dict")
    opts: Dict[str, object] = dict(options) if options else {}
    if temperature is not None:
        opts["temperature"] = checked_temperature(temperature)
    if max_tokens is not None:
        opts["max_tokens"] = checked_max_tokens(max_tokens)
    if defaults.fallback_provider and "fallback_provider" not in opts:
        opts["fallback_provider"] = defaults.fallback_provider
    if defaults.fallback_model and "fallback_model" not in opts:
        opts["fallback_model"] = defaults.fallback_model
    return {
        "system_prompt": system_prompt,
        "context_id": context_id if context_id is not None else defaults.component_id,
        "provider_id": provider_id if provider_id is not None else defaults.provider_id,
        "model_id": model_id if model_id is not None else defaults.model_id,
        "options": opts,
    }


def fallback_args(defaults: CallDefaults, args: CallArgs) -> Optional[CallArgs]:
    """The arguments of the fallback request, or None when there is no fallback to try."""
    if not defaults.use_fallback:
        return None
    opts = args["options"]
    fp, fm = opts.get("fallback_provider"), opts.get("fallback_model")
    fallback_provider = fp if isinstance(fp, str) and fp else None
    fallback_model = fm if isinstance(fm, str) and fm else None
    if fallback_provider is None and fallback_model is None:
        return None
    provider = fallback_provider or args["provider_id"]
    model = fallback_model or args["model_id"]
    if provider == args["provider_id"] and model == args["model_id"]:
        return None
    return {
        "system_prompt": args["system_prompt"],
        "context_id": args["context_id"],
        "provider_id": provider,
        "model_id": model,
        "options": {k: v for k, v in opts.items() if k not in FALLBACK_KEYS},
    }
