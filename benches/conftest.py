"""Benchmark fixtures: the simulator in its own process (so its CPU is not the client's), and a
summary that prints each group's figures side by side with ratios against the Rust path.

Run: .venv/bin/python -m pytest benches -p no:cacheprovider --benchmark-disable-gc
(see docs/performance.md for the exact commands behind the published figures).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

# name → {metric: value}, filled by the benches through `record`
RESULTS: Dict[str, Dict[str, Dict[str, float]]] = defaultdict(dict)


def record(group: str, contender: str, **metrics: float) -> None:
    RESULTS[group][contender] = metrics


@pytest.fixture(scope="session", autouse=True)
def _offline_tiktoken() -> None:
    from tekton_llm_client._tiktoken_files import ensure_tiktoken_cache

    ensure_tiktoken_cache()


def _server(argv: List[str]) -> Iterator[str]:
    """Start a server process that prints `RHETOR_SIMULATOR_URL=...`; yield the URL."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("RHETOR_SIMULATOR_URL="):
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    try:
        yield line.split("=", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    """A simulator process (one worker thread, recording off, room for every bench connection)
    for the whole session."""
    yield from _server(
        [
            sys.executable,
            "-m",
            "tekton_llm_client",
            "simulate",
            "--port",
            "0",
            "--workers",
            "1",
            "--max-connections",
            "8192",
        ]
    )


@pytest.fixture(scope="session")
def one_event_url() -> Iterator[str]:
    """A Python server that writes one SSE event per write, as uvicorn does (own process)."""
    yield from _server([sys.executable, str(Path(__file__).with_name("one_event_server.py"))])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("tekton-llm-client benchmark figures (ratios against the Rust path)")
    for group, contenders in RESULTS.items():
        tr.write_line(f"[{group}]")
        metrics: List[str] = sorted({m for c in contenders.values() for m in c})
        base = contenders.get("rust") or contenders.get("rust-batch") or next(iter(contenders.values()))
        for name, vals in contenders.items():
            parts = []
            for m in metrics:
                if m not in vals:
                    continue
                v = vals[m]
                ratio = ""
                if name not in ("rust",) and m in base and base[m]:
                    ratio = f" ({v / base[m]:.2f}x rust)"
                parts.append(f"{m}={v:,.2f}{ratio}")
            tr.write_line(f"  {name:22s} " + "  ".join(parts))
