"""Log lines reach Python's `logging` while the work that logs them is still under way. On the Rust
path the I/O thread only queues a line and wakes an event loop, which emits it on its own thread
(docs/handoff.md): this checks that the wake-up happens without any result to deliver."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tekton_llm_client import TektonLLMClient
from tekton_llm_client.testing import RhetorSimulator

from .conftest import wait_until


async def test_a_retry_is_logged_while_the_call_still_waits(
    sim: RhetorSimulator, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The backoff is long, so the call is still waiting when the retry line must have arrived.
    client = TektonLLMClient(
        "log-handoff", rhetor_url=sim.url, backend=backend, max_retries=3, backoff_initial=60, backoff_max=60
    )
    caplog.set_level(logging.WARNING, logger="tekton_llm_client")
    call = asyncio.ensure_future(client.generate_text("slow", options={"sim": {"fail_status": 503, "fail_times": 3}}))
    try:
        logged = await wait_until(lambda: any("retrying" in r.getMessage() for r in caplog.records), timeout=10)
        assert logged, "no retry line reached logging while the call was waiting"
        assert not call.done()
    finally:
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        await client.shutdown()
