"""The simulator in a process of its own (`tekton-llm simulate --port 0`), so that a bench's CPU
figures are the client's alone. Stopped on leaving the `with` block whatever happened (an error,
Ctrl-C), and on Linux also when this process dies without a chance to stop it."""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import IO, Iterator, List, Optional

URL_PREFIX = "RHETOR_SIMULATOR_URL="
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
_PR_SET_PDEATHSIG = 1


class SimulatorStartError(RuntimeError):
    """The simulator process did not start (its exit status and last words are in the message)."""


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _read_lines(stream: IO[str], lines: "queue.Queue[Optional[str]]") -> None:
    """Reads the child's stdout to its end (so it never blocks on a full pipe)."""
    for line in stream:
        lines.put(line)
    lines.put(None)


@dataclass(frozen=True)
class RunningSimulator:
    url: str
    pid: int


@contextlib.contextmanager
def simulator_process(extra_args: Optional[List[str]] = None) -> Iterator[RunningSimulator]:
    """Starts the simulator on a free port of 127.0.0.1; yields its URL and process id."""
    argv = [sys.executable, "-m", "tekton_llm_client", "simulate", "--port", "0", *(extra_args or [])]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C reaches this process only: it stops the child itself, after writing its results.
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        lines: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
        errors: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=_read_lines, args=(proc.stderr, errors), daemon=True).start()
        try:
            first = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            first = None
        if first is None or not first.startswith(URL_PREFIX):
            _stop(proc)
            said = []
            while not errors.empty():
                said.append(errors.get() or "")
            raise SimulatorStartError(
                f"the simulator process did not start (exit status {proc.returncode}): "
                + ("".join(said).strip()[-500:] or repr(first))
            )
        yield RunningSimulator(first.strip()[len(URL_PREFIX) :], proc.pid)
    finally:
        _stop(proc)


def _stop(proc: "subprocess.Popen[str]") -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_S."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
