"""TektonLLMClient against the simulator over real sockets, on both backends."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from tekton_llm_client import (
    AuthenticationError,
    CompletionResponse,
    ConnectionError,
    InvalidRequestError,
    Message,
    ProtocolError,
    RateLimitError,
    ServiceUnavailableError,
    StreamingChunk,
    TektonLLMClient,
    TektonLLMError,
    TimeoutError,
)
from tekton_llm_client.testing import RhetorSimulator

from .conftest import wait_until


def make(sim: RhetorSimulator, backend: str, **kw: object) -> TektonLLMClient:
    kw.setdefault("backoff_initial", 0.01)
    kw.setdefault("backoff_max", 0.05)
    return TektonLLMClient("test-component", rhetor_url=sim.url, backend=backend, **kw)  # type: ignore[arg-type]


def chat_requests(sim: RhetorSimulator) -> list[dict]:
    return [r for r in sim.requests if r["path"].endswith(("/api/v1/chat", "/api/v1/chat/stream"))]


async def collect(call) -> list[StreamingChunk]:  # type: ignore[no-untyped-def]
    return [c async for c in call]


# -- answers ---------------------------------------------------------------------------------


async def test_generate_text_returns_the_answer(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    r = await client.generate_text("hello there", system_prompt="be brief")
    assert isinstance(r, CompletionResponse)
    assert r.content == sim.answer_text("hello there", system_prompt="be brief")
    assert r.model == "sim-model-1" and r.provider == "simulator"
    assert r.fallback is False
    assert r.usage is not None and r.usage.total_tokens == r.usage["total_tokens"] > 0
    assert r.latency is not None and r.latency > 0
    assert r.request_id and r.context_id == "test-component"
    assert r.to_dict()["content"] == r.content
    body = chat_requests(sim)[-1]["json"]
    assert body["messages"] == [{"role": "user", "content": "hello there"}]
    assert body["system_prompt"] == "be brief" and body["component_id"] == "test-component"
    assert body["streaming"] is False
    await client.shutdown()


async def test_stream_joins_to_the_whole_answer(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    whole = await client.generate_text("stream me", options={"sim": {"length": 500}})
    chunks = await collect(client.generate_text("stream me", streaming=True, options={"sim": {"length": 500}}))
    assert all(isinstance(c, StreamingChunk) for c in chunks)
    assert chunks[-1].done and not any(c.done for c in chunks[:-1])
    assert all(c.error is None for c in chunks)
    assert "".join(c.chunk for c in chunks) == whole.content
    assert len(chunks) > 10
    assert chat_requests(sim)[-1]["json"]["streaming"] is True
    await client.shutdown()


async def test_old_style_async_for_over_await(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    text = ""
    async for c in await client.generate_text("old style", streaming=True):
        text += c.chunk
    assert text == sim.answer_text("old style")
    await client.shutdown()


async def test_chat_with_dicts_and_message_objects(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    msgs = [
        Message("system", "sys"),
        {"role": "user", "content": "first"},
        Message("assistant", "reply"),
        {"role": "user", "content": "second question"},
    ]
    r = await client.generate_chat_response(msgs)
    assert r.content == sim.answer_text("second question")
    sent = chat_requests(sim)[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    text = "".join([c.chunk async for c in client.generate_chat_response(msgs, streaming=True)])
    assert text == r.content
    await client.shutdown()


async def test_zero_options_are_sent_and_per_call_overrides(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, provider_id="anthropic", model_id="claude-3-haiku-20240307")
    r = await client.generate_text("z", options={"temperature": 0.0, "top_p": 0}, max_tokens=0)
    assert r.provider == "anthropic" and r.model == "claude-3-haiku-20240307"
    body = chat_requests(sim)[-1]["json"]
    assert body["options"]["temperature"] == 0.0 and body["options"]["top_p"] == 0
    assert body["options"]["max_tokens"] == 0
    assert body["provider_id"] == "anthropic"
    r = await client.generate_text("z", provider_id="openai", model_id="gpt-4o")
    assert (r.provider, r.model) == ("openai", "gpt-4o")
    await client.shutdown()


async def test_headers_on_every_request(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, auth_token=None, headers={"X-Extra": "1"})
    await client.generate_text("h")
    h = chat_requests(sim)[-1]["headers"]
    assert h["x-tekton-component"] == "test-component"
    assert h["user-agent"].startswith("tekton-llm-client/")
    assert len(h["x-request-id"]) == 36
    assert h["x-extra"] == "1"
    assert "authorization" not in h
    await client.shutdown()


async def test_path_prefix_base_url(backend: str) -> None:
    with RhetorSimulator(path_prefix="/api/llm") as sim:
        client = TektonLLMClient("c", rhetor_url=sim.root_url + "/api/llm/", backend=backend)
        r = await client.generate_text("prefixed")
        assert r.content == sim.answer_text("prefixed")
        assert sim.requests[-1]["path"] == "/api/llm/api/v1/chat"
        await client.shutdown()


# -- retries ---------------------------------------------------------------------------------


async def test_503_is_retried_with_the_same_request_id(
    sim: RhetorSimulator, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = make(sim, backend)
    with caplog.at_level(logging.WARNING, logger="tekton_llm_client"):
        r = await client.generate_text("retry", options={"sim": {"fail_status": 503, "fail_times": 2}})
    assert r.content == sim.answer_text("retry")
    reqs = chat_requests(sim)
    assert len(reqs) == 3
    assert len({q["headers"]["x-request-id"] for q in reqs}) == 1
    assert r.request_id == reqs[0]["headers"]["x-request-id"]
    assert sum("retrying" in rec.getMessage() for rec in caplog.records) == 2
    await client.shutdown()


async def test_retries_give_up_after_max_retries(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, max_retries=2)
    with pytest.raises(ServiceUnavailableError) as ei:
        await client.generate_text("down", options={"sim": {"fail_status": 503, "fail_times": 10}})
    assert ei.value.status_code == 503 and ei.value.request_id
    assert len(chat_requests(sim)) == 3
    await client.shutdown()


async def test_429_honours_retry_after_seconds_and_http_date(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    t0 = time.monotonic()
    r = await client.generate_text("rl", options={"sim": {"fail_status": 429, "retry_after": 1}})
    assert r.content == sim.answer_text("rl")
    assert time.monotonic() - t0 >= 0.9  # waited as told (a lower bound, not a speed claim)
    r = await client.generate_text(
        "rl2", options={"sim": {"fail_status": 429, "retry_after": 1, "retry_after_http_date": True}}
    )
    assert r.content == sim.answer_text("rl2")
    await client.shutdown()


async def test_retry_after_beyond_the_bound_fails_at_once(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, max_retry_after=2)
    with pytest.raises(RateLimitError) as ei:
        await client.generate_text("rl", options={"sim": {"fail_status": 429, "retry_after": 120}})
    assert ei.value.retry_after == pytest.approx(120, abs=1)
    assert len(chat_requests(sim)) == 1
    await client.shutdown()


@pytest.mark.parametrize(
    "status,exc", [(401, AuthenticationError), (400, InvalidRequestError), (422, InvalidRequestError)]
)
async def test_client_errors_are_not_retried(sim: RhetorSimulator, backend: str, status: int, exc: type) -> None:
    client = make(sim, backend)
    with pytest.raises(exc) as ei:
        await client.generate_text("no", options={"sim": {"fail_status": status, "fail_body": "detail"}})
    assert ei.value.status_code == status
    assert len(chat_requests(sim)) == 1
    await client.shutdown()


async def test_500_with_html_body(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, max_retries=1)
    with pytest.raises(ServiceUnavailableError) as ei:
        await client.generate_text("html", options={"sim": {"fail_status": 500, "fail_body": "html", "fail_times": 5}})
    assert ei.value.status_code == 500
    assert "500" in str(ei.value) and "html" in str(ei.value).lower()
    await client.shutdown()


async def test_refused_connection_is_a_connection_error(backend: str) -> None:
    with RhetorSimulator() as s:
        url = s.url
    client = TektonLLMClient("c", rhetor_url=url, backend=backend, max_retries=1, backoff_initial=0.01)
    t0 = time.monotonic()
    with pytest.raises(ConnectionError) as ei:
        await client.generate_text("x")
    assert isinstance(ei.value, TektonLLMError) and isinstance(ei.value, OSError)
    assert time.monotonic() - t0 < 10
    assert await client.initialize(raise_on_error=False) is False
    with pytest.raises(ConnectionError):
        await client.initialize()
    await client.shutdown()


# -- timeouts --------------------------------------------------------------------------------


async def test_trickling_body_cannot_outlast_the_timeout(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, timeout=0.5, max_retries=0)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        await client.generate_text("slow", options={"sim": {"trickle_ms": 50, "length": 200}})
    assert time.monotonic() - t0 < 5
    await client.shutdown()


async def test_stall_after_first_chunk_ends_in_an_error_chunk(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, timeout=5, stream_idle_timeout=0.4)
    t0 = time.monotonic()
    chunks = await collect(
        client.generate_text("stall", streaming=True, options={"sim": {"stall_after": 3, "length": 400}})
    )
    assert time.monotonic() - t0 < 5
    assert chunks[-1].error and chunks[-1].done
    assert "0.4" in chunks[-1].error
    text = "".join(c.chunk for c in chunks)
    assert sim.answer_text("stall", length=400).startswith(text) and text
    assert len(chat_requests(sim)) == 1  # never retried after delivering text
    await client.shutdown()
    assert await wait_until(lambda: sim.active_tasks == 0)


async def test_stall_before_first_chunk_is_retried_then_raised(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, stream_idle_timeout=0.2, max_retries=1)
    with pytest.raises(TimeoutError):
        await collect(client.generate_text("stall0", streaming=True, options={"sim": {"stall_after": 0}}))
    assert len(chat_requests(sim)) == 2
    await client.shutdown()


# -- broken streams --------------------------------------------------------------------------


async def test_cut_stream_keeps_what_was_delivered(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    opts = {"sim": {"cut_after": 3, "length": 400}}
    chunks = await collect(client.generate_text("cut", streaming=True, options=opts))
    last = chunks[-1]
    assert last.done and last.error and "cut" in last.error
    text = "".join(c.chunk for c in chunks)
    assert len([c for c in chunks if c.chunk]) == 3
    assert sim.answer_text("cut", length=400).startswith(text)
    assert len(chat_requests(sim)) == 1
    await client.shutdown()


async def test_cut_before_first_chunk_is_retried(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, max_retries=2)
    with pytest.raises(ConnectionError):
        await collect(client.generate_text("cut0", streaming=True, options={"sim": {"cut_after": 0}}))
    assert len(chat_requests(sim)) == 3
    await client.shutdown()


async def test_stream_without_done_is_reported(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    chunks = await collect(client.generate_text("nd", streaming=True, options={"sim": {"no_done_after": 2}}))
    assert chunks[-1].error and "done" in chunks[-1].error
    assert len([c for c in chunks if c.chunk]) == 2
    await client.shutdown()


async def test_error_event_after_chunks(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    chunks = await collect(client.generate_text("ee", streaming=True, options={"sim": {"error_after": 2}}))
    assert chunks[-1].error and chunks[-1].done
    assert len(chat_requests(sim)) == 1
    await client.shutdown()


async def test_error_event_before_any_chunk_raises(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    with pytest.raises(ServiceUnavailableError):
        await collect(client.generate_text("ee0", streaming=True, options={"sim": {"error_after": 0}}))
    await client.shutdown()


async def test_invalid_json_event(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    chunks = await collect(client.generate_text("bj", streaming=True, options={"sim": {"bad_json_after": 2}}))
    assert chunks[-1].error and "JSON" in chunks[-1].error
    with pytest.raises(ProtocolError):
        await collect(client.generate_text("bj0", streaming=True, options={"sim": {"bad_json_after": 0}}))
    await client.shutdown()


async def test_malformed_line_is_skipped_and_nothing_is_lost(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    chunks = await collect(client.generate_text("ml", streaming=True, options={"sim": {"malformed_after": 2}}))
    assert chunks[-1].done and chunks[-1].error is None
    assert "".join(c.chunk for c in chunks) == sim.answer_text("ml")
    await client.shutdown()


@pytest.mark.parametrize("line_ending", ["crlf", "cr"])
async def test_line_endings_and_pings(sim: RhetorSimulator, backend: str, line_ending: str) -> None:
    client = make(sim, backend)
    opts = {
        "sim": {"line_ending": line_ending, "ping_every_ms": 1, "chunk_delay_ms": 2, "chunks": 10, "done_marker": False}
    }
    text = "".join([c.chunk async for c in client.generate_text("le", streaming=True, options=opts)])
    assert text == (await client.generate_text("le", options=opts)).content
    await client.shutdown()


# -- fallback --------------------------------------------------------------------------------


async def test_server_side_fallback_is_reported_truthfully(backend: str) -> None:
    with RhetorSimulator(unavailable_providers=["anthropic"]) as sim:
        client = TektonLLMClient(
            "c", rhetor_url=sim.url, backend=backend, provider_id="anthropic", model_id="claude-3-opus-20240229"
        )
        r = await client.generate_text("fb", options={"fallback_provider": "openai", "fallback_model": "gpt-4o"})
        assert r.fallback is True and r.provider == "openai" and r.model == "gpt-4o"
        assert r.content == sim.answer_text("fb")
        await client.shutdown()


async def test_client_side_fallback_asks_once_more(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, provider_id="anthropic", max_retries=1)
    opts = {"fallback_provider": "openai", "fallback_model": "gpt-4o", "sim": {"fail_status": 503, "fail_times": 2}}
    r = await client.generate_text("cfb", options=opts)
    assert r.fallback is True and r.provider == "openai" and r.model == "gpt-4o"
    reqs = chat_requests(sim)
    assert len(reqs) == 3
    assert reqs[-1]["json"]["provider_id"] == "openai"
    assert "fallback_provider" not in reqs[-1]["json"]["options"]
    chunks = await collect(client.generate_text("cfbs", streaming=True, options=opts))
    assert all(c.fallback for c in chunks) and chunks[-1].provider == "openai"
    await client.shutdown()


async def test_fallback_never_invents_an_answer(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, provider_id="anthropic", max_retries=0)
    opts = {"fallback_provider": "openai", "sim": {"fail_status": 503, "fail_times": 99}}
    with pytest.raises(ServiceUnavailableError):
        await client.generate_text("nothing", options=opts)
    off = make(sim, backend, provider_id="anthropic", max_retries=0, use_fallback=False)
    sim.clear()
    with pytest.raises(ServiceUnavailableError):
        await off.generate_text("nothing", options=opts)
    assert len(chat_requests(sim)) == 1
    await client.shutdown()
    await off.shutdown()


# -- pooling, cancellation, shutdown ---------------------------------------------------------


async def test_connections_are_reused(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    for i in range(20):
        await client.generate_text(f"p{i}")
    async for _ in client.generate_text("s", streaming=True):
        pass
    assert sim.connections_accepted == 1
    await asyncio.gather(*(client.generate_text(f"c{i}") for i in range(8)))
    assert sim.connections_accepted <= 8
    await client.shutdown()


async def test_leaving_a_stream_early_closes_it(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    n = 0
    async for _ in client.generate_text(
        "long", streaming=True, options={"sim": {"chunks": 100000, "chunk_delay_ms": 5}}
    ):
        n += 1
        if n == 3:
            break
    assert await wait_until(lambda: sim.active_tasks == 0)
    r = await client.generate_text("after")
    assert r.content == sim.answer_text("after")
    await client.shutdown()


async def test_cancelling_a_call_closes_its_exchange(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    task = asyncio.ensure_future(client.generate_text("slow", options={"sim": {"trickle_ms": 100, "length": 100}}))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_until(lambda: sim.active_tasks == 0)
    stream_task = asyncio.ensure_future(
        collect(client.generate_text("slow", streaming=True, options={"sim": {"chunk_delay_ms": 50, "chunks": 1000}}))
    )
    await asyncio.sleep(0.3)
    stream_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stream_task
    assert await wait_until(lambda: sim.active_tasks == 0)
    await client.shutdown()


async def test_shutdown_ends_calls(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    await client.generate_text("before")
    await client.shutdown()
    with pytest.raises(ConnectionError):
        await client.generate_text("after")


async def test_async_with_initializes_and_closes(sim: RhetorSimulator, backend: str) -> None:
    async with TektonLLMClient("c", rhetor_url=sim.url, backend=backend) as client:
        assert client.initialized and client.health_status is not None
        assert client.health_status.status in ("healthy", "degraded")
    assert not client.initialized


# -- information endpoints -------------------------------------------------------------------


async def test_health_and_providers_are_typed(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    h = await client.health()
    assert h.healthy and h.providers.get("simulator") is True
    p = await client.get_providers()
    assert "simulator" in p.providers and p.default_provider == "simulator"
    assert p.providers["openai"].models and p.providers["openai"].models[0].id
    await client.shutdown()


# -- configuration ---------------------------------------------------------------------------


async def test_environment_and_explicit_arguments(
    sim: RhetorSimulator, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RHETOR_URL", sim.url)
    monkeypatch.setenv("RHETOR_DEFAULT_PROVIDER", "openai")
    monkeypatch.setenv("RHETOR_DEFAULT_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("RHETOR_TIMEOUT", "12.5")
    monkeypatch.setenv("RHETOR_MAX_RETRIES", "1")
    client = TektonLLMClient("env", backend=backend)
    assert (client.rhetor_url, client.timeout, client.max_retries) == (sim.url, 12.5, 1)
    r = await client.generate_text("env")
    assert (r.provider, r.model) == ("openai", "gpt-4o-mini")
    explicit = TektonLLMClient("env", backend=backend, provider_id="anthropic", timeout=3, max_retries=0)
    assert (explicit.provider_id, explicit.timeout, explicit.max_retries) == ("anthropic", 3, 0)
    monkeypatch.setenv("RHETOR_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="RHETOR_TIMEOUT"):
        TektonLLMClient("env", backend=backend)
    await client.shutdown()


async def test_auth_token_sent_and_never_shown(
    backend: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-token-value"
    with RhetorSimulator(auth_token=secret) as sim:
        monkeypatch.setenv("RHETOR_AUTH_TOKEN", secret)
        client = TektonLLMClient("c", rhetor_url=sim.url, backend=backend, backoff_initial=0.01)
        with caplog.at_level(logging.DEBUG):
            r = await client.generate_text("auth", options={"sim": {"fail_status": 503}})
        assert r.content == sim.answer_text("auth")
        assert sim.records(reveal_secrets=True)[-1]["headers"]["authorization"] == f"Bearer {secret}"
        assert secret not in repr(sim.requests)
        assert secret not in repr(client) and secret not in repr(client._http)
        assert secret not in caplog.text
        wrong = TektonLLMClient("c", rhetor_url=sim.url, backend=backend, auth_token="wrong-" + secret)
        with pytest.raises(AuthenticationError) as ei:
            await wrong.generate_text("auth")
        assert secret not in str(ei.value) and secret not in repr(ei.value)
        await client.shutdown()
        await wrong.shutdown()


async def test_bad_arguments_get_clear_errors(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    with pytest.raises(TypeError):
        client.generate_text(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.generate_chat_response([{"content": "no role"}])
    with pytest.raises(ValueError):
        client.generate_chat_response([])
    with pytest.raises(TypeError):
        client.generate_text("x", options=["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await client.generate_text("x", options={"obj": object()})
    with pytest.raises(ValueError):
        await client.generate_text("x", options={"t": float("nan")})
    with pytest.raises(TypeError, match="streaming=True"):
        async for _ in client.generate_text("x"):
            pass
    with pytest.raises(ValueError):
        TektonLLMClient("c", rhetor_url="ftp://nope")
    with pytest.raises(ValueError):
        TektonLLMClient("")
    await client.shutdown()
