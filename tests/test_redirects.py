"""Redirects: only a 307/308 within Rhetor's own origin is followed (same method, body and token).
A redirect to another origin (another port is another origin), to a weaker scheme (https →
http), or a 301/302/303 (which would turn the POST into a GET) is a RedirectError naming the
Location; nothing is sent there. Whole answers, streams and GETs, on both backends."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any, Iterator, List

import pytest
from tekton_llm_client import RedirectError, TektonLLMClient
from tekton_llm_client.testing import RhetorSimulator

from .peer_server import PeerServer, response, sse
from .rhetor_replay import Request
from .test_tls import Pki, pki  # noqa: F401 - the fixture

GUARD = 30.0
TOKEN = "redirect-s3cret-token"
ANSWER = {"content": "from the other host", "model": "m", "provider": "p"}


def make(url: str, backend: str, **kw: Any) -> TektonLLMClient:
    kw.setdefault("max_retries", 0)
    return TektonLLMClient("c", rhetor_url=url, backend=backend, dialect="v1", auth_token=TOKEN, **kw)


def answers(req: Request) -> bytes:
    """A v1 Rhetor's answers: whole, streamed, health."""
    if req.path.endswith("/stream"):
        return sse({"chunk": ANSWER["content"]}, {"chunk": "", "done": True})
    if req.path.endswith("/health"):
        return response(200, {"status": "healthy"})
    return response(200, ANSWER)


@pytest.fixture
def other() -> Iterator[PeerServer]:
    """Another origin that would answer anything it is sent."""
    with PeerServer(answers) as p:
        yield p


async def stream_text(client: TektonLLMClient, prompt: str) -> str:
    return "".join([c.chunk async for c in client.generate_text(prompt, streaming=True)])


async def every_call_refused(client: TektonLLMClient) -> List[RedirectError]:
    """The whole answer, the stream and a GET each fail with RedirectError."""
    errors = []
    for call in (
        lambda: client.generate_text("secret prompt"),
        lambda: stream_text(client, "secret prompt"),
        client.get_providers,
    ):
        with pytest.raises(RedirectError) as ei:
            await asyncio.wait_for(call(), GUARD)
        errors.append(ei.value)
    return errors


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_another_origin_is_refused(other: PeerServer, backend: str, status: int) -> None:
    with PeerServer(lambda r: response(status, headers={"Location": other.url + r.path})) as peer:
        client = make(peer.url, backend)
        for e in await every_call_refused(client):
            assert e.status_code == status
            assert other.url in str(e) and "not followed" in str(e)
        assert other.requests == []  # neither the prompt nor the token went there
        assert len(peer.requests) == 3  # one request per call: a refusal is not retried
        await client.shutdown()


async def test_same_origin_302_is_refused_not_turned_into_a_get(backend: str) -> None:
    with PeerServer(
        lambda r: (
            response(302, headers={"Location": "/elsewhere" + r.path})
            if not r.path.startswith("/elsewhere")
            else answers(r)
        )
    ) as peer:
        client = make(peer.url, backend)
        with pytest.raises(RedirectError) as ei:
            await client.generate_text("x")
        assert "307/308" in str(ei.value) and f"{peer.url}/elsewhere/api/v1/chat" in str(ei.value)
        assert [(r.method, r.path) for r in peer.requests] == [("POST", "/api/v1/chat")]
        await client.shutdown()


@pytest.mark.parametrize("status", [307, 308])
async def test_same_origin_307_308_is_followed_with_method_body_and_token(backend: str, status: int) -> None:
    def answer(r: Request) -> bytes:
        if r.path.startswith("/moved"):
            return answers(r)
        return response(status, headers={"Location": "/moved" + r.path})

    with PeerServer(answer) as peer:
        client = make(peer.url, backend)
        assert (await client.generate_text("prompt")).content == ANSWER["content"]
        assert await stream_text(client, "prompt") == ANSWER["content"]
        first, second = peer.requests[:2]
        assert (first.method, first.path, second.method, second.path) == (
            "POST",
            "/api/v1/chat",
            "POST",
            "/moved/api/v1/chat",
        )
        assert second.body == first.body and json.loads(second.body)["messages"][0]["content"] == "prompt"
        assert second.headers["authorization"] == f"Bearer {TOKEN}"
        await client.shutdown()


async def test_endless_same_origin_redirects_stop(backend: str) -> None:
    with PeerServer(lambda r: response(307, headers={"Location": r.path + "x"})) as peer:
        client = make(peer.url, backend)
        with pytest.raises(RedirectError) as ei:
            await asyncio.wait_for(client.generate_text("x"), GUARD)
        assert "too many redirects" in str(ei.value)
        assert len(peer.requests) == 6  # the request and five redirects followed
        await client.shutdown()


async def test_the_location_shown_carries_no_credentials(other: PeerServer, backend: str) -> None:
    target = other.url.replace("http://", "http://user:hunter2@")
    with PeerServer(lambda r: response(307, headers={"Location": target + r.path})) as peer:
        client = make(peer.url, backend)
        with pytest.raises(RedirectError) as ei:
            await client.generate_text("x")
        assert "hunter2" not in str(ei.value) and f"127.0.0.1:{other.port}/api/v1/chat" in str(ei.value)
        await client.shutdown()


async def test_https_to_http_is_refused(other: PeerServer, pki: Pki, backend: str) -> None:  # noqa: F811
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pki.cert), str(pki.key))
    # the same host and port, in clear text: still another origin
    with PeerServer(
        lambda r: response(307, headers={"Location": f"http://127.0.0.1:{peer.port}{r.path}"}), ssl=ctx
    ) as peer:
        client = make(peer.url, backend, ca_bundle=str(pki.ca))
        with pytest.raises(RedirectError) as ei:
            await asyncio.wait_for(client.generate_text("x"), GUARD)
        assert f"http://127.0.0.1:{peer.port}/api/v1/chat" in str(ei.value)
        assert len(peer.requests) == 1
        await client.shutdown()


async def test_the_simulator_is_unaffected(sim: RhetorSimulator, backend: str) -> None:
    client = TektonLLMClient("c", rhetor_url=sim.url, backend=backend)
    assert (await client.generate_text("hi")).content == sim.answer_text("hi")
    await client.shutdown()
