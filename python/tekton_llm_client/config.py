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

Every numeric setting is checked here, once, for both backends, when a client is built: a value
outside its bounds (`NUMERIC_BOUNDS`), NaN, or infinity is a ValueError naming the setting (or
its environment variable) and the bound.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from typing import Callable, Dict, Optional, Sequence, Tuple, TypeVar

T = TypeVar("T")

DEFAULT_URL = "http://localhost:8003"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3

# The defaults of the other settings: the one place they are written on the Python side. The
# backends' constructors (src/py_http.rs, src/py_ws.rs, _pure/) take every one explicitly from the
# clients; tests/test_defaults.py proves their own defaults equal these.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_BACKOFF_INITIAL = 0.5
DEFAULT_BACKOFF_MAX = 8.0
DEFAULT_MAX_RETRY_AFTER = 60.0
DEFAULT_POOL_SIZE = 100
DEFAULT_MAX_RESPONSE_BYTES = 64 << 20
DEFAULT_MAX_EVENT_BYTES = 8 << 20
DEFAULT_WS_CONNECT_TIMEOUT = 10.0
DEFAULT_RECONNECT_BASE_DELAY = 0.25
DEFAULT_MAX_RECONNECT_DELAY = 30.0
DEFAULT_PING_INTERVAL = 20.0
DEFAULT_MAX_MESSAGE_SIZE = 16 << 20

# The backends' constructor keywords and their defaults.
HTTP_DEFAULTS: Dict[str, float] = {
    "timeout": DEFAULT_TIMEOUT,
    "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
    "max_retries": DEFAULT_MAX_RETRIES,
    "backoff_initial": DEFAULT_BACKOFF_INITIAL,
    "backoff_max": DEFAULT_BACKOFF_MAX,
    "max_retry_after": DEFAULT_MAX_RETRY_AFTER,
    "pool_max_idle_per_host": DEFAULT_POOL_SIZE,
    "max_response_bytes": DEFAULT_MAX_RESPONSE_BYTES,
    "max_event_bytes": DEFAULT_MAX_EVENT_BYTES,
}
WEBSOCKET_DEFAULTS: Dict[str, float] = {
    "connect_timeout": DEFAULT_WS_CONNECT_TIMEOUT,
    "reconnect_base_delay": DEFAULT_RECONNECT_BASE_DELAY,
    "max_reconnect_delay": DEFAULT_MAX_RECONNECT_DELAY,
    "ping_interval": DEFAULT_PING_INTERVAL,
    "max_message_size": DEFAULT_MAX_MESSAGE_SIZE,
}


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
    return f"{scheme}{sep}***@{rest[at + 1 :]}"


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
        raise ValueError(
            f"{what} must not carry credentials (user:password@): pass the token as "
            f"auth_token (or RHETOR_AUTH_TOKEN), got {shown!r}"
        )
    return url


def rhetor_url(explicit: Optional[str]) -> str:
    from_env = explicit is None and _env("RHETOR_URL") is not None
    url = explicit if explicit is not None else (_env("RHETOR_URL") or DEFAULT_URL)
    return check_url(url.strip(), ("http", "https"), "RHETOR_URL" if from_env else "Rhetor URL").rstrip("/")


def optional_setting(explicit: Optional[str], env_name: str) -> Optional[str]:
    return explicit if explicit is not None else _env(env_name)


# The longest any duration setting may be: one day. Longer is no timeout at all, and a deadline
# that far out overflows the Rust core's clock arithmetic.
MAX_SECONDS = 86_400.0

# (lowest, highest, unit) of each numeric setting; a lowest of 0.0 for seconds means 0 is
# allowed (it turns the thing off), otherwise durations must be above 0.
NUMERIC_BOUNDS: dict[str, Tuple[float, float, str]] = {
    "timeout": (0.0, MAX_SECONDS, "seconds>0"),
    "connect_timeout": (0.0, MAX_SECONDS, "seconds>0"),
    "stream_idle_timeout": (0.0, MAX_SECONDS, "seconds>0"),
    "backoff_initial": (0.0, MAX_SECONDS, "seconds>0"),
    "backoff_max": (0.0, MAX_SECONDS, "seconds>0"),
    "max_retry_after": (0.0, MAX_SECONDS, "seconds"),
    "reconnect_base_delay": (0.0, MAX_SECONDS, "seconds"),
    "max_reconnect_delay": (0.0, MAX_SECONDS, "seconds"),
    "ping_interval": (0.0, MAX_SECONDS, "seconds"),
    "max_retries": (0, 100, "count"),
    "pool_size": (0, 100_000, "count"),
    "max_response_bytes": (1, 1 << 40, "count"),
    "max_event_bytes": (1, 1 << 40, "count"),
    "max_message_size": (1, 1 << 40, "count"),
}


def check_count(name: str, value: object, *, setting: Optional[str] = None) -> int:
    """`value` as the whole-number setting `setting` (default `name`) takes, or a ValueError that
    names `name` — the argument or its environment variable — and the bound."""
    low, high, unit = NUMERIC_BOUNDS[setting or name]
    if unit != "count":
        raise KeyError(f"{setting or name} is not a count")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 3.0 is 3
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise ValueError(f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}")
    return int(value)


def check_seconds(name: str, value: object, *, setting: Optional[str] = None) -> float:
    """`value` as the duration setting `setting` (default `name`) takes, in seconds, or a
    ValueError that names `name` and the bound."""
    low, high, unit = NUMERIC_BOUNDS[setting or name]
    if unit == "count":
        raise KeyError(f"{setting or name} is not a duration")
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    try:
        seconds = float(number)
    except OverflowError:  # an int too large for a float
        seconds = math.inf
    zero_ok = unit == "seconds"
    if not ((seconds >= low if zero_ok else seconds > low) and seconds <= high):
        what = "0 or more" if zero_ok else "more than 0"
        raise ValueError(f"{name} must be a number of seconds, {what} and at most {high:g} (one day), got {value!r}")
    return seconds


def _from_env(
    explicit: object, env_name: str, parse: Callable[[str], T], what: str, setting: str
) -> Tuple[Optional[object], str]:
    """(the value, the name an error gives it): `explicit` (parsed when a str), else the
    environment variable parsed, else (None, setting)."""
    if isinstance(explicit, str):
        try:
            return parse(explicit), setting
        except ValueError:
            raise ValueError(f"{setting} must be {what}, got {explicit!r}") from None
    if explicit is not None:
        return explicit, setting
    raw = _env(env_name)
    if raw is None:
        return None, setting
    try:
        return parse(raw), env_name
    except ValueError:
        raise ValueError(f"{env_name} must be {what}, got {raw!r}") from None


def timeout(explicit: Optional[float]) -> float:
    value, name = _from_env(explicit, "RHETOR_TIMEOUT", float, "a number of seconds", "timeout")
    return DEFAULT_TIMEOUT if value is None else check_seconds(name, value, setting="timeout")


def max_retries(explicit: Optional[int]) -> int:
    value, name = _from_env(explicit, "RHETOR_MAX_RETRIES", int, "a whole number", "max_retries")
    return DEFAULT_MAX_RETRIES if value is None else check_count(name, value, setting="max_retries")


def ws_url(explicit_ws: Optional[str], explicit_base: Optional[str]) -> str:
    """RHETOR_WS_URL, else the base URL with http→ws, https→wss and /ws appended (a path prefix
    on the base URL is kept). Checked like the base URL."""
    url = explicit_ws
    if url is None and explicit_base is None:
        url = _env("RHETOR_WS_URL")
    if url is None:
        base = rhetor_url(explicit_base)
        if base.startswith("https://"):
            url = "wss://" + base[len("https://") :] + "/ws"
        else:
            url = "ws://" + base[len("http://") :] + "/ws"
    return check_url(url.strip(), ("ws", "wss"), "WebSocket URL")
