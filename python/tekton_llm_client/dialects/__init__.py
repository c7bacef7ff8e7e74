"""Dialects of Rhetor: the canonical protocol v1 and the two older servers that shipped.

`TektonLLMClient` speaks v1 through its backend's fast path (Rust core or pure Python). For the
older servers it swaps in a *translator* from this package that translates each call once, in
Python, for both backends, using only the backend's `request_json` / `get_json`:

| name | server | module |
|---|---|---|
| `"v1"` | protocol v1, docs/protocol.md (`/api/v1/chat`, SSE streaming) | the backend itself |
| `"gen_a"` | Rhetor of spring 2025 (`POST /message`, `POST /chat`) | `gen_a.py` |
| `"gen_b"` | Rhetor of summer 2025 on (`/api/v1/chat` without `context_id`, `/api/v1/generate`) | `gen_b.py` |

Choosing: an explicit `dialect=` wins, then env `RHETOR_DIALECT`; unset (or `"auto"`) means
detect: `GET /api/v1/health` answers anything but 404 → v1 (its body need not parse: a v1
server with a failing health endpoint is still v1); a 404 → `GET /health`, whose shape tells
Gen B (`"component": "rhetor"`, camelCase keys such as `registeredWithHermes`) from Gen A
(`"providers": {id: bool}` and no `component`). The client detects once and keeps the answer;
when detection fails because the server answered something unusable, the error says so and
names `dialect=` / `RHETOR_DIALECT`, and the client keeps that failure too (`initialize()` tries
again). A forced dialect is checked by `initialize()` (`verify`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from .. import config
from .._backend_interface import HttpTransport
from ..exceptions import InvalidRequestError, ProtocolError, TektonLLMError
from ..models import HealthStatus
from . import gen_a, gen_b
from ._oneshot import OneShotStream
from ._translator import Translator

__all__ = [
    "V1",
    "GEN_A",
    "GEN_B",
    "DIALECTS",
    "setting",
    "detect",
    "verify",
    "classify_health",
    "translator",
    "Translator",
    "OneShotStream",
]

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
        source = "Rhetor dialect" if explicit is not None else "RHETOR_DIALECT"
        raise ValueError(f"unknown {source} {raw!r}: use 'v1', 'gen_a', 'gen_b' or 'auto'")
    return name


def classify_health(d: Any, redact: Callable[[str], str] = str) -> Tuple[str, HealthStatus]:
    """Which older dialect answers `GET /health` with `d`, and its health. ProtocolError (quoting
    `d` through `redact`) when the shape is neither."""
    if isinstance(d, Mapping):
        if gen_b.looks_like_gen_b(d):
            return GEN_B, gen_b.parse_health(d)
        if "component" not in d and isinstance(d.get("providers"), Mapping) and "status" in d:
            return GEN_A, gen_a.parse_health(d)
    raise ProtocolError(
        redact(
            "cannot tell which Rhetor this is: /api/v1/health is missing and /health answered "
            f"{str(d)[:200]!r}; set dialect='v1', 'gen_a' or 'gen_b' (or RHETOR_DIALECT) to skip detection"
        )
    )


def _v1_health(d: Any, redact: Callable[[str], str] = str) -> HealthStatus:
    if not isinstance(d, Mapping) or "status" not in d:
        raise ProtocolError(redact(f"health answer has no status: {str(d)[:200]}"))
    providers = d.get("providers") or {}
    return HealthStatus(
        str(d["status"]),
        d.get("version"),
        {str(k): bool(v) for k, v in providers.items()} if isinstance(providers, Mapping) else {},
        dialect=V1,
    )


_HOW_TO_SKIP = "set dialect='v1', 'gen_a' or 'gen_b' (or env RHETOR_DIALECT) to skip detection"


def _detection_failed(e: TektonLLMError, what: str) -> TektonLLMError:
    """`e` (same class, status and request id) with a message that says it was detection that
    failed, and how to do without it."""
    kw: Dict[str, Any] = {"status_code": e.status_code, "request_id": e.request_id, "code": e.code}
    if hasattr(e, "retry_after"):
        kw["retry_after"] = e.retry_after
    return type(e)(f"cannot tell which Rhetor this is (dialect detection): {what}: {e.message}; {_HOW_TO_SKIP}", **kw)


async def detect(http: HttpTransport) -> Tuple[str, Optional[HealthStatus]]:
    """Probe the server behind the backend `http`; return its dialect and the health it reported
    (None when a v1 server's health answer was an error or not usable: the caller asks again).

    One request for a v1 server, two for the older ones. A v1 health path that answers anything
    but 404 means v1. No answer at all (refused, timeout) is raised as it is; a failing `/health`
    of an older server is raised naming detection and RHETOR_DIALECT.
    """
    try:
        d = await http.get_json("/api/v1/health")
    except InvalidRequestError as e:
        if e.status_code != 404:
            return V1, None
    except TektonLLMError as e:
        if e.status_code is None and not isinstance(e, ProtocolError):
            raise  # nobody answered: not a question of dialect
        return V1, None  # it answered there (an error, or a body that is not JSON): v1
    else:
        if isinstance(d, Mapping) and gen_b.looks_like_gen_b(d):
            return GEN_B, gen_b.parse_health(d)  # a Gen B that one day serves this path too
        try:
            return V1, _v1_health(d)
        except ProtocolError:
            return V1, None
    try:
        d = await http.get_json("/health")
    except TektonLLMError as e:
        raise _detection_failed(e, "/api/v1/health answered 404 (not v1) and /health failed") from e
    return classify_health(d, http.redact)


async def verify(http: HttpTransport, name: str) -> HealthStatus:
    """The health of a server the dialect `name` was forced for, after checking that it is not
    plainly another dialect (ProtocolError naming both). A health answer that fails or has no
    recognisable shape is not a contradiction: it is raised, or accepted, as for that dialect."""
    forced = f"dialect={name!r} was forced (dialect= or RHETOR_DIALECT)"
    if name == V1:
        try:
            d = await http.get_json("/api/v1/health")
        except InvalidRequestError as e:
            if e.status_code == 404:
                raise ProtocolError(
                    f"{forced}, but /api/v1/health answered 404: this is an older Rhetor; "
                    "leave dialect unset to detect it",
                    status_code=404,
                    request_id=e.request_id,
                ) from e
            raise
        if isinstance(d, Mapping) and gen_b.looks_like_gen_b(d):
            raise ProtocolError(f"{forced}, but the server's health is Gen B's; use dialect='gen_b'")
        return _v1_health(d, http.redact)
    try:
        d = await http.get_json("/health")
    except InvalidRequestError as e:
        if e.status_code == 404:
            raise ProtocolError(
                f"{forced}, but the server has no /health (404): it is not {name}; leave dialect unset to detect it",
                status_code=404,
                request_id=e.request_id,
            ) from e
        raise
    try:
        found, status = classify_health(d, http.redact)
    except ProtocolError:
        if not isinstance(d, Mapping):
            raise
        return gen_a.parse_health(d) if name == GEN_A else gen_b.parse_health(d)  # no known shape: no contradiction
    if found != name:
        raise ProtocolError(
            f"{forced}, but the server's /health has the {found} shape; "
            f"use dialect={found!r} or leave it unset to detect it"
        )
    return status


def translator(name: str, http: HttpTransport, component_id: str) -> Translator:
    """The translator for an older dialect (`gen_a` / `gen_b`) over the backend `http`."""
    if name == GEN_A:
        return gen_a.GenATranslator(http, component_id)
    if name == GEN_B:
        return gen_b.GenBTranslator(http, component_id)
    raise ValueError(f"{name!r} has no translator (v1 uses the backend directly)")
