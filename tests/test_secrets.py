"""The auth token never shows: not in exceptions (or their causes), reprs, log lines at any
level (DEBUG included, during retries and reconnects, from our loggers, the Rust core's lines
and the libraries under the pure backend), nor in the simulator's records as shown by default —
nor when a server echoes it back (a 401 body repeating the Authorization header, an error event,
an older dialect's error answer). HTTP and WebSocket, both backends."""

from __future__ import annotations

import logging
from typing import Iterator, List

import pytest
from tekton_llm_client import AuthenticationError, TektonLLMClient, TektonLLMError
from tekton_llm_client.testing import RhetorSimulator
from tekton_llm_client.websocket import TektonLLMWebSocketClient

from .peer_server import PeerServer, response, sse
from .rhetor_replay import Request

SECRET = "s3cret-Tok3n-4b9f2e"


@pytest.fixture
def auth_sim() -> Iterator[RhetorSimulator]:
    with RhetorSimulator(auth_token=SECRET) as s:
        yield s


def exception_text(e: BaseException) -> str:
    """Everything an exception shows, its causes and contexts included."""
    parts: List[str] = []
    seen = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts += [str(cur), repr(cur), repr(getattr(cur, "args", ()))]
        cur = cur.__cause__ or cur.__context__
    return "\n".join(parts)


def assert_records_redacted(sim: RhetorSimulator) -> None:
    shown = repr(sim.requests) + repr(sim.records())
    assert SECRET not in shown
    revealed = repr(sim.records(reveal_secrets=True))
    assert SECRET in revealed, "the token never reached the simulator"


async def test_http_retries_and_stream_retries_log_no_token(
    auth_sim: RhetorSimulator, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = TektonLLMClient(
        "c", rhetor_url=auth_sim.url, backend=backend, auth_token=SECRET, backoff_initial=0.01, backoff_max=0.02
    )
    with caplog.at_level(logging.DEBUG):
        r = await client.generate_text("retry", options={"sim": {"fail_status": 503, "fail_times": 2}})
        assert r.content == auth_sim.answer_text("retry")
        call = client.generate_text("cut", streaming=True, options={"sim": {"reset_times": 1}})
        text = "".join([c.chunk async for c in call])
        assert text == auth_sim.answer_text("cut")
        with pytest.raises(TektonLLMError) as ei:
            await client.generate_text("gone", options={"sim": {"fail_status": 503, "fail_times": 99}})
    assert "retrying" in caplog.text.lower() or "attempt" in caplog.text.lower(), "no retry was logged"
    assert SECRET not in caplog.text
    assert SECRET not in exception_text(ei.value)
    assert SECRET not in repr(client) and SECRET not in repr(client._http)
    assert_records_redacted(auth_sim)
    await client.shutdown()


async def test_http_wrong_token_error_hides_both_tokens(
    auth_sim: RhetorSimulator, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-" + SECRET
    client = TektonLLMClient("c", rhetor_url=auth_sim.url, backend=backend, auth_token=wrong)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(AuthenticationError) as ei:
            await client.generate_text("x")
        with pytest.raises(AuthenticationError) as es:
            async for _ in client.generate_text("x", streaming=True):
                pass
    for e in (ei.value, es.value):
        assert SECRET not in exception_text(e)
    assert SECRET not in caplog.text
    assert SECRET not in repr(auth_sim.requests)
    await client.shutdown()


async def test_websocket_reconnects_log_no_token(
    auth_sim: RhetorSimulator, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    errors: List[BaseException] = []
    ws = TektonLLMWebSocketClient(
        "c",
        ws_url=auth_sim.ws_url,
        auth_token=SECRET,
        backend=backend,
        reconnect_base_delay=0.01,
        on_error=errors.append,
    )
    with caplog.at_level(logging.DEBUG):
        await ws.connect()
        r = await ws.complete("hello", timeout=10)
        assert r.content == auth_sim.answer_text("hello")
        rid = await ws.generate("drop", options={"sim": {"ws_close_after": 1, "length": 200}})
        with pytest.raises(TektonLLMError) as ei:
            await ws.wait(rid, timeout=10)
        r = await ws.complete("again", timeout=10)  # over the reconnected socket
        assert r.content == auth_sim.answer_text("again")
        assert ws.connection_count >= 2
        text = repr(ws) + repr(ws._transport)
        await ws.disconnect()
    assert SECRET not in text
    assert SECRET not in exception_text(ei.value)
    for e in errors:
        assert SECRET not in exception_text(e)
    assert SECRET not in caplog.text
    assert_records_redacted(auth_sim)


async def test_websocket_refused_token_is_hidden(
    auth_sim: RhetorSimulator, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-" + SECRET
    ws = TektonLLMWebSocketClient(
        "c", ws_url=auth_sim.ws_url, auth_token=wrong, backend=backend, reconnect=False, connect_timeout=5
    )
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(AuthenticationError) as ei:
            await ws.connect()
    assert SECRET not in exception_text(ei.value)
    assert SECRET not in caplog.text
    assert SECRET not in repr(ws)
    assert SECRET not in repr(auth_sim.requests)


# -- servers that echo the token back ----------------------------------------------------------


def _echo(req: Request) -> bytes:
    """A server that puts the Authorization header it got into whatever it answers."""
    seen = req.headers.get("authorization", "")
    if req.path == "/api/v1/health":
        return response(200, {"status": "healthy"})
    if req.path.startswith("/unauthorized"):
        return response(401, {"detail": f"invalid credentials: {seen}"})
    if req.path.startswith("/broken"):
        return response(500, f"upstream said no to {seen}", content_type="text/plain")
    if req.path.startswith("/error200"):
        if req.path.endswith("/stream"):
            return sse({"error": f"bad key {seen}", "code": "auth"})
        return response(200, {"error": f"bad key {seen}"})
    if req.path.startswith("/midstream"):
        return sse({"chunk": "some text "}, {"error": f"lost {seen} halfway"})
    if req.path == "/message":  # Gen A's 200 {"error"} answer
        return response(200, {"error": f"Provider {seen} not found"})
    return response(404, {"detail": "Not Found"})


async def test_server_messages_that_echo_the_token_are_scrubbed(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    with PeerServer(_echo) as peer:

        def make(prefix: str, **kw: object) -> TektonLLMClient:
            kw.setdefault("dialect", "v1")
            return TektonLLMClient(
                "c",
                rhetor_url=peer.url + prefix,
                backend=backend,
                auth_token=SECRET,
                backoff_initial=0.01,
                backoff_max=0.02,
                **kw,
            )  # type: ignore[arg-type]

        errors: List[BaseException] = []
        chunks = []
        with caplog.at_level(logging.DEBUG):
            for prefix, cls in (
                ("/unauthorized", AuthenticationError),
                ("/broken", TektonLLMError),
                ("/error200", TektonLLMError),
            ):
                client = make(prefix, max_retries=1)
                with pytest.raises(cls) as ei:
                    await client.generate_text("x")
                errors.append(ei.value)
                with pytest.raises(cls) as es:
                    async for _ in client.generate_text("x", streaming=True):
                        pass
                errors.append(es.value)
                await client.shutdown()
            client = make("/midstream")
            chunks = [c async for c in client.generate_text("x", streaming=True)]
            await client.shutdown()
            client = make("", dialect="gen_a", use_fallback=False)
            with pytest.raises(TektonLLMError) as ea:
                await client.generate_text("x", provider_id="p")
            errors.append(ea.value)
            await client.shutdown()
    # the server really echoed it, and we really looked at what came back
    assert all(f"Bearer {SECRET}" == r.headers.get("authorization") for r in peer.requests)
    assert "***" in str(errors[0]) and "invalid credentials" in str(errors[0])
    assert chunks[-1].error and "halfway" in chunks[-1].error and chunks[0].chunk == "some text "
    for e in errors:
        assert SECRET not in exception_text(e)
    assert SECRET not in "".join(c.chunk + (c.error or "") for c in chunks)
    assert "retrying" in caplog.text.lower()
    assert SECRET not in caplog.text
