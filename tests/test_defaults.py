"""One source for each default: `tekton_llm_client.config`. The public constructors take their
defaults from it, and both backends' constructors (Rust and pure Python), which the clients
always call with every setting given, are proven to default to the same values."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Mapping

import pytest
from tekton_llm_client import TektonLLMClient, config
from tekton_llm_client._backend import require_native
from tekton_llm_client._pure.http import HttpClient as PureHttpClient
from tekton_llm_client._pure.websocket import WebSocketTransport as PureWebSocketTransport
from tekton_llm_client.websocket import TektonLLMWebSocketClient


def _defaults(fn: Callable[..., Any]) -> Dict[str, Any]:
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _check(found: Mapping[str, Any], expected: Mapping[str, float], where: str) -> None:
    for name, value in expected.items():
        assert name in found, f"{where} has no default for {name}"
        assert found[name] == value, f"{where}: {name} defaults to {found[name]!r}, config says {value!r}"


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_the_http_backends_default_to_config(backend: str) -> None:
    cls = require_native().HttpClient if backend == "rust" else PureHttpClient
    _check(_defaults(cls), config.HTTP_DEFAULTS, f"{backend} HttpClient")


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_the_websocket_backends_default_to_config(backend: str) -> None:
    cls = require_native().WebSocketTransport if backend == "rust" else PureWebSocketTransport
    _check(_defaults(cls), config.WEBSOCKET_DEFAULTS, f"{backend} WebSocketTransport")


def test_the_public_clients_default_to_config() -> None:
    http = _defaults(TektonLLMClient)
    renamed = {"pool_max_idle_per_host": "pool_size"}  # the client's name for the setting
    expected = {renamed.get(k, k): v for k, v in config.HTTP_DEFAULTS.items() if k not in ("timeout", "max_retries")}
    _check(http, expected, "TektonLLMClient")
    _check(_defaults(TektonLLMWebSocketClient), config.WEBSOCKET_DEFAULTS, "TektonLLMWebSocketClient")


def test_the_check_finds_a_different_default() -> None:
    def other(*, backoff_initial: float = 0.25) -> None: ...

    with pytest.raises(AssertionError, match="backoff_initial defaults to 0.25"):
        _check(_defaults(other), {"backoff_initial": config.DEFAULT_BACKOFF_INITIAL}, "other")
