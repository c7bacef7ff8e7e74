"""The simulator's OpenAI-compatible face (`POST /v1/chat/completions`, `GET /v1/models`),
checked with httpx and a hand-written SSE split only, never with our own client."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import httpx
from tekton_llm_client.testing import RhetorSimulator, answer_text, split_chunks

HANG_GUARD = 10.0  # seconds; a bound against hangs, not a timing assertion
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hi"}]


def post(sim: RhetorSimulator, body: Dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.post(sim.url + "/v1/chat/completions", json=body, timeout=HANG_GUARD, **kw)


def events(response: httpx.Response) -> List[str]:
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in response.text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    out = []
    for block in blocks:
        lines = [ln[5:].lstrip(" ") for ln in block.split("\n") if ln.startswith("data:")]
        out.append("\n".join(lines))
    return out


def test_streaming_sends_deltas_a_finish_chunk_usage_and_done(sim: RhetorSimulator) -> None:
    r = post(
        sim,
        {
            "model": "any",
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
            "sim": {"chunks": 4},
        },
    )
    assert r.status_code == 200
    data = events(r)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    deltas = [c["choices"][0]["delta"] for c in chunks[:4]]
    assert deltas[0]["role"] == "assistant" and all("role" not in d for d in deltas[1:])
    text = answer_text("say hi", "be brief", length=4 * 16)
    assert [d["content"] for d in deltas] == split_chunks(text, chunks=4)
    assert chunks[4]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert chunks[5]["choices"] == [] and chunks[5]["usage"]["completion_tokens"] == 4
    assert chunks[5]["usage"]["prompt_tokens"] == 4  # words of every message


def test_without_include_usage_there_is_no_usage_chunk(sim: RhetorSimulator) -> None:
    data = events(post(sim, {"messages": MESSAGES, "stream": True, "sim": {"chunks": 2}}))
    chunks = [json.loads(d) for d in data[:-1]]
    assert len(chunks) == 3 and not any("usage" in c for c in chunks)


def test_max_tokens_sets_the_number_of_tokens(sim: RhetorSimulator) -> None:
    data = events(
        post(sim, {"messages": MESSAGES, "stream": True, "max_tokens": 7, "stream_options": {"include_usage": True}})
    )
    chunks = [json.loads(d) for d in data[:-1]]
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content") is not None) == 7
    assert chunks[-1]["usage"]["completion_tokens"] == 7


def test_knobs_come_from_headers_too(sim: RhetorSimulator) -> None:
    r = post(sim, {"messages": MESSAGES, "stream": True}, headers={"X-Sim-Chunks": "3"})
    assert len(events(r)) == 3 + 1 + 1  # deltas, finish chunk, [DONE]


def test_non_streaming_answers_a_chat_completion(sim: RhetorSimulator) -> None:
    r = post(sim, {"model": "any", "messages": MESSAGES, "max_tokens": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": answer_text("say hi", "be brief", length=5 * 16),
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 5


def test_stream_faults_take_the_openai_shape(sim: RhetorSimulator) -> None:
    data = events(post(sim, {"messages": MESSAGES, "stream": True, "sim": {"chunks": 3, "error_after": 1}}))
    assert len(data) == 2
    assert json.loads(data[1])["error"]["message"] == "simulated provider error after 1 chunks"
    r = post(sim, {"messages": MESSAGES, "stream": True, "sim": {"fail_status": 503}})
    assert r.status_code == 503


def test_bad_openai_fields_are_422(sim: RhetorSimulator) -> None:
    for body in (
        {"messages": MESSAGES, "stream": "yes"},
        {"messages": MESSAGES, "max_tokens": 0},
        {"messages": MESSAGES, "stream_options": []},
        {"stream": True},
    ):
        r = post(sim, body)
        assert r.status_code == 422, body
    r = httpx.post(
        sim.url + "/v1/chat/completions", content=b"{}", timeout=HANG_GUARD, headers={"content-type": "text/plain"}
    )
    assert r.status_code == 415


def test_models_lists_the_simulated_model(sim: RhetorSimulator) -> None:
    r = httpx.get(sim.url + "/v1/models", timeout=HANG_GUARD)
    assert r.status_code == 200
    assert r.json()["data"][0]["id"] == "sim-model-1"


def test_content_as_a_list_of_text_parts_is_read(sim: RhetorSimulator) -> None:
    # as guidellm sends it: [{"type": "text", "text": ...}]
    parts = [
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": [{"type": "text", "text": "say"}, {"type": "text", "text": "hi"}]},
    ]
    r = post(sim, {"messages": parts, "stream": True, "stream_options": {"include_usage": True}, "sim": {"chunks": 2}})
    assert r.status_code == 200, r.text
    chunks = [json.loads(d) for d in events(r)[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "".join(split_chunks(answer_text("say\nhi", "be brief", length=2 * 16), chunks=2))
    assert chunks[-1]["usage"]["prompt_tokens"] == 4  # words of every message
