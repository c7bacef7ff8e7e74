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
from typing import Optional

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


def timeout(explicit: Optional[float]) -> float:
    if explicit is not None:
        value = float(explicit)
    else:
        raw = _env("RHETOR_TIMEOUT")
        if raw is None:
            return DEFAULT_TIMEOUT
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"RHETOR_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {value!r}")
    return value


def max_retries(explicit: Optional[int]) -> int:
    if explicit is not None:
        value = int(explicit)
    else:
        raw = _env("RHETOR_MAX_RETRIES")
        if raw is None:
            return DEFAULT_MAX_RETRIES
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"RHETOR_MAX_RETRIES must be a whole number, got {raw!r}") from None
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
