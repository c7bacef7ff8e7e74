"""The two backends agree on behaviour, not on bytes: the same calls against one simulator send the
same requests (method, path, body as parsed JSON, headers as parsed), fail with the same exception
class, status, code and Retry-After after the same number of attempts, and stream the same chunk
sequence (texts, done, error or not, finish_reason, usage). Messages may be worded differently;
each still names the status and the request id."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Tuple

import pytest
from tekton_llm_client import TektonLLMClient, TektonLLMError
from tekton_llm_client.testing import RhetorSimulator

BACKENDS = ("rust", "python")
# Headers that differ by nature: a fresh id per call, the length of bodies that are equal as JSON
# but not as bytes, and HTTP/1.1's hop-by-hop keep-alive (its default; httpx says it, reqwest not).
UNCOMPARED_HEADERS = {"x-request-id", "content-length", "connection"}


def _client(sim: RhetorSimulator, backend: str) -> TektonLLMClient:
    return TektonLLMClient(
        "agreement",
        rhetor_url=sim.url,
        backend=backend,
        auth_token="tok",
        headers={"X-Extra": "1"},
        backoff_initial=0.01,
        backoff_max=0.02,
        max_retries=2,
    )


def _sent(sim: RhetorSimulator) -> List[Tuple[str, str, Any, Dict[str, str]]]:
    out = []
    for r in sim.records(reveal_secrets=True):
        if r["method"] == "WS":
            continue
        headers = {k: v for k, v in r["headers"].items() if k not in UNCOMPARED_HEADERS}
        out.append((r["method"], r["path"], r["json"], headers))
    return out


async def _calls(client: TektonLLMClient) -> None:
    await client.get_providers()
    await client.generate_text("plain", options={"temperature": 0.0, "top_p": 1, "nested": {"b": 1, "a": [1.5]}})
    await client.generate_text('ünïcode ✓ "quoted"\n', system_prompt="be brief", provider_id="openai", model_id="m")
    async for _ in await client.generate_text("streamed", streaming=True, context_id="ctx-1"):
        pass
    await client.shutdown()


def test_the_requests_sent_are_the_same_as_parsed_json_and_headers() -> None:
    seen = {}
    with RhetorSimulator() as sim:
        for backend in BACKENDS:
            sim.clear()
            asyncio.run(_calls(_client(sim, backend)))
            seen[backend] = _sent(sim)
    assert seen["rust"] and seen["python"] == seen["rust"]


FAILURES = [
    {"fail_status": 400},
    {"fail_status": 401},
    {"fail_status": 404},
    {"fail_status": 413},
    {"fail_status": 418},
    {"fail_status": 429, "retry_after": 0},  # retried at once, then answered
    {"fail_status": 429, "retry_after": 0, "fail_times": 99},  # retries run out
    {"fail_status": 429, "retry_after": 3600},  # longer than max_retry_after: final at once
    {"fail_status": 503},  # once: retried, then answered
    {"fail_status": 503, "fail_times": 99},  # retries run out
    {"fail_status": 504},
]


def _outcome(sim: RhetorSimulator, backend: str, knobs: Dict[str, Any], streaming: bool) -> Dict[str, Any]:
    sim.clear()
    client = _client(sim, backend)

    async def run() -> Dict[str, Any]:
        try:
            call = client.generate_text("f", streaming=streaming, options={"sim": knobs})
            if streaming:
                chunks = [c async for c in await call]
                return {"ok": True, "texts": [c.chunk for c in chunks]}
            return {"ok": True, "content": (await call).content}
        except TektonLLMError as e:
            assert str(e.status_code) in str(e) and e.request_id and e.request_id in str(e), str(e)
            return {
                "ok": False,
                "class": type(e).__name__,
                "status": e.status_code,
                "code": e.code,
                "retry_after": getattr(e, "retry_after", None),
            }
        finally:
            await client.shutdown()

    out = asyncio.run(run())
    out["attempts"] = len([r for r in sim.requests if r["path"].startswith("/api/v1/chat")])
    return out


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("knobs", FAILURES, ids=lambda k: "-".join(f"{v}" for v in k.values()))
def test_failures_raise_the_same_class_status_and_retries(knobs: Dict[str, Any], streaming: bool) -> None:
    with RhetorSimulator() as sim:
        rust, python = (_outcome(sim, b, knobs, streaming) for b in BACKENDS)
    assert python == rust


STREAMS = [
    {"chunks": 5},
    {"chunks": 4, "done_marker": True},
    {"chunks": 6, "cut_after": 3},  # cut after content: the last chunk carries the error
    {"chunks": 6, "error_after": 2},  # an error event after content
    {"chunks": 6, "bad_json_after": 2},
    {"chunks": 6, "no_done_after": 3},
]


def _chunks(sim: RhetorSimulator, backend: str, knobs: Dict[str, Any]) -> List[Any]:
    client = _client(sim, backend)

    async def run() -> List[Any]:
        try:
            stream = await client.generate_text("s", streaming=True, options={"sim": knobs})
            return [
                (c.chunk, c.done, c.error is not None, c.finish_reason, c.usage and c.usage.to_dict())
                async for c in stream
            ]
        except TektonLLMError as e:
            return [type(e).__name__]
        finally:
            await client.shutdown()

    return asyncio.run(run())


@pytest.mark.parametrize("knobs", STREAMS, ids=lambda k: "-".join(f"{n}={v}" for n, v in k.items()))
def test_streams_give_the_same_chunk_sequence(knobs: Dict[str, Any]) -> None:
    with RhetorSimulator() as sim:
        rust, python = (_chunks(sim, b, knobs) for b in BACKENDS)
    assert rust and python == rust
