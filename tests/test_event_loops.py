"""One client, several event loops: threads that each run their own loop (or one loop after
another) share a client. Each loop gets its own connections, so no call fails and none needs a
retry (retries are off here: a pool shared across loops showed up as "pop from an empty deque"
failures that only retries hid). Both backends."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import List

import pytest
from tekton_llm_client import TektonLLMClient
from tekton_llm_client.testing import RhetorSimulator

CALLS = 15  # per loop
GUARD = 60.0


async def _work(client: TektonLLMClient, label: str) -> List[str]:
    out = []
    for i in range(CALLS):
        if i % 3 == 2:
            call = client.generate_text(f"{label} {i}", streaming=True)
            out.append(await asyncio.wait_for(call.__aiter__().collect(), GUARD))
        else:
            out.append((await asyncio.wait_for(client.generate_text(f"{label} {i}"), GUARD)).content)
    return out


def test_one_client_in_two_threads_with_their_own_loops(
    sim: RhetorSimulator, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = TektonLLMClient("c", rhetor_url=sim.url, backend=backend, max_retries=0, dialect="v1")
    results: dict = {}
    errors: List[BaseException] = []

    def run(label: str) -> None:
        try:
            results[label] = asyncio.run(_work(client, label))
        except BaseException as e:
            errors.append(e)

    with caplog.at_level(logging.WARNING):
        threads = [threading.Thread(target=run, args=(f"loop{n}",)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(GUARD)
        assert not any(t.is_alive() for t in threads), "a loop hung"
        # and once more, one loop after the other (the first loop is gone by now)
        run("later")
    assert errors == []
    for label, texts in results.items():
        assert texts == [sim.answer_text(f"{label} {i}") for i in range(CALLS)]
    assert "retrying" not in caplog.text and "deque" not in caplog.text
    asyncio.run(client.shutdown())
