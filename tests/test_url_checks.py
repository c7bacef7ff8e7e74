"""Rhetor and WebSocket URLs are checked when a client is built: a port out of range or not a
number, a missing or unsupported scheme, no host, or credentials in the URL are a ValueError
then (never "internal error … this is a bug", never a failure on the first call). Credentials
(`user:password@`) are refused, and the error never shows them. Both backends, the client and
each backend's own HttpClient."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from tekton_llm_client import TektonLLMClient
from tekton_llm_client.websocket import TektonLLMWebSocketClient

PASSWORD = "pa55-w0rd-9f1c"

BAD_HTTP = [
    ("http://127.0.0.1:99999", "port"),
    ("http://127.0.0.1:80x", "port"),
    ("127.0.0.1:8003", "http://"),
    ("localhost:8003", "http://"),
    ("ftp://127.0.0.1:21", "http://"),
    ("ws://127.0.0.1:8003", "http://"),
    ("http://", "host"),
    (f"http://user:{PASSWORD}@127.0.0.1:8003", "credentials"),
    (f"https://{PASSWORD}@127.0.0.1:8003/api", "credentials"),
]


def backend_http(backend: str) -> Callable[..., Any]:
    if backend == "rust":
        from tekton_llm_client._backend import require_native

        return require_native().HttpClient  # type: ignore[no-any-return]
    from tekton_llm_client._pure.http import HttpClient

    return HttpClient


@pytest.mark.parametrize("url,says", BAD_HTTP)
def test_bad_rhetor_url_is_a_value_error_at_construction(url: str, says: str, backend: str) -> None:
    for build in (
        lambda: TektonLLMClient("c", rhetor_url=url, backend=backend),
        lambda: backend_http(backend)(url, "c"),
    ):
        with pytest.raises(ValueError) as ei:
            build()
        text = str(ei.value)
        assert says in text.lower() or says in text
        assert PASSWORD not in text


@pytest.mark.parametrize("url,says", BAD_HTTP[:2] + BAD_HTTP[-2:])
def test_bad_rhetor_url_from_the_environment(
    url: str, says: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RHETOR_URL", url)
    with pytest.raises(ValueError) as ei:
        TektonLLMClient("c", backend=backend)
    assert says in str(ei.value).lower() and PASSWORD not in str(ei.value)


@pytest.mark.parametrize(
    "kw",
    [
        {"ws_url": "ws://127.0.0.1:99999/ws"},
        {"ws_url": "http://127.0.0.1:8003/ws"},
        {"ws_url": f"ws://user:{PASSWORD}@127.0.0.1:8003/ws"},
        {"rhetor_url": f"http://user:{PASSWORD}@127.0.0.1:8003"},
    ],
)
def test_bad_websocket_url_is_a_value_error(kw: Any, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RHETOR_WS_URL", raising=False)
    with pytest.raises(ValueError) as ei:
        TektonLLMWebSocketClient("c", backend=backend, **kw)
    assert PASSWORD not in str(ei.value)


def test_good_urls_are_kept(backend: str) -> None:
    for url in ("http://127.0.0.1:8003", "https://rhetor.example:443/api/llm/", "http://localhost"):
        client = TektonLLMClient("c", rhetor_url=url, backend=backend)
        assert client.rhetor_url == url.rstrip("/")
    ws = TektonLLMWebSocketClient("c", rhetor_url="https://h:9/api/llm", backend=backend)
    assert ws.ws_url == "wss://h:9/api/llm/ws"


def test_cli_refuses_a_bad_url_in_one_line() -> None:
    from .test_cli import cli

    for url in (f"http://user:{PASSWORD}@127.0.0.1:1", "http://127.0.0.1:99999", "localhost:8003"):
        p = cli("generate", "x", "--url", url)
        assert p.returncode == 2 and "argument --url" in p.stderr
        assert "Traceback" not in p.stderr and PASSWORD not in p.stderr
