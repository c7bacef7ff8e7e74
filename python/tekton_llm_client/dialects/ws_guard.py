"""Why a WebSocket handshake failed, when the server is an older Rhetor.

Neither older server speaks protocol v1's `/ws` (Gen A answers REGISTER with its own
`{"type": "RESPONSE", "source": "SYSTEM", …}` envelope, Gen B with `{"type": "error"}`), so the
WebSocket client's handshake fails with a timeout or a confusing error. After such a failure —
never on the v1 path — `ws_refusal` asks the server's HTTP side which Rhetor it is and, when it is
not v1, returns a clear error that says so and what to use instead.
"""

from __future__ import annotations

from typing import Optional

from ..exceptions import AuthenticationError, ProtocolError, TektonLLMError

__all__ = ["http_base_for_ws", "ws_refusal"]

_LABELS = {"gen_a": "Gen A (spring 2025)", "gen_b": "Gen B (summer 2025 on)"}


def http_base_for_ws(ws_url: str) -> str:
    """The HTTP base URL behind a WebSocket URL: ws→http, wss→https, a trailing `/ws` removed."""
    base = ws_url
    if base.startswith("wss://"):
        base = "https://" + base[len("wss://"):]
    elif base.startswith("ws://"):
        base = "http://" + base[len("ws://"):]
    base = base.split("?", 1)[0].rstrip("/")
    return base[: -len("/ws")] if base.endswith("/ws") else base


async def ws_refusal(ws_url: str, component_id: str, backend: str, auth_token: Optional[str],
                     failure: TektonLLMError, timeout: float = 5.0) -> Optional[ProtocolError]:
    """A ProtocolError naming the older dialect at `ws_url`, or None (v1, unknown, unreachable,
    or a refused token — those failures already say what they are)."""
    if isinstance(failure, AuthenticationError):
        return None
    from ..client import _make_http  # here: client imports this package
    from . import detect

    base = http_base_for_ws(ws_url)
    try:
        http = _make_http(backend, base, component_id, auth_token=auth_token, timeout=timeout,
                          connect_timeout=min(timeout, 5.0), max_retries=0)
    except (ValueError, ImportError):
        return None
    try:
        name, _ = await detect(http)
    except TektonLLMError:
        return None
    finally:
        http.close()
    if name not in _LABELS:
        return None
    return ProtocolError(
        f"Rhetor at {base} is the older {_LABELS[name]} server, which does not speak the v1 "
        f"WebSocket protocol (REGISTER → REGISTER_ACK) — the handshake failed with: {failure.message}. "
        f"Use TektonLLMClient over HTTP instead: it detects this server and translates "
        f"(dialect={name!r}).",
        request_id=failure.request_id)
