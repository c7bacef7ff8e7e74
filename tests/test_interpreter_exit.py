"""Exiting with calls, streams and WebSocket requests still in flight ends the process cleanly:
no runtime thread may attach to an interpreter that is finalizing (that aborts CPython < 3.13)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from tekton_llm_client.testing import RhetorSimulator

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from tekton_llm_client import TektonLLMClient, TektonLLMWebSocketClient
    url, backend = sys.argv[1], sys.argv[2]

    async def main():
        c = TektonLLMClient("exit", rhetor_url=url, backend=backend, max_retries=5, backoff_initial=0.001)
        for i in range(32):
            asyncio.ensure_future(c.generate_text(f"p{i}", options={"sim": {"trickle_ms": 2, "length": 100}}))
        streams = [c.generate_text("s", streaming=True,
                                   options={"sim": {"chunk_delay_ms": 2, "chunks": 500}}).__aiter__()
                   for _ in range(8)]
        for s in streams:
            await s.__anext__()
        ws = TektonLLMWebSocketClient("exit", rhetor_url=url, backend=backend)
        await ws.connect()
        for i in range(8):
            await ws.generate(prompt=f"w{i}", callback=lambda chunk: None,
                              options={"sim": {"chunk_delay_ms": 2, "chunks": 500}})
        await asyncio.sleep(0.05)
        # return with everything above still running

    asyncio.run(main())
    print("exited")
    """
)


@pytest.mark.parametrize("run", range(5))
def test_exit_with_work_in_flight(backend: str, run: int) -> None:
    with RhetorSimulator(record=False) as sim:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, sim.url, backend], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("exited")
