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

URLs are checked when a client is built (a ValueError then, never a confusing failure on the
first call): the scheme, a host, a port in range, and no `user:password@` — credentials in a URL
would show in every repr and log line, and would replace the bearer token as Basic auth; the
token goes in `auth_token` / RHETOR_AUTH_TOKEN.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any, Callable, Optional, Sequence, TypeVar

T = TypeVar("T")

DEFAULT_URL = "http://localhost:8003"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def without_userinfo(url: str) -> str:
    """`url` for messages: any `user:password@` before the host replaced by `***@`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, end)
    if at < 0:
        return url
    return f"{scheme}{sep}***@{rest[at + 1:]}"


def check_url(url: str, schemes: Sequence[str], what: str) -> str:
    """`url` when a client can use it; otherwise a ValueError that never shows credentials."""
    shown = without_userinfo(url)
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as e:
        raise ValueError(f"invalid {what} {shown!r}: {e}") from None
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"{what} must start with {' or '.join(s + '://' for s in schemes)}, got {shown!r}")
    if not parts.hostname:
        raise ValueError(f"{what} has no host: {shown!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not carry credentials (user:password@): pass the token as "
                         f"auth_token (or RHETOR_AUTH_TOKEN), got {shown!r}")
    return url


def rhetor_url(explicit: Optional[str]) -> str:
    url = explicit if explicit is not None else (_env("RHETOR_URL") or DEFAULT_URL)
    return check_url(url.strip(), ("http", "https"), "Rhetor URL").rstrip("/")


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
    on the base URL is kept). Checked like the base URL."""
    url = explicit_ws
    if url is None and explicit_base is None:
        url = _env("RHETOR_WS_URL")
    if url is None:
        base = rhetor_url(explicit_base)
        if base.startswith("https://"):
            url = "wss://" + base[len("https://"):] + "/ws"
        else:
            url = "ws://" + base[len("http://"):] + "/ws"
    return check_url(url.strip(), ("ws", "wss"), "WebSocket URL")
