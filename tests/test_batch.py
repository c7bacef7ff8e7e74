"""client.generate_batch against the simulator over real sockets, on both backends."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Dict, Iterator, List

import pytest
from tekton_llm_client import InvalidRequestError, TektonLLMClient
from tekton_llm_client.batch import BatchIterator, BatchResult
from tekton_llm_client.testing import RhetorSimulator

from .conftest import wait_until


def make(sim: RhetorSimulator, backend: str, **kw: Any) -> TektonLLMClient:
    kw.setdefault("backoff_initial", 0.01)
    kw.setdefault("backoff_max", 0.05)
    return TektonLLMClient("batch-test", rhetor_url=sim.url, backend=backend, **kw)


async def collect(it: BatchIterator) -> Dict[str, BatchResult]:
    out: Dict[str, BatchResult] = {}
    async with it:
        async for r in it:
            assert r.id not in out, f"two results for {r.id}"
            out[r.id] = r
    return out


def test_the_rust_backend_runs_batches_in_rust(sim: RhetorSimulator) -> None:
    it = make(sim, "rust").generate_batch(["x"])
    asyncio.run(collect(it))
    assert it.native is True


async def test_every_item_gets_its_answer_id_and_index(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    items: List[Any] = []
    expected: Dict[str, str] = {}
    for i in range(60):
        if i % 3 == 0:
            items.append(f"plain {i}")
            expected[str(i)] = sim.answer_text(f"plain {i}")
        elif i % 3 == 1:
            items.append({"id": f"item-{i}", "prompt": f"with id {i}", "system_prompt": "be brief"})
            expected[f"item-{i}"] = sim.answer_text(f"with id {i}", system_prompt="be brief")
        else:
            items.append({"messages": [{"role": "user", "content": f"chat {i}"}], "extra": "ignored"})
            expected[str(i)] = sim.answer_text(f"chat {i}")
    results = await collect(client.generate_batch(items, concurrency=8))
    assert set(results) == set(expected)
    for item_id, r in results.items():
        assert r.ok, r.error
        assert r.response is not None and r.content == expected[item_id]
        assert r.response.model == "sim-model-1"
    indexes = {r.id: r.index for r in results.values()}
    assert sorted(indexes.values()) == list(range(60))
    assert indexes["item-1"] == 1 and indexes["0"] == 0 and indexes["2"] == 2
    await client.shutdown()


async def test_a_failing_item_does_not_stop_the_others(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    items: List[Any] = [f"ok {i}" for i in range(20)]
    items[5] = {"id": "rejected", "prompt": "no", "options": {"sim": {"fail_status": 400}}}
    items[9] = {"id": "empty"}
    items[12] = 42
    items[15] = {"id": "both", "prompt": "a", "messages": [{"role": "user", "content": "b"}]}
    it = client.generate_batch(items, concurrency=4)
    results = await collect(it)
    assert len(results) == 20
    assert isinstance(results["rejected"].error, InvalidRequestError)
    assert results["rejected"].error.status_code == 400
    assert isinstance(results["empty"].error, ValueError)
    assert isinstance(results["12"].error, TypeError)
    assert isinstance(results["both"].error, ValueError)
    good = [r for r in results.values() if r.ok]
    assert len(good) == 16 and all(r.content == sim.answer_text(f"ok {r.index}") for r in good)
    assert it.completed == 20 and it.failed == 4
    await client.shutdown()


async def test_concurrency_is_respected(backend: str) -> None:
    # Trickled bodies keep a server task alive while its answer is still being sent, so the
    # simulator's active task count is a server-side lower bound of requests in flight.
    with RhetorSimulator(trickle_ms=1, worker_threads=2) as sim:
        client = make(sim, backend)
        it = client.generate_batch([f"slow {i}" for i in range(10)], concurrency=3)
        server_peak = 0
        done = False

        async def watch() -> None:
            nonlocal server_peak
            while not done:
                server_peak = max(server_peak, sim.active_tasks)
                await asyncio.sleep(0.002)

        watcher = asyncio.ensure_future(watch())
        results = await collect(it)
        done = True
        await watcher
        assert len(results) == 10 and all(r.ok for r in results.values())
        assert 1 <= server_peak <= 3
        assert 2 <= it.peak_in_flight <= 3
        await client.shutdown()


async def test_rate_limit_spaces_the_starts(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    started = time.monotonic()
    results = await collect(client.generate_batch([f"r{i}" for i in range(10)], concurrency=10, rate_limit=20))
    elapsed = time.monotonic() - started
    assert len(results) == 10 and all(r.ok for r in results.values())
    # 10 starts at 20/s with no burst: the last starts 9 intervals (0.45 s) after the first.
    assert elapsed >= 0.4
    await client.shutdown()


def _counting(n: int, pulled: List[int]) -> Iterator[str]:
    for i in range(n):
        pulled[0] += 1
        yield f"lazy {i}"


async def test_a_huge_generator_is_consumed_lazily(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    pulled = [0]
    it = client.generate_batch(_counting(100_000, pulled), concurrency=16)
    assert it.window == 32
    yielded = 0
    async with it:
        async for r in it:
            assert r.ok and r.content == sim.answer_text(f"lazy {r.index}")
            yielded += 1
            # never more than the window submitted and not yet handed out
            assert pulled[0] - yielded <= it.window
            if yielded == 300:
                break
    assert pulled[0] <= 300 + it.window
    await client.shutdown()


async def test_an_async_generator_works_too(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    pulled = 0

    async def source() -> AsyncIterator[Dict[str, Any]]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield {"id": f"a{i}", "prompt": f"async {i}"}

    got = 0
    async with client.generate_batch(source(), concurrency=4) as it:
        async for r in it:
            assert r.content == sim.answer_text(f"async {r.index}") and r.id == f"a{r.index}"
            got += 1
            assert pulled - got <= it.window
            if got == 50:
                break
    await client.shutdown()


async def test_client_side_fallback_applies_per_item(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, provider_id="anthropic", max_retries=0)
    opts = {"fallback_provider": "openai", "fallback_model": "gpt-4o", "sim": {"fail_status": 503, "fail_times": 1}}
    items = [{"id": "fb", "prompt": "needs fallback", "options": opts}, {"id": "plain", "prompt": "fine"}]
    results = await collect(client.generate_batch(items))
    fb = results["fb"].response
    assert fb is not None and fb.fallback is True and fb.provider == "openai" and fb.model == "gpt-4o"
    assert fb.content == sim.answer_text("needs fallback")
    assert results["plain"].response is not None and results["plain"].response.fallback is False
    await client.shutdown()


async def test_the_client_retry_policy_applies_to_each_item(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend, max_retries=2)
    items = [
        {"id": f"r{i}", "prompt": f"retry {i}", "options": {"sim": {"fail_status": 503, "fail_times": 2}}}
        for i in range(5)
    ]
    results = await collect(client.generate_batch(items, concurrency=2))
    assert all(r.ok for r in results.values())
    assert len([r for r in sim.requests if r["path"] == "/api/v1/chat"]) == 15
    await client.shutdown()


async def test_closing_early_stops_waiting_and_running_items(sim: RhetorSimulator, backend: str) -> None:
    client = make(sim, backend)
    fast = [f"f{i}" for i in range(2)]
    slow = [{"prompt": f"s{i}", "options": {"sim": {"first_chunk_delay_ms": 60_000}}} for i in range(20)]
    # window=4 pulls exactly the two fast items and two slow ones first, so every one of them
    # has a permit: tokio starts tasks in no set order, and a slow item taking a fast one's
    # permit would keep the fast one waiting for a minute.
    it = client.generate_batch(fast + slow, concurrency=4, window=4)
    seen = [await it.__anext__(), await it.__anext__()]
    assert {r.id for r in seen} == {"0", "1"}
    assert await wait_until(lambda: it.in_flight > 0)
    await it.aclose()
    assert await wait_until(lambda: it.in_flight == 0)
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()
    # the client itself is still usable
    r = await client.generate_text("after")
    assert r.content == sim.answer_text("after")
    await client.shutdown()


@pytest.mark.parametrize("kw", [{"concurrency": 0}, {"rate_limit": 0}, {"rate_limit": -1.0}, {"burst": 0}])
def test_bad_limits_are_refused(sim: RhetorSimulator, backend: str, kw: Dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make(sim, backend).generate_batch(["x"], **kw)


async def test_an_older_dialect_goes_through_the_translating_transport(backend: str) -> None:
    from .rhetor_replay import gen_b

    with gen_b() as server:
        client = TektonLLMClient("batch-test", rhetor_url=server.url, backend=backend)
        it = client.generate_batch([{"id": "x", "messages": [{"role": "user", "content": "hi"}]}, "there"])
        results = await collect(it)
        assert client.dialect == "gen_b" and it.native is False
        assert all(r.ok and r.content for r in results.values()), [r.error for r in results.values()]
        assert not any("context_id" in (r.json or {}) for r in server.requests if r.method == "POST")
        await client.shutdown()
