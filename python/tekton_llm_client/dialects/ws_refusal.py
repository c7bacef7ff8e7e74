"""Why a WebSocket handshake failed, when the server is an older Rhetor.

Neither older server speaks protocol v1's `/ws` (Gen A answers REGISTER with its own
`{"type": "RESPONSE", "source": "SYSTEM", …}` envelope, Gen B with `{"type": "error"}`), so the
WebSocket client's handshake fails with a timeout or a confusing error. After such a failure —
never on a v1 server that answers in time — `connect_within` asks the server's HTTP side which
Rhetor it is and, when it is not v1, raises a clear error that says so and what to use instead,
all within the caller's connect_timeout.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Optional, TypeVar

from .._backend import http_transport
from ..exceptions import AuthenticationError, ProtocolError, TektonLLMError
from . import detect

__all__ = ["connect_within", "http_base_for_ws", "older_dialect", "ws_refusal"]

T = TypeVar("T")

_LABELS = {"gen_a": "Gen A (spring 2025)", "gen_b": "Gen B (summer 2025 on)"}


def http_base_for_ws(ws_url: str) -> str:
    """The HTTP base URL behind a WebSocket URL: ws→http, wss→https, a trailing `/ws` removed."""
    base = ws_url
    if base.startswith("wss://"):
        base = "https://" + base[len("wss://") :]
    elif base.startswith("ws://"):
        base = "http://" + base[len("ws://") :]
    base = base.split("?", 1)[0].rstrip("/")
    return base[: -len("/ws")] if base.endswith("/ws") else base


async def connect_within(
    connecting: Awaitable[T], ws_url: str, component_id: str, backend: str, auth_token: Optional[str], budget: float
) -> T:
    """Await `connecting` (a v1 handshake that holds itself to `budget` seconds); when it fails,
    say which older Rhetor answered — the whole within `budget`.

    The probe gets what is left of the budget. When the handshake is still waiting at a quarter of the
    budget the probe starts alongside it, so that a handshake that times out (Gen A never sends
    REGISTER_ACK) still leaves the probe its time; a handshake that succeeds cancels it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    handshake = asyncio.ensure_future(connecting)
    probe: Optional["asyncio.Future[Optional[str]]"] = None

    def start_probe() -> "asyncio.Future[Optional[str]]":
        return asyncio.ensure_future(older_dialect(ws_url, component_id, backend, auth_token, deadline - loop.time()))

    try:
        done, _ = await asyncio.wait({handshake}, timeout=budget / 4)
        if not done:
            probe = start_probe()
        try:
            return await handshake
        except TektonLLMError as failure:
            if isinstance(failure, AuthenticationError):
                raise
            if probe is None:
                if deadline - loop.time() <= 0:
                    raise
                probe = start_probe()
            try:
                name = await asyncio.wait_for(probe, max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                name = None
            refusal = _refusal(name, http_base_for_ws(ws_url), failure)
            if refusal is None:
                raise
            raise refusal from failure
    finally:
        for task in (handshake, probe):
            if task is not None and not task.done():
                task.cancel()


async def older_dialect(
    ws_url: str, component_id: str, backend: str, auth_token: Optional[str], timeout: float
) -> Optional[str]:
    """The dialect of the server behind `ws_url` as its HTTP side says, within `timeout`
    seconds; None when it cannot tell (unreachable, too slow, not a Rhetor)."""
    if timeout <= 0:
        return None
    try:
        http = http_transport(
            backend,
            http_base_for_ws(ws_url),
            component_id,
            {"auth_token": auth_token, "timeout": timeout, "connect_timeout": min(timeout, 5.0), "max_retries": 0},
        )
    except (ValueError, ImportError):
        return None
    try:
        name, _ = await asyncio.wait_for(detect(http), timeout)
        return name
    except (TektonLLMError, asyncio.TimeoutError):
        return None
    finally:
        http.close()


def _refusal(name: Optional[str], base: str, failure: TektonLLMError) -> Optional[ProtocolError]:
    if name not in _LABELS:
        return None
    return ProtocolError(
        f"Rhetor at {base} is the older {_LABELS[name]} server, which does not speak the v1 "
        f"WebSocket protocol (REGISTER → REGISTER_ACK) — the handshake failed with: {failure.message}. "
        f"Use TektonLLMClient over HTTP instead: it detects this server and translates "
        f"(dialect={name!r}).",
        request_id=failure.request_id,
    )


async def ws_refusal(
    ws_url: str,
    component_id: str,
    backend: str,
    auth_token: Optional[str],
    failure: TektonLLMError,
    timeout: float = 5.0,
) -> Optional[ProtocolError]:
    """A ProtocolError naming the older dialect at `ws_url`, or None (v1, unknown, unreachable,
    or a refused token — those failures already say what they are)."""
    if isinstance(failure, AuthenticationError):
        return None
    name = await older_dialect(ws_url, component_id, backend, auth_token, timeout)
    return _refusal(name, http_base_for_ws(ws_url), failure)
