"""Conformance of the Rhetor simulator (crates/rhetor-sim) with protocol v1 (docs/protocol.md) and its knobs.

Checked with independent clients only (httpx, a hand-written WHATWG SSE parser, the
`websockets` package, raw subprocesses) — never with our own client, which the simulator exists
to test.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import websockets
from hypothesis import given, settings
from hypothesis import strategies as st
from tekton_llm_client.testing import RhetorSimulator, answer_text, split_chunks
from websockets.asyncio.client import connect as ws_connect

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "python" / "tekton_llm_client" / "static"
HANG_GUARD = 10.0  # seconds; a bound against hangs, not a timing assertion


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def sim() -> Iterator[RhetorSimulator]:
    with RhetorSimulator() as s:
        yield s


@pytest.fixture
def client(sim: RhetorSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=HANG_GUARD) as c:
        yield c


def body(prompt: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": prompt}],
        "context_id": "ctx-1",
        "component_id": "tests",
        **extra,
    }


class SSE:
    """Events and comments of an SSE body, parsed per the WHATWG EventSource rules."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.data: list[str] = []
        self.comments: list[str] = []
        text = raw.decode("utf-8", errors="replace")
        lines = re.split(r"\r\n|\r|\n", text)
        if lines and lines[-1] == "":
            lines.pop()  # the terminator of the last line
        buf: list[str] = []
        for line in lines:
            if line == "":
                if buf:
                    self.data.append("\n".join(buf))
                buf = []
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if name == "data":
                    buf.append(value)
        self.trailing = buf  # data never dispatched (no blank line after it)

    def json_events(self) -> list[dict[str, Any]]:
        out = []
        for d in self.data:
            try:
                out.append(json.loads(d))
            except ValueError:
                pass
        return out

    def chunks(self) -> list[str]:
        return [e["chunk"] for e in self.json_events() if "chunk" in e and not e.get("done")]

    def text(self) -> str:
        return "".join(self.chunks())


def stream(client: httpx.Client, payload: dict[str, Any], **kw: Any) -> SSE:
    r = client.post("/api/v1/chat/stream", json=payload, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return SSE(r.content)


def chat(client: httpx.Client, payload: dict[str, Any], **kw: Any) -> dict[str, Any]:
    r = client.post("/api/v1/chat", json=payload, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def assert_json_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert isinstance(data.get("error"), str) and data["error"]
    return data


def wait_until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.02)


async def ws_recv(ws: Any) -> Any:
    msg = await asyncio.wait_for(ws.recv(), HANG_GUARD)
    try:
        return json.loads(msg)
    except ValueError:
        return msg


# ---------------------------------------------------------------------------------------------
# v1 shapes


def test_health_shape(client: httpx.Client) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    data = r.json()
    assert data["status"] == "healthy"
    assert isinstance(data["version"], str)
    assert data["providers"] == {"simulator": True, "anthropic": True, "openai": True, "ollama": True}


def test_providers_shape(client: httpx.Client) -> None:
    data = client.get("/api/v1/providers").json()
    assert data["default_provider"] == "simulator"
    assert data["default_model"] == "sim-model-1"
    assert set(data["providers"]) == {"simulator", "anthropic", "openai", "ollama"}
    for info in data["providers"].values():
        assert isinstance(info["name"], str) and info["available"] is True
        assert len(info["models"]) >= 2
        for model in info["models"]:
            assert isinstance(model["id"], str) and isinstance(model["name"], str)
            assert isinstance(model["context_length"], int)
    assert "sim-model-1" in [m["id"] for m in data["providers"]["simulator"]["models"]]


def test_chat_shape(client: httpx.Client) -> None:
    data = chat(client, body("What is Tekton?"))
    assert data["content"] == "Simulated answer to: What is Tekton?"
    assert data["model"] == "sim-model-1"
    assert data["provider"] == "simulator"
    assert data["finish_reason"] == "stop"
    assert data["context_id"] == "ctx-1"
    assert data["fallback"] is False
    assert datetime.fromisoformat(data["timestamp"].replace("Z", "+00:00")).tzinfo is not None
    usage = data["usage"]
    assert usage["prompt_tokens"] == 3
    assert usage["completion_tokens"] == len(split_chunks(data["content"]))
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_chat_echoes_provider_and_any_model(client: httpx.Client) -> None:
    data = chat(client, body(provider_id="openai", model_id="made-up-model"))
    assert (data["provider"], data["model"]) == ("openai", "made-up-model")
    data = chat(client, body(provider_id="anthropic"))
    assert data["provider"] == "anthropic" and data["model"].startswith("claude")


def test_camel_case_request_fields(client: httpx.Client) -> None:
    data = chat(
        client,
        {
            "messages": [{"role": "user", "content": "hi"}],
            "contextId": "camel",
            "providerId": "ollama",
            "modelId": "llama3",
            "systemPrompt": "sys",
            "options": {"sim": {"chunkSize": 2}},
        },
    )
    assert (data["context_id"], data["provider"], data["model"]) == ("camel", "ollama", "llama3")
    assert data["usage"]["completion_tokens"] == len(split_chunks(data["content"], chunk_size=2))


def test_last_user_message_is_the_prompt(client: httpx.Client) -> None:
    payload = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second ✓"},
        ],
        "context_id": "c",
    }
    assert chat(client, payload)["content"] == "Simulated answer to: second ✓"


def test_stream_shape(client: httpx.Client) -> None:
    sse = stream(client, body("stream me", provider_id="openai", model_id="gpt-4o"))
    events = sse.json_events()
    content, done = events[:-1], events[-1]
    assert content and all(e["done"] is False for e in content)
    for e in content:
        assert (e["model"], e["provider"], e["context_id"]) == ("gpt-4o", "openai", "ctx-1")
        assert isinstance(e["timestamp"], str) and e["fallback"] is False
    assert done["done"] is True and done["chunk"] == "" and done["finish_reason"] == "stop"
    assert done["usage"]["completion_tokens"] == len(content)
    assert sse.data[-1] == "[DONE]"
    assert sse.text() == "Simulated answer to: stream me"
    assert [len(c) for c in sse.chunks()[:-1]] == [16] * (len(content) - 1)


@pytest.mark.parametrize(
    "sim_knobs",
    [
        {},
        {"length": 1000},
        {"length": 1000, "chunk_size": 7},
        {"chunks": 13},
        {"chunks": 13, "length": 5},
        {"chunks": 50, "chunk_size": 3},
        {"length": 0},
    ],
)
def test_stream_join_equals_chat_content(client: httpx.Client, sim_knobs: dict[str, Any]) -> None:
    payload = body("Ünïcödé ✓ 🎉 prompt", system_prompt="sys", sim=sim_knobs)
    content = chat(client, payload)["content"]
    sse = stream(client, payload)
    assert sse.text() == content
    assert content == answer_text(
        "Ünïcödé ✓ 🎉 prompt",
        "sys",
        sim_knobs.get("length"),
        chunks=sim_knobs.get("chunks"),
        chunk_size=sim_knobs.get("chunk_size"),
    )
    if "chunks" in sim_knobs:
        assert len(sse.chunks()) == sim_knobs["chunks"]
    if "length" in sim_knobs:
        assert len(content) == sim_knobs["length"]
    elif "chunks" in sim_knobs:
        assert len(content) == sim_knobs["chunks"] * sim_knobs.get("chunk_size", 16)


def test_answer_depends_on_system_prompt_only_through_the_filler(client: httpx.Client) -> None:
    a = chat(client, body("q", system_prompt="one", sim={"length": 300}))["content"]
    b = chat(client, body("q", system_prompt="two", sim={"length": 300}))["content"]
    assert a != b and a[:23] == b[:23] == "Simulated answer to: q "
    assert a == answer_text("q", "one", 300)
    assert chat(client, body("q", system_prompt="one"))["content"] == "Simulated answer to: q"


@settings(max_examples=40, deadline=None)
@given(
    prompt=st.text(max_size=40),
    length=st.one_of(st.none(), st.integers(0, 400)),
    chunk_size=st.integers(1, 40),
)
def test_answer_and_split_properties(prompt: str, length: int | None, chunk_size: int) -> None:
    text = answer_text(prompt, None, length)
    if length is not None:
        assert len(text) == length
    else:
        assert text == "Simulated answer to: " + prompt
    pieces = split_chunks(text, chunk_size=chunk_size)
    assert "".join(pieces) == text
    assert all(0 < len(p) <= chunk_size for p in pieces)


# ---------------------------------------------------------------------------------------------
# knob sources


def test_knob_precedence_header_then_sim_then_options_sim(client: httpx.Client) -> None:
    h = {"X-Sim-Length": "10"}
    assert len(chat(client, body(), headers=h)["content"]) == 10
    assert len(chat(client, body(sim={"length": 20}), headers=h)["content"]) == 20
    payload = body(sim={"length": 20}, options={"sim": {"length": 30}})
    assert len(chat(client, payload, headers=h)["content"]) == 30


def test_simulator_defaults_are_below_requests() -> None:
    with RhetorSimulator(length=40, chunk_size=5) as sim, httpx.Client(base_url=sim.url) as c:
        sse = stream(c, body())
        assert len(sse.text()) == 40 and len(sse.chunks()) == 8
        assert len(chat(c, body(), headers={"X-Sim-Length": "12"})["content"]) == 12


def test_unknown_or_invalid_knobs_are_rejected(client: httpx.Client) -> None:
    assert_json_error(client.post("/api/v1/chat", json=body(), headers={"X-Sim-Bogus": "1"}), 400)
    assert_json_error(client.post("/api/v1/chat", json=body(), headers={"X-Sim-Chunks": "x"}), 400)
    assert_json_error(client.post("/api/v1/chat", json=body(sim={"chunk_sise": 3})), 422)
    assert_json_error(client.post("/api/v1/chat", json=body(sim={"chunks": 0})), 422)
    with pytest.raises(ValueError):
        RhetorSimulator(no_such_knob=1).start()


# ---------------------------------------------------------------------------------------------
# simulated failures


def test_fail_status_429_retry_after_seconds_and_fail_times(client: httpx.Client) -> None:
    knobs = {"X-Sim-Fail-Status": "429", "X-Sim-Fail-Times": "2", "X-Sim-Retry-After": "3"}
    for _ in range(2):
        r = client.post("/api/v1/chat", json=body(), headers={**knobs, "X-Request-ID": "req-a"})
        data = assert_json_error(r, 429)
        assert data["code"] == "rate_limited"
        assert r.headers["retry-after"] == "3"
    ok = client.post("/api/v1/chat", json=body(), headers={**knobs, "X-Request-ID": "req-a"})
    assert ok.status_code == 200 and ok.headers["x-request-id"] == "req-a"
    # Another request id starts over.
    r = client.post("/api/v1/chat", json=body(), headers={**knobs, "X-Request-ID": "req-b"})
    assert r.status_code == 429
    # Without a request id every call is a first attempt.
    for _ in range(3):
        assert client.post("/api/v1/chat", json=body(), headers=knobs).status_code == 429


def test_fail_status_429_retry_after_http_date(client: httpx.Client) -> None:
    payload = body(sim={"fail_status": 429, "retry_after": 120, "retry_after_http_date": True})
    r = client.post("/api/v1/chat", json=payload, headers={"X-Request-ID": "d1"})
    assert r.status_code == 429
    when = email.utils.parsedate_to_datetime(r.headers["retry-after"])
    delta = (when - datetime.now(timezone.utc)).total_seconds()
    assert 60 < delta <= 121


def test_fail_status_401_json(client: httpx.Client) -> None:
    r = client.post("/api/v1/chat", json=body(sim={"fail_status": 401}), headers={"X-Request-ID": "u"})
    assert assert_json_error(r, 401)["code"] == "unauthorized"


def test_fail_status_500_html_body(client: httpx.Client) -> None:
    payload = body(sim={"fail_status": 500, "fail_body": "html"})
    r = client.post("/api/v1/chat", json=payload, headers={"X-Request-ID": "h"})
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        json.loads(r.text)
    # Streaming endpoint fails the same way before any event.
    r = client.post("/api/v1/chat/stream", json=payload, headers={"X-Request-ID": "h2"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")


def test_fail_status_503_detail_and_empty_bodies(client: httpx.Client) -> None:
    payload = body(sim={"fail_status": 503, "fail_times": 1, "fail_body": "detail", "retry_after": 1})
    r = client.post("/api/v1/chat/stream", json=payload, headers={"X-Request-ID": "s"})
    assert r.status_code == 503 and "detail" in r.json() and r.headers["retry-after"] == "1"
    assert stream(client, payload, headers={"X-Request-ID": "s"}).text() == "Simulated answer to: hello"
    payload = body(sim={"fail_status": 503, "fail_body": "empty"})
    r = client.post("/api/v1/chat", json=payload, headers={"X-Request-ID": "e"})
    assert r.status_code == 503 and r.content == b""


def test_clear_resets_attempt_counters(sim: RhetorSimulator, client: httpx.Client) -> None:
    payload = body(sim={"fail_status": 500})
    assert client.post("/api/v1/chat", json=payload, headers={"X-Request-ID": "c"}).status_code == 500
    assert client.post("/api/v1/chat", json=payload, headers={"X-Request-ID": "c"}).status_code == 200
    sim.clear()
    assert client.post("/api/v1/chat", json=payload, headers={"X-Request-ID": "c"}).status_code == 500


def test_reset_times_drops_connection_without_response(sim: RhetorSimulator) -> None:
    with httpx.Client(base_url=sim.url, timeout=HANG_GUARD) as c:
        h = {"X-Sim-Reset-Times": "2", "X-Request-ID": "r"}
        for path in ("/api/v1/chat", "/api/v1/chat/stream"):
            with pytest.raises(httpx.RemoteProtocolError):
                c.post(path, json=body(), headers=h)
        assert c.post("/api/v1/chat", json=body(), headers=h).json()["content"] == "Simulated answer to: hello"
    assert sim.connections_accepted == 3  # each drop closed its connection


# ---------------------------------------------------------------------------------------------
# stream faults


def test_cut_after_gives_incomplete_body(sim: RhetorSimulator) -> None:
    got: list[bytes] = []
    with httpx.Client(base_url=sim.url, timeout=HANG_GUARD) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            with c.stream("POST", "/api/v1/chat/stream", json=body(sim={"cut_after": 3, "length": 200})) as r:
                assert r.status_code == 200
                for part in r.iter_raw():
                    got.append(part)
    sse = SSE(b"".join(got))
    assert len(sse.chunks()) == 3
    assert not any(e.get("done") for e in sse.json_events())


def test_no_done_after_ends_cleanly_without_done(client: httpx.Client) -> None:
    sse = stream(client, body(sim={"no_done_after": 2}))
    assert len(sse.chunks()) == 2
    assert not any(e.get("done") for e in sse.json_events())
    assert "[DONE]" not in sse.data


def test_stall_after_keeps_connection_open_then_cleans_up(sim: RhetorSimulator) -> None:
    got: list[bytes] = []
    timeout = httpx.Timeout(HANG_GUARD, read=0.5)
    with httpx.Client(base_url=sim.url, timeout=timeout) as c:
        with pytest.raises(httpx.ReadTimeout):
            with c.stream("POST", "/api/v1/chat/stream", json=body(sim={"stall_after": 2})) as r:
                for part in r.iter_raw():
                    got.append(part)
    assert len(SSE(b"".join(got)).chunks()) == 2
    # The client went away: the stalled producer must not linger.
    wait_until(lambda: sim.active_tasks == 0, "stalled stream task to end")


def test_malformed_after_then_continues(client: httpx.Client) -> None:
    payload = body(sim={"malformed_after": 1, "length": 100})
    sse = stream(client, payload)
    assert b"\xff" in sse.raw  # not UTF-8
    assert sse.text() == chat(client, payload)["content"]
    assert sse.data[-1] == "[DONE]"


def test_bad_json_after(client: httpx.Client) -> None:
    payload = body(sim={"bad_json_after": 2})
    sse = stream(client, payload)
    assert sse.data[2] == "{not json"
    assert sse.text() == chat(client, payload)["content"]


def test_error_after(client: httpx.Client) -> None:
    sse = stream(client, body(sim={"error_after": 1}))
    events = sse.json_events()
    assert len(sse.chunks()) == 1
    last = events[-1]
    assert last["code"] == "provider_error" and last["done"] is True and last["error"]
    assert "[DONE]" not in sse.data


def test_pacing_knobs_and_pings(client: httpx.Client) -> None:
    payload = body(sim={"first_chunk_delay_ms": 20, "chunk_delay_ms": 5, "ping_every_ms": 2, "length": 60})
    sse = stream(client, payload)
    assert "ping" in sse.comments
    assert sse.text() == chat(client, payload)["content"]


@pytest.mark.parametrize("ending,expect", [("crlf", b"\r\n\r\n"), ("cr", b"\r\r")])
def test_line_endings(client: httpx.Client, ending: str, expect: bytes) -> None:
    payload = body(sim={"line_ending": ending})
    sse = stream(client, payload)
    assert expect in sse.raw
    if ending == "cr":
        assert b"\n" not in sse.raw
    assert sse.text() == "Simulated answer to: hello" and sse.data[-1] == "[DONE]"


def test_done_marker_off(client: httpx.Client) -> None:
    sse = stream(client, body(sim={"done_marker": False}))
    assert sse.json_events()[-1]["done"] is True
    assert "[DONE]" not in sse.data


def test_trickle_ms_sends_body_bytewise(sim: RhetorSimulator) -> None:
    with httpx.Client(base_url=sim.url, timeout=HANG_GUARD) as c:
        with c.stream("POST", "/api/v1/chat", json=body("t"), headers={"X-Sim-Trickle-Ms": "5"}) as r:
            parts = list(r.iter_raw())
        assert len(parts) > 1
        data = json.loads(b"".join(parts))
        assert data["content"] == "Simulated answer to: t"
        assert int(r.headers["content-length"]) == len(b"".join(parts))
        sse = stream(c, body("t", sim={"trickle_ms": 1, "chunk_size": 8}))
        assert sse.text() == "Simulated answer to: t"


def test_trickle_lets_a_client_total_timeout_fire(sim: RhetorSimulator) -> None:
    # Each byte arrives well within the read timeout; only a whole-call deadline catches it.
    async def main() -> None:
        async with httpx.AsyncClient(base_url=sim.url, timeout=HANG_GUARD) as c:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.post("/api/v1/chat", json=body(sim={"trickle_ms": 50})), 0.5)

    asyncio.run(main())
    wait_until(lambda: sim.active_tasks == 0, "trickle task to end")


# ---------------------------------------------------------------------------------------------
# providers and fallback


def test_unavailable_provider_and_fallback() -> None:
    with RhetorSimulator(unavailable_providers=["anthropic"]) as sim, httpx.Client(base_url=sim.url) as c:
        assert c.get("/api/v1/health").json()["status"] == "degraded"
        assert c.get("/api/v1/providers").json()["providers"]["anthropic"]["available"] is False
        r = c.post("/api/v1/chat", json=body(provider_id="anthropic"))
        assert assert_json_error(r, 503)["code"] == "provider_unavailable"
        opts = {"fallback_provider": "openai", "fallback_model": "gpt-4o-mini"}
        data = chat(c, body(provider_id="anthropic", options=opts))
        assert (data["provider"], data["model"], data["fallback"]) == ("openai", "gpt-4o-mini", True)
        events = stream(c, body(provider_id="anthropic", options=opts)).json_events()
        assert all(e["fallback"] is True and e["provider"] == "openai" for e in events[:-1])
        # A fallback that is unknown or also down does not help.
        r = c.post("/api/v1/chat", json=body(provider_id="anthropic", options={"fallback_provider": "nope"}))
        assert r.status_code == 503
        # An available provider ignores the fallback.
        assert chat(c, body(provider_id="ollama", options=opts))["fallback"] is False


def test_unknown_provider_is_400(client: httpx.Client) -> None:
    assert assert_json_error(client.post("/api/v1/chat", json=body(provider_id="nope")), 400)


def test_unavailable_providers_knob(client: httpx.Client) -> None:
    h = {"X-Sim-Unavailable-Providers": "openai,ollama"}
    assert client.post("/api/v1/chat", json=body(provider_id="ollama"), headers=h).status_code == 503
    providers = client.get("/api/v1/providers", headers=h).json()["providers"]
    assert providers["openai"]["available"] is False and providers["simulator"]["available"] is True
    payload = body(provider_id="openai", sim={"unavailable_providers": ["openai"]})
    assert client.post("/api/v1/chat", json=payload).status_code == 503


# ---------------------------------------------------------------------------------------------
# recording, keep-alive, auth


def test_recording_and_keep_alive(sim: RhetorSimulator) -> None:
    with httpx.Client(base_url=sim.url) as c:
        for i in range(5):
            c.post(
                "/api/v1/chat",
                json=body(f"p{i}"),
                headers={"X-Request-ID": f"id-{i}", "X-Tekton-Component": "tests"},
            )
    assert sim.connections_accepted == 1
    recs = sim.requests
    assert [r["request_id"] for r in recs] == [f"id-{i}" for i in range(5)]
    first = recs[0]
    assert first["method"] == "POST" and first["path"] == "/api/v1/chat"
    assert first["headers"]["x-tekton-component"] == "tests"
    assert first["json"]["messages"][0]["content"] == "p0"
    assert json.loads(first["body"]) == first["json"]
    assert len({r["connection_id"] for r in recs}) == 1
    assert isinstance(first["time"], float)
    with httpx.Client(base_url=sim.url) as c:
        c.get("/api/v1/health")
    assert sim.connections_accepted == 2
    assert sim.requests[-1]["connection_id"] != first["connection_id"]
    sim.clear()
    assert sim.requests == []


def test_bad_json_is_recorded_with_null_json(sim: RhetorSimulator, client: httpx.Client) -> None:
    client.post("/api/v1/chat", content=b"{oops", headers={"content-type": "application/json"})
    rec = sim.requests[-1]
    assert rec["body"] == "{oops" and rec["json"] is None


def test_record_off() -> None:
    with RhetorSimulator(record=False) as sim:
        httpx.get(sim.url + "/api/v1/health")
        assert sim.requests == []
        assert sim.connections_accepted == 1


def test_auth_required_on_http() -> None:
    with RhetorSimulator(auth_token="s3cret") as sim, httpx.Client(base_url=sim.url) as c:
        assert c.get("/api/v1/health").status_code == 200  # health stays open
        assert assert_json_error(c.post("/api/v1/chat", json=body()), 401)["code"] == "unauthorized"
        assert c.get("/api/v1/providers").status_code == 401
        r = c.post("/api/v1/chat", json=body(), headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert c.post("/api/v1/chat", json=body(), headers=good).status_code == 200
        assert stream(c, body(), headers=good).text() == "Simulated answer to: hello"
        recs = sim.requests
        assert [r["auth_ok"] for r in recs] == [False, False, False, False, True, True]
        assert recs[-1]["headers"]["authorization"] == "Bearer ***"
        assert "s3cret" not in json.dumps(recs)
        assert sim.records(reveal_secrets=True)[-1]["headers"]["authorization"] == "Bearer s3cret"


# ---------------------------------------------------------------------------------------------
# WebSocket


async def test_ws_register_generate_stream_ping(sim: RhetorSimulator) -> None:
    async with ws_connect(sim.ws_url) as ws:
        await ws.send(json.dumps({"type": "REGISTER", "component_id": "tests", "capabilities": []}))
        ack = await ws_recv(ws)
        assert ack["type"] == "REGISTER_ACK" and ack["session_id"]
        await ws.send(json.dumps({"type": "PING"}))
        assert (await ws_recv(ws)) == {"type": "PONG"}

        await ws.send(json.dumps({"type": "GENERATE", "request_id": "g1", "prompt": "gen", "context_id": "c"}))
        resp = await ws_recv(ws)
        assert resp["type"] == "RESPONSE" and resp["request_id"] == "g1"
        assert resp["content"] == "Simulated answer to: gen"
        assert resp["model"] == "sim-model-1" and resp["provider"] == "simulator" and resp["fallback"] is False

        msgs = [{"role": "user", "content": "chat ✓"}]
        await ws.send(json.dumps({"type": "CHAT", "request_id": "c1", "messages": msgs}))
        chat_resp = await ws_recv(ws)
        assert chat_resp["type"] == "RESPONSE" and chat_resp["content"] == "Simulated answer to: chat ✓"

        knobs = {"sim": {"length": 500, "chunk_size": 9}}
        await ws.send(json.dumps({"type": "CHAT_STREAM", "request_id": "s1", "messages": msgs, **knobs}))
        chunks = []
        while True:
            m = await ws_recv(ws)
            assert m["type"] == "CHUNK" and m["request_id"] == "s1"
            if m["done"]:
                assert m["finish_reason"] == "stop" and m["usage"]["completion_tokens"] == len(chunks)
                break
            chunks.append(m["chunk"])
        assert "".join(chunks) == answer_text("chat ✓", None, 500)
        assert all(len(c) == 9 for c in chunks[:-1])
    # The same answer over HTTP.
    with httpx.Client(base_url=sim.url) as c:
        assert chat(c, {"messages": msgs, **knobs})["content"] == "".join(chunks)


async def test_ws_many_requests_in_flight(sim: RhetorSimulator) -> None:
    async with ws_connect(sim.ws_url) as ws:
        for i in range(20):
            kind = "STREAM" if i % 2 else "GENERATE"
            await ws.send(
                json.dumps({"type": kind, "request_id": f"r{i}", "prompt": f"p{i}", "sim": {"chunk_size": 3}})
            )
        texts: dict[str, str] = {}
        finished: set[str] = set()
        while len(finished) < 20:
            m = await ws_recv(ws)
            rid = m["request_id"]
            if m["type"] == "RESPONSE":
                texts[rid] = m["content"]
                finished.add(rid)
            else:
                texts[rid] = texts.get(rid, "") + m["chunk"]
                if m["done"]:
                    finished.add(rid)
        assert texts == {f"r{i}": f"Simulated answer to: p{i}" for i in range(20)}


async def test_ws_cancel(sim: RhetorSimulator) -> None:
    async with ws_connect(sim.ws_url) as ws:
        await ws.send(
            json.dumps(
                {"type": "STREAM", "request_id": "x", "prompt": "p", "sim": {"chunk_delay_ms": 20, "chunks": 500}}
            )
        )
        first = await ws_recv(ws)
        assert first["type"] == "CHUNK"
        await ws.send(json.dumps({"type": "CANCEL", "request_id": "x"}))
        while True:
            m = await ws_recv(ws)
            if m["type"] == "ERROR":
                assert m["code"] == "cancelled" and m["request_id"] == "x"
                break
            assert m["type"] == "CHUNK" and not m["done"]
        await ws.send(json.dumps({"type": "PING"}))
        assert (await ws_recv(ws))["type"] == "PONG"


async def test_ws_bad_frames_get_error_frames(sim: RhetorSimulator) -> None:
    async with ws_connect(sim.ws_url) as ws:
        await ws.send("{not json")
        assert (await ws_recv(ws))["code"] == "invalid_json"
        await ws.send(json.dumps({"type": "WHAT", "request_id": "w"}))
        err = await ws_recv(ws)
        assert err["type"] == "ERROR" and err["code"] == "unknown_type" and err["request_id"] == "w"
        await ws.send(json.dumps({"type": "GENERATE", "request_id": "n"}))  # no prompt
        err = await ws_recv(ws)
        assert err["type"] == "ERROR" and err["code"] == "invalid_request" and err["request_id"] == "n"
        await ws.send(json.dumps({"type": "GENERATE", "request_id": "u", "prompt": "p", "provider_id": "nope"}))
        assert (await ws_recv(ws))["code"] == "invalid_provider"
        await ws.send(json.dumps({"type": "PING"}))  # still open
        assert (await ws_recv(ws))["type"] == "PONG"


async def test_ws_fail_status_then_retry(sim: RhetorSimulator) -> None:
    async with ws_connect(sim.ws_url) as ws:
        msg = {
            "type": "GENERATE",
            "request_id": "f",
            "prompt": "p",
            "options": {"sim": {"fail_status": 429, "retry_after": 2}},
        }
        await ws.send(json.dumps(msg))
        err = await ws_recv(ws)
        assert (err["type"], err["code"], err["status"], err["retry_after"]) == ("ERROR", "rate_limited", 429, 2)
        await ws.send(json.dumps(msg))
        assert (await ws_recv(ws))["type"] == "RESPONSE"


async def test_ws_reset_times_drops_the_socket(sim: RhetorSimulator) -> None:
    msg = {"type": "GENERATE", "request_id": "r", "prompt": "p", "sim": {"reset_times": 1}}
    async with ws_connect(sim.ws_url) as ws:
        await ws.send(json.dumps(msg))
        with pytest.raises(websockets.ConnectionClosed):
            await ws_recv(ws)
    async with ws_connect(sim.ws_url) as ws:  # the retry of the same request id succeeds
        await ws.send(json.dumps(msg))
        assert (await ws_recv(ws))["type"] == "RESPONSE"


async def test_ws_close_after(sim: RhetorSimulator) -> None:
    chunks = []
    async with ws_connect(sim.ws_url) as ws:
        await ws.send(json.dumps({"type": "STREAM", "request_id": "s", "prompt": "p", "sim": {"ws_close_after": 2}}))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                m = await ws_recv(ws)
                chunks.append(m)
    assert len(chunks) == 2 and all(m["type"] == "CHUNK" and not m["done"] for m in chunks)


async def test_ws_malformed_after(sim: RhetorSimulator) -> None:
    async with ws_connect(sim.ws_url) as ws:
        await ws.send(
            json.dumps({"type": "STREAM", "request_id": "s", "prompt": "p", "sim": {"ws_malformed_after": 1}})
        )
        got: list[Any] = []
        while True:
            m = await ws_recv(ws)
            got.append(m)
            if isinstance(m, dict) and m.get("done"):
                break
        assert isinstance(got[1], str)  # the non-JSON frame, after one chunk
        assert "".join(m["chunk"] for m in got if isinstance(m, dict)) == "Simulated answer to: p"


async def test_ws_stream_faults(sim: RhetorSimulator) -> None:
    async with ws_connect(sim.ws_url) as ws:
        await ws.send(json.dumps({"type": "STREAM", "request_id": "e", "prompt": "p", "sim": {"error_after": 1}}))
        assert (await ws_recv(ws))["type"] == "CHUNK"
        err = await ws_recv(ws)
        assert (err["type"], err["code"], err["request_id"]) == ("ERROR", "provider_error", "e")
    async with ws_connect(sim.ws_url) as ws:
        await ws.send(json.dumps({"type": "STREAM", "request_id": "c", "prompt": "p", "sim": {"cut_after": 1}}))
        assert (await ws_recv(ws))["type"] == "CHUNK"
        with pytest.raises(websockets.ConnectionClosed):
            await ws_recv(ws)
    async with ws_connect(sim.ws_url) as ws:
        await ws.send(json.dumps({"type": "STREAM", "request_id": "t", "prompt": "p", "sim": {"stall_after": 1}}))
        assert (await ws_recv(ws))["type"] == "CHUNK"
    wait_until(lambda: sim.active_tasks == 0, "websocket tasks to end")


async def test_ws_auth() -> None:
    async with RhetorSimulator(auth_token="tok") as sim:
        # Token on the upgrade request.
        async with ws_connect(sim.ws_url, additional_headers={"Authorization": "Bearer tok"}) as ws:
            await ws.send(json.dumps({"type": "GENERATE", "request_id": "a", "prompt": "p"}))
            assert (await ws_recv(ws))["type"] == "RESPONSE"
        # Token in REGISTER (browsers cannot set headers).
        async with ws_connect(sim.ws_url) as ws:
            await ws.send(
                json.dumps({"type": "REGISTER", "component_id": "b", "capabilities": [], "auth_token": "tok"})
            )
            assert (await ws_recv(ws))["type"] == "REGISTER_ACK"
            await ws.send(json.dumps({"type": "GENERATE", "request_id": "b", "prompt": "p"}))
            assert (await ws_recv(ws))["type"] == "RESPONSE"
        # Wrong token in REGISTER.
        async with ws_connect(sim.ws_url) as ws:
            await ws.send(json.dumps({"type": "REGISTER", "component_id": "c", "auth_token": "nope"}))
            err = await ws_recv(ws)
            assert err["type"] == "ERROR" and err["code"] == "unauthorized"
            with pytest.raises(websockets.ConnectionClosed):
                await ws_recv(ws)
        # No token at all.
        async with ws_connect(sim.ws_url) as ws:
            await ws.send(json.dumps({"type": "GENERATE", "request_id": "d", "prompt": "p"}))
            err = await ws_recv(ws)
            assert err["code"] == "unauthorized" and err["request_id"] == "d"
            with pytest.raises(websockets.ConnectionClosed):
                await ws_recv(ws)
        # Wrong token on the upgrade request.
        async with ws_connect(sim.ws_url, additional_headers={"Authorization": "Bearer bad"}) as ws:
            assert (await ws_recv(ws))["code"] == "unauthorized"
            with pytest.raises(websockets.ConnectionClosed):
                await ws_recv(ws)
        frames = [r for r in sim.requests if r["method"] == "WS"]
        register = next(r for r in frames if r["json"]["type"] == "REGISTER" and r["auth_ok"])
        assert register["json"]["auth_token"] == "***" and "tok" not in register["body"]
        revealed = [r for r in sim.records(reveal_secrets=True) if r["method"] == "WS"]
        assert any(r["json"].get("auth_token") == "tok" for r in revealed)
        assert any(r["json"].get("auth_token") == "nope" and r["auth_ok"] is False for r in revealed)


# ---------------------------------------------------------------------------------------------
# path prefix, CORS, static files, bad input


async def test_path_prefix() -> None:
    async with RhetorSimulator(path_prefix="/api/llm") as sim:
        assert sim.url.endswith("/api/llm")
        async with httpx.AsyncClient(timeout=HANG_GUARD) as c:
            r = await c.post(sim.url + "/api/v1/chat", json=body())
            assert r.status_code == 200 and r.json()["content"] == "Simulated answer to: hello"
            r = await c.post(sim.url + "/api/v1/chat/stream", json=body())
            assert SSE(r.content).text() == "Simulated answer to: hello"
            assert (await c.get(sim.root_url + "/api/v1/health")).status_code == 200
            assert (await c.get(sim.root_url + "/api/other/api/v1/health")).status_code == 404
        assert sim.ws_url.endswith("/api/llm/ws")
        async with ws_connect(sim.ws_url) as ws:
            await ws.send(json.dumps({"type": "PING"}))
            assert (await ws_recv(ws))["type"] == "PONG"
        assert sim.requests[0]["path"] == "/api/llm/api/v1/chat"


def test_cors_preflight_and_headers(client: httpx.Client) -> None:
    r = client.options(
        "/api/v1/chat/stream",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    r = client.post("/api/v1/chat", json=body(), headers={"Origin": "http://localhost:5173"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in r.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize(
    "path,file,ctype",
    [
        ("/static/js/tekton-llm-client.js", STATIC / "js" / "tekton-llm-client.js", "application/javascript"),
        ("/static/js/tekton-llm-client.mjs", STATIC / "js" / "tekton-llm-client.mjs", "application/javascript"),
        ("/demo", STATIC / "demo.html", "text/html"),
    ],
)
def test_static_files(client: httpx.Client, path: str, file: Path, ctype: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(ctype)
    # Compiled in at build time: equal to the file as of the last extension build.
    assert r.text == file.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "content,status",
    [
        (b"{not json", 400),
        (b"", 400),
        (b"[]", 422),
        (b"{}", 422),
        (b'{"messages": []}', 422),
        (b'{"messages": "hi"}', 422),
        (b'{"messages": [{"role": "user"}]}', 422),
        (b'{"messages": [{"role": "user", "content": 5}]}', 422),
        (b'{"messages": [{"role": "user", "content": "x"}], "options": []}', 422),
    ],
)
def test_bad_input_is_4xx_json(client: httpx.Client, content: bytes, status: int) -> None:
    for path in ("/api/v1/chat", "/api/v1/chat/stream"):
        r = client.post(path, content=content, headers={"content-type": "application/json"})
        assert_json_error(r, status)


def test_unknown_path_wrong_method_and_plain_get_ws(client: httpx.Client) -> None:
    assert assert_json_error(client.get("/nope"), 404)["code"] == "not_found"
    assert assert_json_error(client.get("/api/v1/chat"), 405)["code"] == "method_not_allowed"
    assert_json_error(client.post("/api/v1/health"), 405)
    assert_json_error(client.get("/ws"), 400)
    assert client.get("/api/v1/health").status_code == 200  # the connection survived


# ---------------------------------------------------------------------------------------------
# load: the simulator must never be the bottleneck


def test_large_stream_is_served(client: httpx.Client) -> None:
    sse = stream(client, body(sim={"chunks": 100_000, "chunk_size": 4}))
    assert len(sse.chunks()) == 100_000
    assert sse.text() == answer_text("hello", None, chunks=100_000, chunk_size=4)


async def test_64_concurrent_streams_and_calls(sim: RhetorSimulator) -> None:
    limits = httpx.Limits(max_connections=128)
    async with httpx.AsyncClient(base_url=sim.url, limits=limits, timeout=HANG_GUARD) as c:

        async def one_stream(i: int) -> str:
            r = await c.post("/api/v1/chat/stream", json=body(f"s{i}", sim={"length": 2000}))
            return SSE(r.content).text()

        async def one_call(i: int) -> str:
            r = await c.post("/api/v1/chat", json=body(f"c{i}"))
            return str(r.json()["content"])

        results = await asyncio.gather(*(one_stream(i) for i in range(64)), *(one_call(i) for i in range(64)))
    assert results[:64] == [answer_text(f"s{i}", None, 2000) for i in range(64)]
    assert results[64:] == [f"Simulated answer to: c{i}" for i in range(64)]
    wait_until(lambda: sim.active_tasks == 0, "stream tasks to end")


def test_stop_is_idempotent_and_frees_the_port() -> None:
    sim = RhetorSimulator().start()
    port = sim.bound_port
    sim.stop()
    sim.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/health")
    with RhetorSimulator(port=port) as again:  # the port can be bound again
        assert httpx.get(again.url + "/api/v1/health").status_code == 200


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_prints_url_line_and_serves() -> None:
    env = dict(os.environ)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tekton_llm_client",
            "simulate",
            "--port",
            "0",
            "--chunk-size",
            "5",
            "--path-prefix",
            "/p",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert re.fullmatch(r"RHETOR_SIMULATOR_URL=http://127\.0\.0\.1:\d+\n", line), line
        url = line.strip().split("=", 1)[1]
        with httpx.Client(timeout=HANG_GUARD) as c:
            assert c.get(url + "/api/v1/health").json()["status"] == "healthy"
            sse = SSE(c.post(url + "/p/api/v1/chat/stream", json=body()).content)
            assert len(sse.chunks()[0]) == 5 and sse.text() == "Simulated answer to: hello"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(HANG_GUARD) == 0
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
