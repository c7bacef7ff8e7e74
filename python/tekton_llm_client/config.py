"""Settings from arguments and the environment. An explicit argument always wins over env.

| setting | argument | environment | default |
|---|---|---|---|
| base URL | rhetor_url | RHETOR_URL | http://localhost:8003 |
| provider | provider_id | RHETOR_DEFAULT_PROVIDER | (Rhetor's default) |
| model | model_id | RHETOR_DEFAULT_MODEL | (Rhetor's default) |
| auth token | auth_token | RHETOR_AUTH_TOKEN | none |
| timeout (s) | timeout | RHETOR_TIMEOUT | 30 |
| retries | max_retries | RHETOR_MAX_RETRIES | 3 |
| WebSocket URL | ws_url | RHETOR_WS_URL | base URL, http→ws, + /ws |
| protocol dialect | dialect | RHETOR_DIALECT | detected |
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")

DEFAULT_URL = "http://localhost:8003"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def rhetor_url(explicit: Optional[str]) -> str:
    url = explicit if explicit is not None else (_env("RHETOR_URL") or DEFAULT_URL)
    url = url.strip()
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"Rhetor URL must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def optional_setting(explicit: Optional[str], env_name: str) -> Optional[str]:
    return explicit if explicit is not None else _env(env_name)


def _number(explicit: Optional[T], env_name: str, parse: Callable[[Any], T], default: T, what: str) -> T:
    """`explicit`, else the environment variable parsed, else `default`."""
    if explicit is not None:
        return parse(explicit)
    raw = _env(env_name)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"{env_name} must be {what}, got {raw!r}") from None


def timeout(explicit: Optional[float]) -> float:
    value = _number(explicit, "RHETOR_TIMEOUT", float, DEFAULT_TIMEOUT, "a number of seconds")
    if not value > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {value!r}")
    return value


def max_retries(explicit: Optional[int]) -> int:
    value = _number(explicit, "RHETOR_MAX_RETRIES", int, DEFAULT_MAX_RETRIES, "a whole number")
    if value < 0:
        raise ValueError(f"max_retries must be 0 or more, got {value}")
    return value


def ws_url(explicit_ws: Optional[str], explicit_base: Optional[str]) -> str:
    """RHETOR_WS_URL, else the base URL with http→ws, https→wss and /ws appended (a path prefix
    on the base URL is kept)."""
    if explicit_ws is not None:
        return explicit_ws
    if explicit_base is None:
        env_ws = _env("RHETOR_WS_URL")
        if env_ws is not None:
            return env_ws
    base = rhetor_url(explicit_base)
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):] + "/ws"
    return "ws://" + base[len("http://"):] + "/ws"
