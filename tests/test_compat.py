"""The LLMAdapter migration shim: the old adapters' call patterns (migration guide, steps 3–6
"Before:") against the simulator over real sockets, on both backends."""

from __future__ import annotations

import logging
import warnings
from typing import Any, List

import pytest
from tekton_llm_client import TektonLLMClient
from tekton_llm_client.compat import LLMAdapter
from tekton_llm_client.testing import RhetorSimulator

from .rhetor_replay import gen_a, response_body


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


def adapter(url: str, backend: str, **kw: Any) -> LLMAdapter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return LLMAdapter(rhetor_url=url, backend=backend, backoff_initial=0.01, backoff_max=0.02, **kw)


def chat_bodies(sim: RhetorSimulator) -> List[Any]:
    return [r["json"] for r in sim.requests if r["path"].startswith("/api/v1/chat")]


async def test_generate_response_with_and_without_system_prompt(sim: RhetorSimulator, backend: str) -> None:
    a = adapter(sim.url, backend)
    assert await a.generate_response("Say hi") == sim.answer_text("Say hi")
    assert await a.generate_response("Say hi", system_prompt="be kind") == sim.answer_text("Say hi", "be kind")
    assert await a.generate_response("Say hi", "positional") == sim.answer_text("Say hi", "positional")
    assert chat_bodies(sim)[1]["system_prompt"] == "be kind"
    await a.close()


async def test_chat_conversation(sim: RhetorSimulator, backend: str) -> None:
    a = adapter(sim.url, backend)
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    assert await a.chat_conversation(msgs) == sim.answer_text("three", "be brief")
    assert chat_bodies(sim)[-1]["messages"] == msgs
    await a.close()


async def test_stream_response_with_an_async_callback(backend: str) -> None:
    with RhetorSimulator(length=300) as sim:
        a = adapter(sim.url, backend)
        got: List[str] = []

        async def callback(text: str) -> None:
            got.append(text)

        assert await a.stream_response("tell me", callback) is None
        assert "".join(got) == sim.answer_text("tell me", length=300)
        assert len(got) > 10 and all(got)  # chunk by chunk, no empty done-chunk text
        assert chat_bodies(sim)[-1]["streaming"] is True
        await a.close()


async def test_stream_response_with_a_sync_callback(sim: RhetorSimulator, backend: str) -> None:
    a = adapter(sim.url, backend)
    got: List[str] = []
    await a.stream_response("sync please", got.append)
    assert "".join(got) == sim.answer_text("sync please")
    await a.close()


async def test_constructor_maps_the_old_arguments(
    sim: RhetorSimulator, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tekton_llm_client.compat"):
        a = adapter(
            sim.url,
            backend,
            api_key="sk-ant-old-key",
            model="claude-3-sonnet-20240229",
            provider="anthropic",
            component_id="terma",
        )
    assert "api_key is ignored" in caplog.text and "sk-ant-old-key" not in caplog.text
    assert (a.model, a.provider) == ("claude-3-sonnet-20240229", "anthropic")
    assert isinstance(a.client, TektonLLMClient) and a.client.component_id == "terma"
    await a.generate_response("hello")
    req = [r for r in sim.requests if r["path"] == "/api/v1/chat"][-1]
    assert req["json"]["model_id"] == "claude-3-sonnet-20240229" and req["json"]["provider_id"] == "anthropic"
    assert req["headers"]["x-tekton-component"] == "terma"
    assert "authorization" not in req["headers"]  # the provider key never leaves the process
    assert "sk-ant-old-key" not in str(sim.records(reveal_secrets=True))
    # the old positional form: LLMAdapter(api_key, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        b = LLMAdapter(None, "gpt-4o", rhetor_url=sim.url, backend=backend)
    assert b.model == "gpt-4o" and b.client.component_id == "llm-adapter"
    await a.close()
    await b.close()


async def test_one_deprecation_warning_naming_the_replacement(sim: RhetorSimulator, backend: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = LLMAdapter(rhetor_url=sim.url, backend=backend)
        await a.generate_response("x")
        await a.chat_conversation([{"role": "user", "content": "y"}])
        await a.stream_response("z", lambda _t: None)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1
    text = str(deprecations[0].message)
    assert "TektonLLMClient" in text and "generate_text" in text and "generate_chat_response" in text
    assert deprecations[0].filename == __file__  # points at the caller's line
    await a.close()


async def test_failures_become_error_strings(backend: str) -> None:
    with RhetorSimulator(fail_status=503, fail_times=99) as down:
        a = adapter(down.url, backend, max_retries=0)
        out = await a.generate_response("x")
        assert out.startswith("Error: Rhetor answered 503 Service Unavailable")
        out = await a.chat_conversation([{"role": "user", "content": "x"}])
        assert out.startswith("Error: Rhetor answered 503 Service Unavailable")
        got: List[str] = []
        await a.stream_response("x", got.append)
        assert len(got) == 1 and got[0].startswith("Error: Rhetor answered 503 Service Unavailable")
        await a.close()
    with RhetorSimulator() as gone:
        dead = gone.url
    a = adapter(dead, backend, max_retries=0)
    assert (await a.generate_response("x")).startswith("Error: ")


async def test_a_stream_cut_after_content_ends_with_one_error_string(backend: str) -> None:
    with RhetorSimulator(cut_after=2, length=300) as cutting:
        a = adapter(cutting.url, backend, max_retries=0)
        got: List[str] = []
        await a.stream_response("cut", got.append)
        assert len(got) == 3 and got[2].startswith("Error: ")
        assert cutting.answer_text("cut", length=300).startswith(got[0] + got[1])
        await a.close()


async def test_an_exception_from_the_callback_is_the_callers(sim: RhetorSimulator, backend: str) -> None:
    a = adapter(sim.url, backend)
    calls: List[str] = []

    def callback(text: str) -> None:
        calls.append(text)
        raise KeyError("bug in the caller")

    with pytest.raises(KeyError, match="bug in the caller"):
        await a.stream_response("x", callback)
    assert len(calls) == 1  # not called again with an "Error: …" string
    await a.close()


async def test_the_shim_works_against_an_older_rhetor(backend: str) -> None:
    with gen_a() as server:
        a = adapter(server.url, backend, model="simulated-fast")
        text = response_body("genA-shim/04_post_message_nonstream")["message"]
        assert await a.generate_response("Hello Rhetor") == text
        got: List[str] = []
        await a.stream_response("Hello Rhetor", got.append)
        assert got == [text]
        assert a.client.dialect == "gen_a"
        assert all(b["options"] == {"model": "simulated-fast"} for b in server.bodies("/message"))
        await a.close()
