"""TektonLLMClient against the older Rhetor servers that shipped (Gen A, Gen B), replayed byte for
byte from recordings (tests/rhetor_replay.py), and dialect detection against the v1 simulator.
Every test runs on both backends."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Dict, List, Mapping

import pytest
from tekton_llm_client import (
    InvalidRequestError,
    Message,
    ServiceUnavailableError,
    StreamingChunk,
    TektonLLMClient,
)
from tekton_llm_client.testing import RhetorSimulator

from . import guide_snippets as guide
from .rhetor_replay import RhetorReplay, Route, gen_a, gen_b, recorded_request, response_body

logger = logging.getLogger("dialect-test")

# The texts those servers answered (what the caller must get back, unchanged).
A_MESSAGE = response_body("genA-shim/04_post_message_nonstream")["message"]
A_CHAT = response_body("genA-shim/06_post_chat_nonstream")["message"]
B_GENERATE = response_body("genB-stubci/07_post_generate")["response"]
B_GENERATE_SYSTEM = response_body("genB-stubci/07b_post_generate_with_system")["response"]
B_CHAT = response_body("genB-stubci/05_post_chat")["content"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "RHETOR_DIALECT",
        "RHETOR_DEFAULT_PROVIDER",
        "RHETOR_DEFAULT_MODEL",
        "RHETOR_AUTH_TOKEN",
        "RHETOR_URL",
        "TEKTON_LLM_BACKEND",
    ):
        monkeypatch.delenv(name, raising=False)


def make(url: str, backend: str, **kw: Any) -> TektonLLMClient:
    kw.setdefault("backoff_initial", 0.01)
    kw.setdefault("backoff_max", 0.02)
    return TektonLLMClient("test-component", rhetor_url=url, backend=backend, **kw)


async def collect(call: Any) -> List[StreamingChunk]:
    return [c async for c in call]


# -- detection -------------------------------------------------------------------------------


async def test_detects_gen_a(backend: str) -> None:
    with gen_a() as server:
        client = make(server.url, backend)
        assert client.dialect is None
        assert await client.initialize() is True
        assert client.dialect == "gen_a"
        h = client.health_status
        assert h is not None and h.dialect == "gen_a" and h.healthy and h.version == "0.1.0"
        assert h.providers == {"anthropic": False, "openai": False, "ollama": False, "simulated": True}
        assert server.paths() == [("GET", "/api/v1/health"), ("GET", "/health")]
        await client.shutdown()


async def test_detects_gen_b(backend: str) -> None:
    with gen_b() as server:
        client = make(server.url, backend)
        assert await client.initialize() is True
        assert client.dialect == "gen_b" and client.health_status is not None
        assert client.health_status.dialect == "gen_b" and client.health_status.healthy
        assert server.paths() == [("GET", "/api/v1/health"), ("GET", "/health")]
        # a later health() asks the dialect's endpoint directly: no second detection
        assert (await client.health()).dialect == "gen_b"
        assert server.paths()[2:] == [("GET", "/health")]
        await client.shutdown()


async def test_detects_v1_with_one_request(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim.url, backend)
    assert await client.initialize() is True
    assert client.dialect == "v1" and client.health_status is not None
    assert client.health_status.dialect == "v1"
    assert [r["path"] for r in sim.requests] == ["/api/v1/health"]
    r = await client.generate_text("after detection")
    assert r.content == sim.answer_text("after detection")
    assert [r["path"] for r in sim.requests] == ["/api/v1/health", "/api/v1/chat"]
    await client.shutdown()


async def test_first_call_detects_once_when_initialize_was_not_called(backend: str) -> None:
    with gen_b() as server:
        client = make(server.url, backend)
        for _ in range(3):
            assert (await client.generate_text("Say hi")).content == B_GENERATE
        assert client.dialect == "gen_b"
        assert server.paths() == [("GET", "/api/v1/health"), ("GET", "/health")] + [("POST", "/api/v1/generate")] * 3
        await client.shutdown()


async def test_concurrent_first_calls_share_one_detection(backend: str) -> None:
    import asyncio

    with gen_a() as server:
        client = make(server.url, backend)
        out = await asyncio.gather(*(client.generate_text(f"p{i}") for i in range(8)))
        assert {r.content for r in out} == {A_MESSAGE}
        assert len(server.to("/api/v1/health")) == 1 and len(server.to("/health")) == 1
        await client.shutdown()


async def test_explicit_dialect_skips_detection(backend: str) -> None:
    with gen_a() as server:
        client = make(server.url, backend, dialect="gen_a")
        assert client.dialect == "gen_a"  # known before any request
        assert (await client.generate_text("hi")).content == A_MESSAGE
        assert server.paths() == [("POST", "/message")]
        await client.shutdown()


async def test_env_dialect_and_explicit_argument_wins(
    sim: RhetorSimulator, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RHETOR_DIALECT", "Gen-B")
    with gen_b() as server:
        client = make(server.url, backend)
        assert client.dialect == "gen_b"
        assert (
            await client.generate_chat_response([{"role": "user", "content": "x"}, {"role": "user", "content": "y"}])
        ).content == B_CHAT
        assert server.paths() == [("POST", "/api/v1/chat")]
        await client.shutdown()
    # the env names gen_b, the argument v1: the argument wins, and v1 needs no probe either
    client = make(sim.url, backend, dialect="v1")
    assert client.dialect == "v1"
    assert (await client.generate_text("v1 please")).content == sim.answer_text("v1 please")
    assert [r["path"] for r in sim.requests] == ["/api/v1/chat"]
    # "auto" means detect
    monkeypatch.setenv("RHETOR_DIALECT", "auto")
    assert make(sim.url, backend).dialect is None
    monkeypatch.setenv("RHETOR_DIALECT", "gen_c")
    with pytest.raises(ValueError, match="gen_c"):
        make(sim.url, backend)
    await client.shutdown()


# -- the guide's examples, unchanged, against each server --------------------------------------


async def test_guide_steps_against_gen_a(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with gen_a() as server:
        monkeypatch.setenv("RHETOR_URL", server.url)
        monkeypatch.setenv("TEKTON_LLM_BACKEND", backend)
        ns = await guide.run(guide.snippet("Step 3", "After:"), {"os": os})
        client = await ns["initialize_llm_client"]()
        assert client.initialized and client.dialect == "gen_a"
        ns.update(client=client, logger=logger)
        for step in ("Step 4", "Step 5", "Step 6"):
            await guide.run(guide.snippet(step, "After:"), ns)
        assert await ns["generate_response"]("Hello Rhetor") == A_MESSAGE
        assert await ns["generate_response"]("What is 2+2?", "Be brief.") == A_CHAT
        assert (
            await ns["chat_conversation"](
                [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
            )
            == A_CHAT
        )
        got: List[str] = []

        async def callback(text: str) -> None:
            got.append(text)

        await ns["stream_response"]("Stream me please", callback)
        assert got == [A_MESSAGE, ""]  # the one content chunk, then the done chunk's empty text
        # what went out: Step 3's provider/model ride inside options, never streaming=true
        for body in server.bodies("/message") + server.bodies("/chat"):
            assert body["options"]["provider"] == "anthropic"
            assert body["options"]["model"] == "claude-3-sonnet-20240229"
            assert body["streaming"] is False and body["component"] == "your-component-name"
        await client.shutdown()


async def test_guide_steps_against_gen_b(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with gen_b() as server:
        monkeypatch.setenv("RHETOR_URL", server.url)
        monkeypatch.setenv("TEKTON_LLM_BACKEND", backend)
        ns = await guide.run(guide.snippet("Step 3", "After:"), {"os": os})
        client = await ns["initialize_llm_client"]()
        assert client.initialized and client.dialect == "gen_b"
        ns.update(client=client, logger=logger)
        for step in ("Step 4", "Step 5", "Step 6"):
            await guide.run(guide.snippet(step, "After:"), ns)
        assert await ns["generate_response"]("Say hi") == B_GENERATE
        assert await ns["generate_response"]("Say hi", "You are terse.") == B_GENERATE_SYSTEM
        assert (
            await ns["chat_conversation"](
                [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
            )
            == B_CHAT
        )
        got: List[str] = []

        async def callback(text: str) -> None:
            got.append(text)

        await ns["stream_response"]("stream please", callback)
        assert got == [B_GENERATE, ""]
        assert server.to("/api/v1/chat/stream") == []  # its stream endpoint only ever errs
        for body in server.bodies("/api/v1/chat") + server.bodies("/api/v1/generate"):
            assert body["model"] == "claude-3-sonnet-20240229"
        await client.shutdown()


async def test_guide_error_handling_against_gen_a_failures(backend: str) -> None:
    ns: Dict[str, Any] = {"logger": logger}
    await guide.run(guide.snippet("Step 8"), ns)
    # HTTP 200 {"error"}: a provider that is unavailable
    with gen_a(Route("POST", "/message", "genA-shim/05c_post_message_provider_anthropic")) as server:
        ns["client"] = make(server.url, backend, max_retries=0)
        assert await ns["generate_with_error_handling"]("needs anthropic") == {"error": "Service unavailable"}
    # the unmodified server: HTTP 500 {"detail"}
    with gen_a(Route("POST", "/message", "genA/04_post_message_nonstream")) as server:
        ns["client"] = make(server.url, backend, max_retries=0)
        assert await ns["generate_with_error_handling"]("Hello Rhetor") == {"error": "Service unavailable"}


# -- what the client sends -----------------------------------------------------------------


def _accepted_keys(*recordings: str) -> set:
    keys: set = set()
    for name in recordings:
        _, _, body = recorded_request(name)
        keys |= set(body)
    return keys


async def test_gen_a_requests_have_the_shape_that_server_accepted(backend: str) -> None:
    with gen_a() as server:
        client = make(
            server.url,
            backend,
            provider_id="anthropic",
            model_id="claude-3-haiku-20240307",
            fallback_provider="simulated",
            use_fallback=False,
        )
        await client.generate_text("Hello Rhetor", temperature=0.0, max_tokens=50, context_id="test:ctx1")
        await client.generate_chat_response([Message("user", "What is 2+2?")], system_prompt="Be brief.")
        msg, chat = server.bodies("/message")[0], server.bodies("/chat")[0]
        # the same fields as the recorded /message and /chat requests the real server answered
        assert set(msg) == set(recorded_request("genA-shim/04_post_message_nonstream")[2])
        assert set(chat) == set(recorded_request("genA-shim/06_post_chat_nonstream")[2]) | {"options"}
        assert msg["message"] == "Hello Rhetor" and msg["context_id"] == "test:ctx1"
        # one prompt is task "default" with or without a system prompt (test_gen_a_task_type_…)
        assert msg["task_type"] == "default" and chat["task_type"] == "default"
        assert msg["component"] == chat["component"] == "test-component"
        # provider and model at the top of options (recording 05c), generation settings nested;
        # 0.0 is a value, sent
        assert msg["options"] == {
            "provider": "anthropic",
            "model": "claude-3-haiku-20240307",
            "options": {"temperature": 0.0, "max_tokens": 50, "fallback_provider": "simulated"},
        }
        assert set(recorded_request("genA-shim/05c_post_message_provider_anthropic")[2]["options"]) <= set(
            msg["options"]
        )
        # the system prompt travels as a leading system message, as in recording 06
        assert chat["messages"] == recorded_request("genA-shim/06_post_chat_nonstream")[2]["messages"]
        # the protocol headers ride along, one X-Request-ID per request
        for r in server.to("/message") + server.to("/chat"):
            assert r.headers["x-tekton-component"] == "test-component" and r.headers["x-request-id"]
            assert r.headers["content-type"] == "application/json"
        await client.shutdown()


async def test_gen_a_without_provider_or_options_sends_null_options(backend: str) -> None:
    with gen_a() as server:
        client = make(server.url, backend, dialect="gen_a")
        await client.generate_text("Hello Rhetor")
        assert server.bodies("/message") == [
            {
                "message": "Hello Rhetor",
                "context_id": "test-component",
                "task_type": "default",
                "component": "test-component",
                "streaming": False,
                "options": None,
            }
        ]
        await client.shutdown()


async def test_gen_b_never_sends_context_id_and_always_sends_roles(backend: str) -> None:
    accepted = _accepted_keys(
        "genB-stubci/05_post_chat",
        "genB-stubci/06_post_chat_with_model",
        "genB-stubci/07_post_generate",
        "genB-stubci/07b_post_generate_with_system",
    )
    with gen_b() as server:
        client = make(server.url, backend, model_id="gpt-4o", provider_id="openai")
        r = await client.generate_chat_response(
            [Message("system", "Be brief."), {"role": "user", "content": "What is 2+2?"}],
            context_id="my-conversation",
            temperature=0.5,
            max_tokens=100,
            options={"top_p": 0.9},
        )
        assert r.content == B_CHAT and r.model == "llama3.3:70b"
        assert r.context_id == response_body("genB-stubci/05_post_chat")["contextId"]
        assert r.usage is not None and r.usage.total_tokens == 19
        g = await client.generate_text("Say hi", system_prompt="You are terse.", context_id="ctx", temperature=0.1)
        assert g.content == B_GENERATE_SYSTEM
        chat, gen = server.bodies("/api/v1/chat")[0], server.bodies("/api/v1/generate")[0]
        assert chat == {
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
            "model": "gpt-4o",
            "temperature": 0.5,
            "max_tokens": 100,
        }
        assert gen == {"prompt": "Say hi", "system_prompt": "You are terse.", "model": "gpt-4o", "temperature": 0.1}
        for body in (chat, gen):
            assert set(body) <= accepted  # only fields the real server was seen to accept
            assert "context_id" not in body and "contextId" not in body
        await client.shutdown()


# -- errors -----------------------------------------------------------------------------------


async def test_gen_a_http_200_error_raises_and_the_fallback_provider_answers(backend: str) -> None:
    def asks(provider: str) -> Any:
        return lambda b: isinstance(b, Mapping) and (b.get("options") or {}).get("provider") == provider

    with gen_a(Route("POST", "/message", "genA-shim/05c_post_message_provider_anthropic", asks("anthropic"))) as server:
        client = make(
            server.url, backend, provider_id="anthropic", model_id="claude-3-haiku-20240307", use_fallback=False
        )
        with pytest.raises(ServiceUnavailableError) as ei:
            await client.generate_text("needs anthropic")
        assert ei.value.status_code == 200
        assert "Anthropic Claude is not available." in str(ei.value)
        assert ei.value.request_id == server.to("/message")[0].headers["x-request-id"]
        assert len(server.to("/message")) == 1  # an answer, not a transport failure: not retried
        with pytest.raises(ServiceUnavailableError):
            await collect(client.generate_text("needs anthropic", streaming=True))
        # with a fallback the client asks once more naming it, and says so
        client = make(
            server.url,
            backend,
            provider_id="anthropic",
            model_id="claude-3-haiku-20240307",
            fallback_provider="simulated",
            fallback_model="simulated-standard",
        )
        r = await client.generate_text("needs anthropic")
        assert r.fallback is True and r.provider == "simulated" and r.content == A_MESSAGE
        last = server.bodies("/message")[-1]
        assert last["options"] == {"provider": "simulated", "model": "simulated-standard"}
        await client.shutdown()


async def test_gen_a_500_detail_is_retried_then_raised(backend: str) -> None:
    with gen_a(Route("POST", "/chat", "genA/04_post_message_nonstream")) as server:
        client = make(server.url, backend, max_retries=2)
        with pytest.raises(ServiceUnavailableError) as ei:
            await client.generate_chat_response([{"role": "user", "content": "x"}, {"role": "user", "content": "y"}])
        assert ei.value.status_code == 500
        assert "'PromptEngine' object has no attribute 'get_system_prompt'" in str(ei.value)
        attempts = server.to("/chat")
        assert len(attempts) == 3 and len({a.headers["x-request-id"] for a in attempts}) == 1
        await client.shutdown()


async def test_gen_a_422_is_an_invalid_request(backend: str) -> None:
    with gen_a(Route("POST", "/message", "genA-shim/11_missing_message_field")) as server:
        client = make(server.url, backend)
        with pytest.raises(InvalidRequestError) as ei:
            await client.generate_text("x")
        assert ei.value.status_code == 422 and "Field required" in str(ei.value)
        assert len(server.to("/message")) == 1
        await client.shutdown()


async def test_gen_b_500_and_422_map_through_the_status_table(backend: str) -> None:
    with gen_b(
        Route("POST", "/api/v1/chat", "genB/05_post_chat"),
        Route("POST", "/api/v1/generate", "genB-stubci/14_chat_bad_temperature"),
    ) as server:
        client = make(server.url, backend, max_retries=0)
        with pytest.raises(ServiceUnavailableError) as e500:
            await client.generate_chat_response([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
        assert e500.value.status_code == 500 and "Could not connect to numa-ai" in str(e500.value)
        with pytest.raises(InvalidRequestError) as e422:
            await client.generate_text("x", temperature=5)
        assert e422.value.status_code == 422 and "less than or equal to 2" in str(e422.value)
        await client.shutdown()


# -- streaming and information ----------------------------------------------------------------


async def test_streaming_is_one_chunk_and_done(backend: str) -> None:
    for factory, text, model, provider in (
        (gen_a, A_MESSAGE, "simulated-standard", "simulated"),
        (gen_b, B_GENERATE, "llama3.3:70b", ""),
    ):
        with factory() as server:
            client = make(server.url, backend)
            chunks = await collect(client.generate_text("Hello Rhetor", streaming=True))
            assert [(c.chunk, c.done, c.error) for c in chunks] == [(text, False, None), ("", True, None)]
            assert all(c.model == model and c.provider == provider for c in chunks)
            # the old client's `async for … in await …` form, and collect()
            it = await client.generate_text("again", streaming=True)
            assert await it.collect() == text
            bodies = server.bodies("/message") + server.bodies("/api/v1/generate")
            assert len(bodies) == 2 and not any(b.get("streaming") for b in bodies)
            await client.shutdown()


async def test_providers_of_each_dialect(backend: str) -> None:
    with gen_a() as server:
        client = make(server.url, backend)
        p = await client.get_providers()
        assert p.default_provider == "simulated" and p.default_model == "simulated-standard"
        assert p.providers["simulated"].available and not p.providers["anthropic"].available
        assert [m.id for m in p.providers["simulated"].models] == [
            "simulated-fast",
            "simulated-standard",
            "simulated-advanced",
        ]
        assert server.paths()[-1] == ("GET", "/providers")
        await client.shutdown()
    with gen_b() as server:
        client = make(server.url, backend)
        p = await client.get_providers()
        catalogue = response_body("genB-stubci/21_get_api_models")
        assert set(p.providers) == {m["provider"] for m in catalogue}
        assert sum(len(i.models) for i in p.providers.values()) == len(catalogue)
        llama = [m for m in p.providers["ollama"].models if m.id == "llama3.3:70b"]
        assert llama and llama[0].context_length == next(
            m["context_window"] for m in catalogue if m["id"] == "llama3.3:70b"
        )
        assert p.default_provider is None
        assert server.paths()[-1] == ("GET", "/api/models/")
        await client.shutdown()


async def test_replay_server_is_byte_exact(backend: str) -> None:
    """The replay writes the recording verbatim; the client reads the same answer the real
    server gave (guards the fixture copy itself)."""
    from .rhetor_replay import FIXTURES

    raw = (FIXTURES / "genB-stubci/05_post_chat.response.bin").read_bytes()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(B_CHAT.encode() + b'"}')
    with RhetorReplay(
        [Route("POST", "/api/v1/chat", "genB-stubci/05_post_chat")], not_found="genB-stubci/19_legacy_message_404"
    ) as server:
        client = make(server.url, backend, dialect="gen_b")
        assert (
            await client.generate_chat_response([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
        ).content == B_CHAT
        await client.shutdown()


# -- the WebSocket client and the older servers ------------------------------------------------


async def test_ws_refusal_names_the_older_server(sim: RhetorSimulator, backend: str) -> None:
    from tekton_llm_client.dialects.ws_refusal import http_base_for_ws, ws_refusal
    from tekton_llm_client.exceptions import AuthenticationError, ProtocolError, TimeoutError

    assert http_base_for_ws("wss://host:1/api/llm/ws") == "https://host:1/api/llm"
    assert http_base_for_ws("ws://127.0.0.1:8003/ws/") == "http://127.0.0.1:8003"
    failed = TimeoutError("no REGISTER_ACK within 5.0s", request_id=None)
    for factory, name in ((gen_a, "gen_a"), (gen_b, "gen_b")):
        with factory() as server:
            ws_url = "ws" + server.url[len("http") :] + "/ws"
            err = await ws_refusal(ws_url, "c", backend, None, failed)
            assert isinstance(err, ProtocolError)
            assert f"dialect={name!r}" in str(err) and "TektonLLMClient" in str(err)
            assert "no REGISTER_ACK" in str(err)
            assert server.paths() == [("GET", "/api/v1/health"), ("GET", "/health")]
            # a refused token is already a clear answer: no probe
            assert await ws_refusal(ws_url, "c", backend, None, AuthenticationError("no")) is None
            assert len(server.requests) == 2
    # a v1 server: the handshake failure stands as it is
    assert await ws_refusal(sim.ws_url, "c", backend, None, failed) is None
    # nobody there: nothing to add either
    with RhetorSimulator() as gone:
        dead = gone.ws_url
    assert await ws_refusal(dead, "c", backend, None, failed) is None


async def test_guide_common_patterns_against_gen_a(
    backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """ "Handling Streaming Responses" and "Graceful Degradation", unchanged, on a Gen A Rhetor:
    the HTTP-200 {"error"} of an unavailable provider sends the client to the fallback."""
    unavailable = Route(
        "POST",
        "/message",
        "genA-shim/05c_post_message_provider_anthropic",
        lambda b: isinstance(b, Mapping) and (b.get("options") or {}).get("provider") == "anthropic",
    )
    with gen_a(unavailable) as server:
        monkeypatch.setenv("RHETOR_URL", server.url)
        monkeypatch.setenv("TEKTON_LLM_BACKEND", backend)
        ns = await guide.run(guide.snippet("Handling Streaming Responses"), {})
        await ns["streaming_example"]()
        out = capsys.readouterr().out
        assert out.startswith(A_MESSAGE) and f"Complete text ({len(A_MESSAGE)} chars)" in out
        with caplog.at_level(logging.INFO):
            ns = await guide.run(
                guide.snippet("Graceful Degradation"), {"logger": logger, "TektonLLMClient": TektonLLMClient}
            )
        r = ns["response"]
        # what really answered, as the server said: its simulated provider, via the fallback
        assert r.fallback is True and r.content == A_MESSAGE and r.provider == "simulated"
        assert "Used fallback provider: simulated" in caplog.text
        first, second = server.bodies("/message")[-2:]
        assert first["options"] == {
            "provider": "anthropic",
            "model": "claude-3-opus-20240229",
            "options": {"fallback_provider": "openai", "fallback_model": "gpt-4o"},
        }
        assert second["options"] == {"provider": "openai", "model": "gpt-4o"}


async def test_websocket_client_refuses_an_older_rhetor_clearly(backend: str) -> None:
    """Against the recorded /ws of each older server the v1 handshake fails (Gen A never sends
    REGISTER_ACK, Gen B answers {"type": "error"}); the client then says which server it is and
    what to use instead."""
    from tekton_llm_client import TektonLLMWebSocketClient
    from tekton_llm_client.exceptions import ProtocolError

    for factory, name in ((gen_a, "gen_a"), (gen_b, "gen_b")):
        with factory() as server:
            ws = TektonLLMWebSocketClient(
                "c", rhetor_url=server.url, backend=backend, connect_timeout=0.5, reconnect=False
            )
            with pytest.raises(ProtocolError) as ei:
                await ws.connect()
            assert f"dialect={name!r}" in str(ei.value) and "Use TektonLLMClient over HTTP" in str(ei.value)
            assert not ws.connected
            assert '"type": "REGISTER"' in server.ws_frames[0].replace('":"', '": "')
            assert server.paths() == [("GET", "/ws"), ("GET", "/api/v1/health"), ("GET", "/health")]
            await ws.disconnect()


# -- what each older server can take, and telling the caller when it cannot ---------------------


async def test_gen_b_gets_one_request_at_a_time(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    """Gen B fails concurrent requests with 500 (they share its one upstream socket); the client
    queues its requests to it, says so once, and every concurrent call and batch item succeeds."""
    model_time = Route("POST", "/api/v1/generate", "genB-stubci/07_post_generate", hold=0.05, busy="genB/05_post_chat")
    with gen_b(model_time) as server:
        # the emulation bites: two requests at once, sent past the dialect, fail each other
        raw = make(server.url, backend, max_retries=0, dialect="v1")
        both = await asyncio.gather(
            *(raw._http.request_json("POST", "/api/v1/generate", {"prompt": "x"}) for _ in range(2)),
            return_exceptions=True,
        )
        assert all(isinstance(e, ServiceUnavailableError) for e in both), both
        await raw.shutdown()
        sent_before = len(server.requests)
        client = make(server.url, backend, max_retries=0)
        with caplog.at_level(logging.INFO, logger="tekton_llm_client"):
            answers = await asyncio.gather(
                *(client.generate_text(f"p{i}") for i in range(4)), collect(client.generate_text("s", streaming=True))
            )
            batch = [r async for r in client.generate_batch([f"b{i}" for i in range(4)], concurrency=4)]
        assert [a.content for a in answers[:4]] == [B_GENERATE] * 4 and answers[4][0].chunk == B_GENERATE
        assert all(r.ok and r.content == B_GENERATE for r in batch)
        ours = server.requests[sent_before:]
        assert all(r.answered_with == "genB-stubci/07_post_generate" for r in ours if r.path == "/api/v1/generate")
        assert len([r for r in ours if r.path == "/api/v1/generate"]) == 9  # nothing failed, nothing retried
        assert caplog.text.count("one request at a time") == 1
        await client.shutdown()


async def test_failed_detection_names_detection_and_is_remembered(backend: str) -> None:
    broken_health = Route("GET", "/health", "genB/05_post_chat")  # a 500 {"detail"}
    with gen_b(broken_health) as server:
        client = make(server.url, backend, max_retries=1)
        with pytest.raises(ServiceUnavailableError) as ei:
            await client.generate_text("x")
        text = str(ei.value)
        assert "dialect detection" in text and "RHETOR_DIALECT" in text and "Could not connect to numa-ai" in text
        assert ei.value.status_code == 500
        probes = len(server.requests)
        with pytest.raises(ServiceUnavailableError) as again:
            await client.generate_text("y")
        assert "dialect detection" in str(again.value)
        assert len(server.requests) == probes  # remembered: no new probe, no new wait
        assert await client.initialize(raise_on_error=False) is False  # initialize() asks again
        assert len(server.requests) > probes
        # the way around it that the message names
        forced = make(server.url, backend, dialect="gen_b")
        assert (await forced.generate_text("Say hi")).content == B_GENERATE
        await client.shutdown()
        await forced.shutdown()


async def test_a_v1_health_that_answers_anything_but_404_means_v1(backend: str) -> None:
    with RhetorReplay(
        [
            Route("GET", "/api/v1/health", "genB/05_post_chat"),  # 500 there: still v1
            Route("POST", "/api/v1/chat", "genB-stubci/05_post_chat"),
        ],
        not_found="genB-stubci/19_legacy_message_404",
    ) as server:
        client = make(server.url, backend, max_retries=0)
        assert (await client.generate_text("x")).content == B_CHAT
        assert client.dialect == "v1"
        assert ("GET", "/health") not in server.paths()
        await client.shutdown()


async def test_initialize_checks_a_forced_dialect(sim: RhetorSimulator, backend: str) -> None:
    from tekton_llm_client import ProtocolError

    with gen_a() as server:
        for wrong, found in (("gen_b", "gen_a"), ("v1", "404")):
            client = make(server.url, backend, dialect=wrong)
            with pytest.raises(ProtocolError) as ei:
                await client.initialize()
            assert f"dialect={wrong!r} was forced" in str(ei.value) and found in str(ei.value)
            assert client.initialized is False
        right = make(server.url, backend, dialect="gen_a")
        assert await right.initialize() is True and right.health_status.dialect == "gen_a"  # type: ignore[union-attr]
    with gen_b() as server:
        client = make(server.url, backend, dialect="gen_a")
        with pytest.raises(ProtocolError, match="gen_b"):
            await client.initialize()
    client = make(sim.url, backend, dialect="gen_b")
    with pytest.raises(ProtocolError, match="no /health"):
        await client.initialize()
    assert await make(sim.url, backend, dialect="v1").initialize() is True


async def test_gen_a_task_type_does_not_depend_on_the_system_prompt(backend: str) -> None:
    with gen_a() as server:
        client = make(server.url, backend)
        await client.generate_text("plain")
        await client.generate_text("with a system prompt", system_prompt="Be brief.")
        await client.generate_chat_response(
            [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
        )
        await client.generate_text("explicit", system_prompt="s", options={"task_type": "code"})
        sent = [(r.path, r.json["task_type"]) for r in server.requests if r.method == "POST"]
        assert sent == [("/message", "default"), ("/chat", "default"), ("/chat", "chat"), ("/chat", "code")]
        await client.shutdown()


async def test_gen_a_unknown_provider_is_the_callers_mistake(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    recorded = "genA-shim/05c_post_message_provider_anthropic"
    unknown = Route(
        "POST",
        "/message",
        recorded,
        lambda b: isinstance(b, Mapping) and (b.get("options") or {}).get("provider") == "anthropci",
        body=b'{"error":"Provider anthropci not found","timestamp":"2026-11-25T01:06:32","context":"default"}',
    )
    with gen_a(unknown) as server:
        client = make(server.url, backend, provider_id="anthropci", fallback_provider="simulated")
        for call in (lambda: client.generate_text("x"), lambda: collect(client.generate_text("x", streaming=True))):
            with pytest.raises(InvalidRequestError) as ei:
                await call()
            assert "Provider anthropci not found" in str(ei.value) and "200 OK" not in str(ei.value)
        assert [b["options"]["provider"] for b in server.bodies("/message")] == ["anthropci"] * 2  # no fallback
        # a provider that is known but unavailable: initialize() warns
        with caplog.at_level(logging.WARNING, logger="tekton_llm_client"):
            assert await make(server.url, backend, provider_id="anthropic").initialize() is True
            assert await make(server.url, backend, provider_id="simulated").initialize() is True
        assert "'anthropic'" in caplog.text and "unavailable" in caplog.text
        assert "'simulated'" not in caplog.text
        await client.shutdown()


async def test_websocket_connect_to_gen_a_says_so_without_waiting_out_connect_timeout(backend: str) -> None:
    """Gen A answers REGISTER at once with its own envelope: that answer is enough to know the
    server does not speak v1's /ws, so connect() does not wait for a REGISTER_ACK that never comes."""
    from tekton_llm_client import TektonLLMWebSocketClient
    from tekton_llm_client.exceptions import ProtocolError

    with gen_a() as server:
        ws = TektonLLMWebSocketClient("c", rhetor_url=server.url, backend=backend, connect_timeout=600, reconnect=False)
        with pytest.raises(ProtocolError) as ei:
            await asyncio.wait_for(ws.connect(), 30)  # a hang guard: far below connect_timeout
        assert "dialect='gen_a'" in str(ei.value) and "RESPONSE" in str(ei.value)
        await ws.disconnect()
