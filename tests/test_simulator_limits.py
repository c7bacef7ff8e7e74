"""No single request can take the simulator down: every size-like knob (answer length, chunk
counts and sizes, delays, counters) has an upper bound and a 422 past it — in a JSON body, in an
`X-Sim-*` header, and in a WebSocket request — and the simulator keeps serving. A body a browser
may send cross-origin without a preflight (text/plain, a form) gets no say at all (415).
Checked with independent clients (httpx, `websockets`), as test_simulator.py does."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Iterator

import httpx
import pytest
from tekton_llm_client.testing import RhetorSimulator, answer_text
from websockets.asyncio.client import connect as ws_connect

GUARD = 10.0  # hang guard, never a timing assertion

# The knobs that are not sizes (an enum, a boolean, a list, a status code): every other knob in
# the simulator's own list is size-like and must be bounded.
NOT_SIZES = {
    "fail_status",
    "retry_after_http_date",
    "fail_body",
    "line_ending",
    "done_marker",
    "lockstep",
    "unavailable_providers",
}
HUGE = [2**62, 10**12, 2**64 + 1]


def size_knobs() -> list[str]:
    from tekton_llm_client._backend import require_native

    return [k for k in require_native().SIM_KNOB_NAMES if k not in NOT_SIZES]


@pytest.fixture
def sim() -> Iterator[RhetorSimulator]:
    with RhetorSimulator() as s:
        yield s


@pytest.fixture
def client(sim: RhetorSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=GUARD) as c:
        yield c


def chat(sim_knobs: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    if sim_knobs is not None:
        body["sim"] = sim_knobs
    return body


def still_serving(client: httpx.Client) -> None:
    r = client.post("/api/v1/chat", json=chat())
    assert r.status_code == 200 and r.json()["content"] == answer_text("hi")


def test_the_size_knobs_are_the_ones_expected() -> None:
    # A new knob lands here first: decide whether it is a size (and bound it) or not.
    assert set(size_knobs()) == {
        "length",
        "chunks",
        "chunk_size",
        "first_chunk_delay_ms",
        "chunk_delay_ms",
        "fail_times",
        "retry_after",
        "reset_times",
        "cut_after",
        "no_done_after",
        "stall_after",
        "malformed_after",
        "bad_json_after",
        "error_after",
        "ws_close_after",
        "ws_malformed_after",
        "ping_every_ms",
        "trickle_ms",
    }


@pytest.mark.parametrize("path", ["/api/v1/chat", "/api/v1/chat/stream"])
def test_every_size_knob_over_http_body_and_headers(client: httpx.Client, path: str) -> None:
    for knob in size_knobs():
        for value in HUGE:
            r = client.post(path, json=chat({knob: value}))
            assert r.status_code == 422, (knob, value, r.text)
            assert "limit" in r.json()["error"], r.text
            r = client.post(path, json=chat(), headers={"X-Sim-" + knob.replace("_", "-"): str(value)})
            assert r.status_code == 422, (knob, value, r.text)
            r = client.post(path, json={**chat(), "options": {"sim": {knob: value}}})
            assert r.status_code == 422, (knob, value, r.text)
    still_serving(client)


@pytest.mark.parametrize("path", ["/api/v1/chat", "/api/v1/chat/stream"])
def test_knobs_bounded_only_together(client: httpx.Client, path: str) -> None:
    # Each within its own limit, together too much: chunks × chunk_size characters.
    r = client.post(path, json=chat({"chunks": 1_000_000, "chunk_size": 100_000_000}))
    assert r.status_code == 422, r.text
    still_serving(client)


def test_a_stream_of_too_many_pieces_is_refused(client: httpx.Client) -> None:
    r = client.post("/api/v1/chat/stream", json=chat({"length": 100_000_000, "chunk_size": 1}))
    assert r.status_code == 422 and "chunks" in r.json()["error"], r.text
    still_serving(client)


async def test_every_size_knob_over_websocket(sim: RhetorSimulator) -> None:
    async with ws_connect(sim.ws_url, open_timeout=GUARD) as ws:
        await ws.send(json.dumps({"type": "REGISTER", "component_id": "limits"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), GUARD))["type"] == "REGISTER_ACK"
        n = 0
        for kind in ("STREAM", "GENERATE"):
            for knob in size_knobs():
                for value in HUGE:
                    n += 1
                    rid = f"r{n}"
                    await ws.send(
                        json.dumps({"type": kind, "request_id": rid, "prompt": "hi", "options": {"sim": {knob: value}}})
                    )
                    reply = json.loads(await asyncio.wait_for(ws.recv(), GUARD))
                    assert reply["type"] == "ERROR" and reply["request_id"] == rid, reply
                    assert reply["status"] == 422, (knob, value, reply)
        await ws.send(json.dumps({"type": "GENERATE", "request_id": "ok", "prompt": "hi"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), GUARD))
        assert reply["type"] == "RESPONSE" and reply["content"] == answer_text("hi")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data", None],
)
def test_a_body_without_a_json_content_type_gets_no_say(
    client: httpx.Client, sim: RhetorSimulator, content_type: str | None
) -> None:
    """What a web page may POST cross-origin without a preflight cannot drive the simulator."""
    headers = {} if content_type is None else {"content-type": content_type}
    raw = json.dumps(chat({"length": 50_000_000})).encode()
    r = client.post("/api/v1/chat", content=raw, headers=headers)
    assert r.status_code == 415, r.text
    assert "application/json" in r.json()["error"]
    still_serving(client)


def test_the_answer_helpers_are_bounded_too() -> None:
    from tekton_llm_client.testing import split_chunks

    too_big: list[dict[str, Any]] = [
        {"length": 2**62},
        {"chunks": 10**12},
        {"chunk_size": 2**62},
        {"chunks": 1_000_000, "chunk_size": 1_000},
    ]
    for kw in too_big:
        with pytest.raises(ValueError):
            answer_text("hi", **kw)
    with pytest.raises(ValueError):
        split_chunks("abc", chunks=10**12)
