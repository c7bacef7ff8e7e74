"""The WebSocket handshake on both backends: a redirect is never followed (REGISTER would carry
the token to wherever it points) and is reported with its Location; and a handshake that is
never answered ends within connect_timeout, the older-Rhetor probe included."""

from __future__ import annotations

import asyncio

import pytest
from tekton_llm_client import exceptions
from tekton_llm_client.websocket import TektonLLMWebSocketClient

from . import ws_peer

GUARD = 30.0  # hang guard, never a timing assertion

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["rust", "python"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(GUARD)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirected_upgrade_is_refused_and_names_the_location(backend: str, status: int) -> None:
    upgrades_elsewhere = []

    async def record_upgrades(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, headers = await ws_peer.read_head(reader)
        if headers.get("upgrade", "").lower() == "websocket":
            upgrades_elsewhere.append(headers)

    # (HTTP redirects of the older-Rhetor probe are the HTTP client's business, not tested here.)
    async with ws_peer.Peer(record_upgrades) as elsewhere:

        async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await ws_peer.read_head(reader)
            writer.write(
                (f"HTTP/1.1 {status} Moved\r\nLocation: {elsewhere.ws_url}\r\nContent-Length: 0\r\n\r\n").encode()
            )
            await writer.drain()

        async with ws_peer.Peer(redirect) as peer:
            c = TektonLLMWebSocketClient(
                "redirected",
                ws_url=peer.ws_url,
                backend=backend,
                auth_token="s3cret-token",
                reconnect=False,
                connect_timeout=5,
            )
            with pytest.raises(exceptions.ConnectionError) as info:
                await asyncio.wait_for(c.connect(), GUARD)
            message = str(info.value)
            assert elsewhere.ws_url in message and "not followed" in message
            assert info.value.status_code == status
            assert "s3cret-token" not in message
            assert not upgrades_elsewhere, "the redirect was followed"
            assert not c.connected


async def test_an_unanswered_handshake_ends_within_connect_timeout(backend: str) -> None:
    """TCP accepted, then silence, on the WebSocket and (the same port) on the HTTP side the
    older-Rhetor probe asks: the TimeoutError comes within connect_timeout plus a little, not
    connect_timeout plus the probe's own timeout."""
    connect_timeout = 1.0
    async with ws_peer.Peer(never_answer) as peer:
        c = TektonLLMWebSocketClient(
            "silent", ws_url=peer.ws_url, backend=backend, reconnect=False, connect_timeout=connect_timeout
        )
        try:
            # The bound is generous (no fine timing); the bug was connect_timeout + 5 s.
            await asyncio.wait_for(c.connect(), connect_timeout + 3.0)
        except exceptions.TektonLLMError as e:
            assert isinstance(e, exceptions.TimeoutError), repr(e)
        else:
            pytest.fail("connect() succeeded against a server that never answers")
        assert peer.connections >= 1
        assert not c.connected
