"""Forked workers (multiprocessing with fork, gunicorn --preload, Ray): a client used in the
parent keeps working in a forked child, and so does a new one — whole answers and streams, with
`os.fork()` and with multiprocessing's 'fork' context. The child reports back through a pipe;
a child that hangs is killed at the guard and the test fails. Both backends."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import select
import signal
import sys
from typing import Any, Dict

import pytest
from tekton_llm_client import TektonLLMClient
from tekton_llm_client.testing import RhetorSimulator

GUARD = 30.0  # seconds a child may take before it counts as hung

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform"),
    # Python 3.12+ warns on fork() in a process with threads: forking such a process is the point
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]


async def _calls(client: TektonLLMClient, label: str) -> Dict[str, str]:
    whole = await asyncio.wait_for(client.generate_text(f"{label} whole"), GUARD)
    call = client.generate_text(f"{label} streamed", streaming=True)
    streamed = await asyncio.wait_for(call.__aiter__().collect(), GUARD)
    return {f"{label} whole": whole.content, f"{label} streamed": streamed}


async def _child_work(old: TektonLLMClient, url: str, backend: str) -> Dict[str, str]:
    out = await _calls(old, "old")
    new = TektonLLMClient("forked", rhetor_url=url, backend=backend, max_retries=0, dialect="v1")
    out.update(await _calls(new, "new"))
    await new.shutdown()
    return out


def _child_report(old: TektonLLMClient, url: str, backend: str) -> str:
    """What the child says: its answers, or the error it met."""
    try:
        return json.dumps({"pid": os.getpid(), "answers": asyncio.run(_child_work(old, url, backend))})
    except BaseException as e:  # reported to the parent, which fails the test
        return json.dumps({"pid": os.getpid(), "error": f"{type(e).__name__}: {e}"})


def _expected(sim: RhetorSimulator) -> Dict[str, str]:
    return {f"{who} {how}": sim.answer_text(f"{who} {how}") for who in ("old", "new") for how in ("whole", "streamed")}


def _used_parent(sim: RhetorSimulator, backend: str) -> TektonLLMClient:
    """A client that has made a call and a stream in the parent (its pool and runtime are warm)."""
    client = TektonLLMClient("parent", rhetor_url=sim.url, backend=backend, max_retries=0, dialect="v1")
    asyncio.run(_calls(client, "parent"))
    return client


def test_os_fork_child_calls_with_old_and_new_client(sim: RhetorSimulator, backend: str) -> None:
    client = _used_parent(sim, backend)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(read_fd)
            os.write(write_fd, _child_report(client, sim.url, backend).encode())
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], GUARD)
        data = b""
        if ready:
            while chunk := os.read(read_fd, 65536):
                data += chunk
    finally:
        os.close(read_fd)
        if not data:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert data, f"the forked child gave no answer within {GUARD}s (hung)"
    report = json.loads(data)
    assert report.get("error") is None, report
    assert report["pid"] != os.getpid()
    assert report["answers"] == _expected(sim)
    # the parent is unharmed
    assert asyncio.run(_calls(client, "parent again"))["parent again whole"] == sim.answer_text("parent again whole")


def _mp_target(client: TektonLLMClient, url: str, backend: str, conn: Any) -> None:
    conn.send(_child_report(client, url, backend))
    conn.close()


@pytest.mark.skipif(sys.platform == "darwin", reason="fork with threads is unsafe on macOS")
def test_multiprocessing_fork_context(sim: RhetorSimulator, backend: str) -> None:
    client = _used_parent(sim, backend)
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_mp_target, args=(client, sim.url, backend, child_end))
    proc.start()
    child_end.close()
    try:
        got = parent_end.poll(GUARD)
        report = json.loads(parent_end.recv()) if got else None
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    assert report is not None, f"the forked worker gave no answer within {GUARD}s (hung)"
    assert report.get("error") is None, report
    assert report["answers"] == _expected(sim)
