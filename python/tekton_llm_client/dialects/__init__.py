"""Dialects of Rhetor: the canonical protocol v1 and the two older servers that shipped.

`TektonLLMClient` speaks v1 through its backend's fast path (Rust core or pure Python). For the
older servers it swaps in a *transport* from this package that translates each call once, in
Python, for both backends, using only the backend's `request_json` / `get_json`:

| name | server | module |
|---|---|---|
| `"v1"` | PROTOCOL.md v1 (`/api/v1/chat`, SSE streaming) | the backend itself |
| `"gen_a"` | Rhetor of spring 2025 (`POST /message`, `POST /chat`) | `gen_a.py` |
| `"gen_b"` | Rhetor of summer 2025 on (`/api/v1/chat` without `context_id`, `/api/v1/generate`) | `gen_b.py` |

Choosing: an explicit `dialect=` wins, then env `RHETOR_DIALECT`; unset (or `"auto"`) means
detect: `GET /api/v1/health` answers → v1; a 404 → `GET /health`, whose shape tells Gen B
(`"component": "rhetor"`, camelCase keys such as `registeredWithHermes`) from Gen A
(`"providers": {id: bool}` and no `component`). The client detects once and keeps the answer.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

from .. import config
from ..exceptions import InvalidRequestError, ProtocolError
from ..models import HealthStatus
from . import gen_a, gen_b
from ._base import DialectTransport
from ._oneshot import OneShotStream

__all__ = ["V1", "GEN_A", "GEN_B", "DIALECTS", "setting", "detect", "classify_health", "transport",
           "DialectTransport", "OneShotStream"]

V1, GEN_A, GEN_B = "v1", "gen_a", "gen_b"
DIALECTS = (V1, GEN_A, GEN_B)
_DETECT = ("auto", "detect")


def setting(explicit: Optional[str]) -> Optional[str]:
    """The dialect asked for: `explicit`, else env RHETOR_DIALECT; None means "detect".

    Case and `-`/`_` do not matter (`"Gen-A"` is `"gen_a"`); anything else is a ValueError.
    """
    raw = config.optional_setting(explicit, "RHETOR_DIALECT")
    if raw is None:
        return None
    name = raw.strip().lower().replace("-", "_")
    if name in _DETECT or name == "":
        return None
    if name not in DIALECTS:
        raise ValueError(f"unknown Rhetor dialect {raw!r}: use 'v1', 'gen_a', 'gen_b' or 'auto'")
    return name


def classify_health(d: Any) -> Tuple[str, HealthStatus]:
    """Which older dialect answers `GET /health` with `d`, and its health. ProtocolError when
    the shape is neither."""
    if isinstance(d, Mapping):
        if gen_b.looks_like_gen_b(d):
            return GEN_B, gen_b.parse_health(d)
        if "component" not in d and isinstance(d.get("providers"), Mapping) and "status" in d:
            return GEN_A, gen_a.parse_health(d)
    raise ProtocolError(
        "cannot tell which Rhetor this is: /api/v1/health is missing and /health answered "
        f"{str(d)[:200]!r}; pass dialect='v1', 'gen_a' or 'gen_b'")


def _v1_health(d: Any) -> HealthStatus:
    if not isinstance(d, Mapping) or "status" not in d:
        raise ProtocolError(f"health answer has no status: {str(d)[:200]}")
    providers = d.get("providers") or {}
    return HealthStatus(str(d["status"]), d.get("version"),
                        {str(k): bool(v) for k, v in providers.items()} if isinstance(providers, Mapping) else {},
                        dialect=V1)


async def detect(http: Any) -> Tuple[str, HealthStatus]:
    """Probe the server behind the backend `http`; return its dialect and the health it reported.

    One request for a v1 server, two for the older ones. Errors other than the 404 that marks an
    older server (refused connection, timeout, 5xx after retries) are raised as they are.
    """
    try:
        d = await http.get_json("/api/v1/health")
    except InvalidRequestError as e:
        if e.status_code != 404:
            raise
    else:
        if isinstance(d, Mapping) and gen_b.looks_like_gen_b(d):
            return GEN_B, gen_b.parse_health(d)  # a Gen B that one day serves this path too
        return V1, _v1_health(d)
    return classify_health(await http.get_json("/health"))


def transport(name: str, http: Any, component_id: str) -> DialectTransport:
    """The transport for an older dialect (`gen_a` / `gen_b`) over the backend `http`."""
    if name == GEN_A:
        return gen_a.GenATransport(http, component_id)
    if name == GEN_B:
        return gen_b.GenBTransport(http, component_id)
    raise ValueError(f"{name!r} has no translating transport (v1 uses the backend directly)")
