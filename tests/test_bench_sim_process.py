"""`tekton-llm bench` with no `--url`: the simulator runs in a process of its own (so the CPU
figures are the client's) and is stopped whatever happens: a normal end, Ctrl-C, an error in
the bench, a simulator that cannot start."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from tekton_llm_client.bench.sim_process import SimulatorStartError, simulator_process

from .test_cli import cli, spawn, wait_for

TINY = ("--streams", "1", "--runs", "1", "--concurrency", "1", "--chunks", "20", "--paced-chunks", "3")


def running(pid: int) -> bool:
    """A live process (a zombie is as good as gone: it only waits for its parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def simulator_pid(said: str) -> int:
    """The bench says where the simulator runs before it measures."""
    match = re.search(r"simulator, in a process of its own \(pid (\d+), http://127\.0\.0\.1:\d+\)", said)
    assert match, said
    return int(match.group(1))


def test_bench_runs_the_simulator_in_its_own_process_and_stops_it() -> None:
    r = cli("bench", *TINY, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "kind" in r.stdout and "paced" in r.stdout and "unpaced" in r.stdout
    pid = simulator_pid(r.stdout)
    wait_for(lambda: not running(pid), timeout=10)


def test_ctrl_c_stops_the_simulator_too() -> None:
    # long enough streams that the bench is still running when it is interrupted
    proc = spawn("bench", "--streams", "50", "--runs", "3", "--concurrency", "1", "--paced-chunks", "1000")
    try:
        assert proc.stdout is not None and proc.stderr is not None
        pid = simulator_pid(proc.stdout.readline().decode())
        assert running(pid)
        wait_for(lambda: proc.stderr is not None and b"[1/" in proc.stderr.readline())
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    wait_for(lambda: not running(pid), timeout=10)


def test_an_error_inside_the_block_stops_the_simulator() -> None:
    with pytest.raises(RuntimeError, match="in the bench"):
        with simulator_process() as sim:
            pid = sim.pid
            assert running(pid) and sim.url.startswith("http://127.0.0.1:")
            raise RuntimeError("an error in the bench")
    wait_for(lambda: not running(pid), timeout=10)


def test_a_simulator_that_cannot_start_is_a_clear_error() -> None:
    with pytest.raises(SimulatorStartError, match="did not start"):
        with simulator_process(["--chunk-delay-ms", "not-a-number"]):
            pass
