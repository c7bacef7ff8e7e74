"""A Rust panic anywhere Python can reach becomes a Python exception: never an abort of the
interpreter, never an awaitable or stream that hangs, never a stream that looks complete.

The panics come from `_core._test_panic(where)`, a hook that panics only with
TEKTON_LLM_TEST_PANICS=1 in the environment. It is compiled only with the `test-hooks` cargo
feature: release wheels do not have it, so scripts/test-all runs this file against a debug build
made with `maturin develop --features test-hooks` (and checks that the release wheel has no hook).
Against a build without the hooks every test here fails, saying so: never a silent skip."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest
from tekton_llm_client import TektonLLMError
from tekton_llm_client._backend import require_native

_core = require_native()
HOOKS_BUILD = "build the native module with the test hooks: maturin develop --features test-hooks"


@pytest.fixture(autouse=True)
def _hooks_built() -> None:
    if not hasattr(_core, "_test_panic"):
        pytest.fail(f"_core has no _test_panic: {HOOKS_BUILD}", pytrace=False)


@pytest.fixture(autouse=True)
def _panics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEKTON_LLM_TEST_PANICS", "1")


def test_the_hook_refuses_without_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEKTON_LLM_TEST_PANICS")
    with pytest.raises(RuntimeError, match="TEKTON_LLM_TEST_PANICS"):
        _core._test_panic("pyfunction")


def test_panic_in_a_pyfunction_is_an_exception() -> None:
    # PyO3 raises PanicException (a BaseException, so a bare `except Exception` does not
    # swallow a bug); the interpreter goes on.
    with pytest.raises(BaseException, match="deliberate test panic in a pyfunction") as ei:
        _core._test_panic("pyfunction")
    assert type(ei.value).__name__ == "PanicException"
    assert _core.sim_answer_text("still alive") == "Simulated answer to: still alive"


@pytest.mark.parametrize("where", ["future", "convert"])
async def test_panic_in_an_awaitable_is_a_tekton_error(where: str) -> None:
    with pytest.raises(TektonLLMError, match="panicked") as ei:
        await asyncio.wait_for(_core._test_panic(where), 10)
    assert "deliberate test panic" in str(ei.value)


async def test_panic_in_a_stream_reader_is_an_error_not_an_end() -> None:
    stream: Any = _core._test_panic("stream")
    texts: List[str] = []
    error = None
    try:
        while True:
            batch = await asyncio.wait_for(stream.next_batch(), 10)
            if batch is None:
                break
            for chunk in batch:
                if chunk.error:
                    error = chunk.error
                texts.append(chunk.chunk)
    except TektonLLMError as e:
        error = str(e)
    assert texts[:1] == ["partial"]
    assert error is not None and "deliberate test panic in a stream reader" in error, (
        "the stream ended cleanly after its reader panicked"
    )


async def test_panic_in_the_websocket_task_fails_requests_and_ends_events() -> None:
    transport: Any = _core._test_panic("ws")
    events: List[tuple] = []
    while True:
        batch = await asyncio.wait_for(transport.next_events(), 10)
        if batch is None:
            break
        events.extend(batch)
    failed = [e for e in events if e[0] == 2 and e[1] == "r1"]
    assert failed, events
    assert failed[0][2] == "connection" and "panicked" in failed[0][3]
    assert any(e[0] == 5 and "panicked" in e[2] for e in events), events
    with pytest.raises(TektonLLMError):
        await asyncio.wait_for(transport.send("r2", "{}"), 10)


def test_release_builds_unwind() -> None:
    """With panic = "abort" every panic above would kill the interpreter."""
    import pathlib

    import tomllib

    manifest = pathlib.Path(__file__).resolve().parent.parent / "Cargo.toml"
    profile = tomllib.loads(manifest.read_text())["profile"]["release"]
    assert profile.get("panic", "unwind") == "unwind"
