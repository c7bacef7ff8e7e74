"""Shared fixtures: a fresh simulator per test, and the backend parameter that runs the client
tests against both the Rust core and the pure-Python path."""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Iterator

import pytest
from tekton_llm_client.testing import RhetorSimulator


@pytest.fixture(scope="session", autouse=True)
def _offline_tiktoken() -> None:
    """Python tiktoken (used by the pure path and the differential tests) reads its rank files
    from a cache the project fills from the native module: no network."""
    from tekton_llm_client._tiktoken_files import ensure_tiktoken_cache

    ensure_tiktoken_cache()


@pytest.fixture
def sim() -> Iterator[RhetorSimulator]:
    with RhetorSimulator() as s:
        yield s


@pytest.fixture(params=["rust", "python"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `cond` until it holds (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.01)
    return cond()
