"""Every numeric setting of both clients, on both backends, as an argument and (where it has one)
as an environment variable: a value out of bounds — huge, infinite, NaN, negative — is a
ValueError at construction that names the setting and its bound; never a panic, never later."""

from __future__ import annotations

import math
from typing import Any, Dict

import pytest
from tekton_llm_client import TektonLLMClient
from tekton_llm_client.config import NUMERIC_BOUNDS
from tekton_llm_client.websocket import TektonLLMWebSocketClient

URL = "http://127.0.0.1:9"  # never contacted: construction must fail first

BAD_SECONDS = [1e300, 1e20, math.inf, -math.inf, math.nan, -1.0, 10**400, 86_401.0]
BAD_COUNTS = [-1, 10**30, 1.5, math.nan, math.inf]

HTTP_SETTINGS = [
    "timeout",
    "connect_timeout",
    "stream_idle_timeout",
    "backoff_initial",
    "backoff_max",
    "max_retry_after",
    "max_retries",
    "pool_size",
    "max_response_bytes",
    "max_event_bytes",
]
WS_SETTINGS = ["connect_timeout", "reconnect_base_delay", "max_reconnect_delay", "ping_interval", "max_message_size"]
ENV_SETTINGS = {"RHETOR_TIMEOUT": "timeout", "RHETOR_MAX_RETRIES": "max_retries"}


@pytest.fixture(params=["rust", "python"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ENV_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return str(request.param)


def bad_values(setting: str) -> list[Any]:
    low, _, unit = NUMERIC_BOUNDS[setting]
    if unit == "count":
        return BAD_COUNTS + ([0] if low > 0 else [])
    return BAD_SECONDS + ([0.0] if unit == "seconds>0" else [])


def test_every_setting_of_the_clients_has_a_bound() -> None:
    assert set(HTTP_SETTINGS) | set(WS_SETTINGS) == set(NUMERIC_BOUNDS)


@pytest.mark.parametrize("setting", HTTP_SETTINGS)
def test_http_client_settings(backend: str, setting: str) -> None:
    for value in bad_values(setting):
        with pytest.raises(ValueError) as info:
            TektonLLMClient("bounds", rhetor_url=URL, backend=backend, **{setting: value})
        message = str(info.value)
        assert setting in message and ("at most" in message or "from" in message), message


@pytest.mark.parametrize("setting", WS_SETTINGS)
def test_websocket_client_settings(backend: str, setting: str) -> None:
    for value in bad_values(setting):
        with pytest.raises(ValueError) as info:
            TektonLLMWebSocketClient("bounds", rhetor_url=URL, backend=backend, **{setting: value})
        assert setting in str(info.value)


@pytest.mark.parametrize("env", sorted(ENV_SETTINGS))
def test_environment_settings(backend: str, env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for raw in ["1e300", "inf", "nan", "-1", "1e20", str(10**30)]:
        monkeypatch.setenv(env, raw)
        with pytest.raises(ValueError) as info:
            TektonLLMClient("bounds", rhetor_url=URL, backend=backend)
        assert env in str(info.value), str(info.value)


def test_values_at_the_bounds_are_accepted(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    top: Dict[str, Any] = {name: NUMERIC_BOUNDS[name][1] for name in HTTP_SETTINGS}
    c = TektonLLMClient("bounds", rhetor_url=URL, backend=backend, **top)
    assert c.timeout == 86_400.0 and c.max_retries == 100
    ws_top: Dict[str, Any] = {name: NUMERIC_BOUNDS[name][1] for name in WS_SETTINGS}
    ws = TektonLLMWebSocketClient("bounds", rhetor_url=URL, backend=backend, **ws_top)
    assert ws.ping_interval == 86_400.0
    monkeypatch.setenv("RHETOR_TIMEOUT", "86400")
    assert TektonLLMClient("bounds", rhetor_url=URL, backend=backend).timeout == 86_400.0
    zero_ok = TektonLLMClient("bounds", rhetor_url=URL, backend=backend, max_retry_after=0, max_retries=0)
    assert zero_ok.max_retries == 0


def test_the_native_bindings_refuse_rather_than_panic() -> None:
    """The Rust classes behind the facade hold the same line on their own (no PanicException)."""
    from tekton_llm_client._backend import require_native

    core = require_native()
    for name in (
        "timeout",
        "connect_timeout",
        "backoff_initial",
        "backoff_max",
        "max_retry_after",
        "stream_idle_timeout",
    ):
        for value in (1e300, math.inf, math.nan, -1.0):
            with pytest.raises(ValueError):
                core.HttpClient(URL, "bounds", **{name: value})
    for name in ("connect_timeout", "reconnect_base_delay", "max_reconnect_delay", "ping_interval"):
        for value in (1e300, math.inf, math.nan, -1.0):
            with pytest.raises(ValueError):
                core.WebSocketTransport("ws://127.0.0.1:9/ws", "bounds", **{name: value})
