"""Every Python example of the migration guide (steps 3–6, 8, 10, "Handling Streaming Responses",
"Graceful Degradation") runs as written against the simulator, on both backends."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest
from tekton_llm_client import TektonLLMClient
from tekton_llm_client.testing import RhetorSimulator

from . import guide_snippets as guide

logger = logging.getLogger("guide-example")


@pytest.fixture(autouse=True)
def _env(sim: RhetorSimulator, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RHETOR_URL", sim.url)
    monkeypatch.setenv("TEKTON_LLM_BACKEND", backend)
    for name in ("RHETOR_DEFAULT_PROVIDER", "RHETOR_DEFAULT_MODEL", "RHETOR_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_the_repo_copy_of_the_guide_is_verbatim() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "migration-guide.md"
    if shared.exists():  # beside a checkout in this workplace; the copy is what users read
        assert shared.read_text(encoding="utf-8") == guide.GUIDE.read_text(encoding="utf-8")
    assert "TektonLLMClient" in guide.GUIDE.read_text(encoding="utf-8")


async def test_step3_initialization(sim: RhetorSimulator) -> None:
    ns = await guide.run(guide.snippet("Step 3", "After:"), {"os": os})
    client = await ns["initialize_llm_client"]()
    assert isinstance(client, TektonLLMClient) and client.initialized
    assert (client.provider_id, client.model_id) == ("anthropic", "claude-3-sonnet-20240229")
    r = await client.generate_text("hi")
    assert (r.provider, r.model) == ("anthropic", "claude-3-sonnet-20240229")
    await client.shutdown()


async def test_step4_generate_response(sim: RhetorSimulator, backend: str) -> None:
    client = TektonLLMClient(component_id="your-component-name", backend=backend, backoff_initial=0.01)
    ns = await guide.run(guide.snippet("Step 4", "After:"), {"client": client, "logger": logger})
    assert await ns["generate_response"]("Say hi", "be kind") == sim.answer_text("Say hi", "be kind")
    # the error path of the snippet: a failure becomes its "Error: ..." string
    with RhetorSimulator(fail_status=503, fail_times=99) as down:
        ns["client"] = TektonLLMClient(component_id="c", rhetor_url=down.url, max_retries=0, backend=backend)
        out = await ns["generate_response"]("x", None)
        assert out.startswith("Error: Rhetor answered 503 Service Unavailable")
    await client.shutdown()


async def test_step5_chat_conversation(sim: RhetorSimulator, backend: str) -> None:
    client = TektonLLMClient(component_id="c", backend=backend)
    ns = await guide.run(guide.snippet("Step 5", "After:"), {"client": client, "logger": logger})
    msgs = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    assert await ns["chat_conversation"](msgs) == sim.answer_text("three")
    await client.shutdown()


async def test_step6_stream_response(sim: RhetorSimulator, backend: str) -> None:
    client = TektonLLMClient(component_id="c", backend=backend)
    ns = await guide.run(guide.snippet("Step 6", "After:"), {"client": client, "logger": logger})
    got: List[str] = []

    async def callback(text: str) -> None:
        got.append(text)

    await ns["stream_response"]("stream it", callback)
    assert "".join(got) == sim.answer_text("stream it")


async def test_step6_stream_response_reports_a_cut_stream(backend: str) -> None:
    with RhetorSimulator(cut_after=2, length=300) as cutting:
        client = TektonLLMClient(component_id="c", rhetor_url=cutting.url, backend=backend)
        ns = await guide.run(guide.snippet("Step 6", "After:"), {"client": client, "logger": logger})
        got: List[str] = []

        async def callback(text: str) -> None:
            got.append(text)

        await ns["stream_response"]("cut", callback)
        text = "".join(got)
        assert text and cutting.answer_text("cut", length=300).startswith(text)
        assert len([g for g in got if g]) == 2  # delivered once, nothing repeated or invented


async def test_step8_error_handling(sim: RhetorSimulator, backend: str) -> None:
    client = TektonLLMClient(component_id="c", backend=backend, max_retries=0)
    ns: Dict[str, Any] = {"client": client, "logger": logger}
    await guide.run(guide.snippet("Step 8"), ns)
    ok = await ns["generate_with_error_handling"]("fine")
    assert ok.content == sim.answer_text("fine")
    with RhetorSimulator() as gone:
        dead_url = gone.url
    ns["client"] = TektonLLMClient(component_id="c", rhetor_url=dead_url, backend=backend, max_retries=0)
    assert await ns["generate_with_error_handling"]("x") == {"error": "Connection error"}
    with RhetorSimulator(trickle_ms=200) as slow:
        ns["client"] = TektonLLMClient(
            component_id="c", rhetor_url=slow.url, backend=backend, max_retries=0, timeout=0.3
        )
        assert await ns["generate_with_error_handling"]("x") == {"error": "Timeout"}
    with RhetorSimulator(fail_status=503, fail_times=99) as down:
        ns["client"] = TektonLLMClient(component_id="c", rhetor_url=down.url, backend=backend, max_retries=0)
        assert await ns["generate_with_error_handling"]("x") == {"error": "Service unavailable"}
    with RhetorSimulator(fail_status=400) as bad:
        ns["client"] = TektonLLMClient(component_id="c", rhetor_url=bad.url, backend=backend)
        out = await ns["generate_with_error_handling"]("x")
        assert out["error"].startswith("Rhetor answered 400")


async def test_step10_environment(sim: RhetorSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = [code for s, _, code in guide.blocks("bash") if s.startswith("Step 10")][0]
    for line in env_file.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = line.split("=", 1)
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("RHETOR_URL", sim.url)  # the .env names localhost:8003; the simulator is elsewhere
    monkeypatch.delenv("RHETOR_AUTH_TOKEN")  # "if needed": this simulator needs none
    client = TektonLLMClient(component_id="c")
    assert (client.provider_id, client.model_id) == ("anthropic", "claude-3-haiku-20240307")
    r = await client.generate_text("env")
    assert (r.provider, r.model) == ("anthropic", "claude-3-haiku-20240307")
    await client.shutdown()


async def test_handling_streaming_responses(sim: RhetorSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    ns = await guide.run(guide.snippet("Handling Streaming Responses"), {})
    await ns["streaming_example"]()
    out = capsys.readouterr().out
    answer = sim.answer_text("Write a short story about AI.")
    assert out.startswith(answer)
    assert f"Complete text ({len(answer)} chars)" in out


async def test_graceful_degradation(
    backend: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RhetorSimulator(unavailable_providers=["anthropic"]) as down, caplog.at_level(logging.INFO):
        monkeypatch.setenv("RHETOR_URL", down.url)
        # the snippet continues the guide: TektonLLMClient was imported earlier in the same module
        ns = await guide.run(
            guide.snippet("Graceful Degradation"), {"logger": logger, "TektonLLMClient": TektonLLMClient}
        )
        r = ns["response"]
        assert r.fallback is True and r.provider == "openai" and r.model == "gpt-4o"
        assert r.content == down.answer_text("Complex reasoning task")
        assert "Used fallback provider: openai" in caplog.text
