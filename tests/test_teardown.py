"""Tearing a client down with calls in flight: their callers get ConnectionError, and nothing is
left for asyncio to report ("Task exception was never retrieved", "unhandled exception during
asyncio.run() shutdown"), which the CLI logs at --verbose. On both backends, against the
simulator."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, Dict, List

import pytest
from tekton_llm_client import ConnectionError, TektonLLMClient
from tekton_llm_client.testing import RhetorSimulator

from .conftest import wait_until

SLOW = {"sim": {"first_chunk_delay_ms": 60_000}}  # answers that never come within the test


def _run_reporting(main: Any) -> List[Dict[str, Any]]:
    """`asyncio.run(main())`; returns what the loop reported to its exception handler, during the
    run and its teardown, and after a collection (where unretrieved task errors are logged)."""
    reports: List[Dict[str, Any]] = []

    async def wrapped() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reports.append(context))
        await main()
        gc.collect()

    asyncio.run(wrapped())
    gc.collect()
    return reports


def _described(reports: List[Dict[str, Any]]) -> List[str]:
    return [f"{r.get('message')}: {r.get('exception')!r}" for r in reports]


def test_a_batch_left_running_when_the_client_shuts_down_leaves_no_report(sim: RhetorSimulator, backend: str) -> None:
    async def main() -> None:
        client = TektonLLMClient("teardown", rhetor_url=sim.url, backend=backend)
        it = client.generate_batch([{"prompt": f"p{i}", "options": SLOW} for i in range(4)], concurrency=4)
        first = asyncio.ensure_future(it.__anext__())
        assert await wait_until(lambda: len(sim.requests) >= 4, timeout=30), "the items never reached Rhetor"
        await client.shutdown()
        # the run ends here, the batch still open: asyncio.run cancels what is left
        del first

    reports = _run_reporting(main)
    assert reports == [], _described(reports)


def test_calls_in_flight_get_connection_error_on_shutdown_and_leave_no_report(
    sim: RhetorSimulator, backend: str
) -> None:
    outcomes: List[BaseException] = []

    async def main() -> None:
        client = TektonLLMClient("teardown", rhetor_url=sim.url, backend=backend)
        calls = [asyncio.ensure_future(client.generate_text(f"q{i}", options=SLOW)) for i in range(3)]
        assert await wait_until(lambda: len(sim.requests) >= 3, timeout=30), "the calls never reached Rhetor"
        await client.shutdown()
        for call in calls:
            with pytest.raises(ConnectionError) as ei:
                await asyncio.wait_for(call, 30)
            outcomes.append(ei.value)

    reports = _run_reporting(main)
    assert len(outcomes) == 3 and all("shut down" in str(e) for e in outcomes), outcomes
    assert reports == [], _described(reports)


def test_a_cancelled_caller_ends_cancelled_and_leaves_no_report(sim: RhetorSimulator, backend: str) -> None:
    async def main() -> None:
        client = TektonLLMClient("teardown", rhetor_url=sim.url, backend=backend)
        call = asyncio.ensure_future(client.generate_text("q", options=SLOW))
        assert await wait_until(lambda: len(sim.requests) >= 1, timeout=30), "the call never reached Rhetor"
        call.cancel()
        await client.shutdown()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(call, 30)

    reports = _run_reporting(main)
    assert reports == [], _described(reports)
