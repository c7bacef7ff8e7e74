"""What the client commands (`batch`, `generate`, `chat`) share: the connection options and a
client that talks to `--url`, the RHETOR_* environment, or an embedded simulator (`--simulate`)."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any, AsyncIterator, Dict, Optional

from .. import config
from ..client import TektonLLMClient
from ..exceptions import ConnectionError, TektonLLMError
from . import _exit

COMPONENT_ID = "tekton-llm-cli"


def rhetor_url_arg(value: str) -> str:
    """--url, checked as the client checks it: a bad one is a usage error, not a traceback."""
    try:
        return config.rhetor_url(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_client_args(p: argparse.ArgumentParser) -> None:
    """--url, --simulate, --provider/--model, --timeout, --retries, --backend."""
    g = p.add_argument_group("connection")
    g.add_argument(
        "--url",
        default=None,
        type=rhetor_url_arg,
        help="Rhetor's base URL (default: RHETOR_URL, else http://localhost:8003)",
    )
    g.add_argument("--simulate", action="store_true", help="talk to an embedded Rhetor simulator instead")
    g.add_argument("--provider", default=None, help="provider id (default: RHETOR_DEFAULT_PROVIDER)")
    g.add_argument("--model", default=None, help="model id (default: RHETOR_DEFAULT_MODEL)")
    g.add_argument("--timeout", type=float, default=None, help="seconds per attempt (default: RHETOR_TIMEOUT, else 30)")
    g.add_argument("--retries", type=int, default=None, help="retries per call (default: RHETOR_MAX_RETRIES, else 3)")
    g.add_argument(
        "--backend",
        choices=["rust", "python"],
        default=None,
        help="client backend (default: TEKTON_LLM_BACKEND, else rust)",
    )
    g.add_argument("-v", "--verbose", action="store_true", help="also log retries, fallbacks and reconnects")


def make_client(component_id: str, **kw: Any) -> TektonLLMClient:
    """A client; a setting it refuses (an argument or RHETOR_*/TEKTON_LLM_* variable) is a
    configuration error of the command, not a traceback."""
    try:
        return TektonLLMClient(component_id, **kw)
    except (ValueError, TypeError) as exc:
        raise _exit.configuration(exc) from None


@contextlib.asynccontextmanager
async def open_client(args: argparse.Namespace, **kw: Any) -> AsyncIterator[TektonLLMClient]:
    """A client for the command's options; with --simulate, a simulator runs for its lifetime."""
    sim: Any = None
    url: Optional[str] = args.url
    if args.simulate:
        from ..testing import RhetorSimulator

        sim = RhetorSimulator(record=False, worker_threads=2).start()
        url = sim.url
    try:
        client = make_client(
            COMPONENT_ID,
            rhetor_url=url,
            provider_id=args.provider,
            model_id=args.model,
            timeout=args.timeout,
            max_retries=args.retries,
            backend=args.backend,
            **kw,
        )
    except BaseException:
        if sim is not None:
            sim.stop()
        raise
    try:
        yield client
    except ConnectionError as exc:  # the command could not reach Rhetor at all: say where it looked
        if client.rhetor_url in str(exc):
            raise
        raise _exit.CommandError("connection", f"{exc} (Rhetor at {client.rhetor_url})", _exit.FAILED) from None
    finally:
        await client.shutdown()
        if sim is not None:
            sim.stop()


def error_kind(exc: BaseException) -> str:
    """A short, stable name for an error: its kind (`TektonLLMError.kind`), or the class name."""
    if isinstance(exc, TektonLLMError):
        return exc.kind
    if isinstance(exc, (ValueError, TypeError)):
        return "invalid_input"
    return type(exc).__name__


def error_record(exc: BaseException) -> Dict[str, Any]:
    """The `error` object of an output line."""
    rec: Dict[str, Any] = {"kind": error_kind(exc), "message": getattr(exc, "message", None) or str(exc)}
    status = getattr(exc, "status_code", None)
    if status is not None:
        rec["status_code"] = status
    return rec


def fail(command: str, exc: BaseException) -> int:
    """Report a failed call in one line on stderr; exit status 1."""
    _exit.report(command, error_kind(exc), str(exc))
    return _exit.FAILED
