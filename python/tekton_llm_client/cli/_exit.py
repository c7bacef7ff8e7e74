"""How every `tekton-llm` command ends a failure: one line on stderr,
`tekton-llm <cmd>: <kind>: <message>`, and an exit status from this table (docs/cli.md)."""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
from typing import Any, Coroutine, Dict, TypeVar

T = TypeVar("T")
OK = 0
FAILED = 1  # a call failed; for `batch`, some items failed
USAGE = 2  # bad arguments, configuration (RHETOR_* / TEKTON_LLM_* environment) or input file
OUTPUT = 3  # the output could not be written (a full disk, an I/O error)
BUSY = 4  # another `tekton-llm batch` is writing the same output
INTERNAL = 70  # a bug in tekton-llm (EX_SOFTWARE); still one line, never a traceback
INTERRUPTED = 130  # Ctrl-C


class CommandError(Exception):
    """A failure the command reports in one line and exits with `status`."""

    def __init__(self, kind: str, message: str, status: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


def configuration(exc: BaseException) -> CommandError:
    """A setting (argument or environment variable) the client refused."""
    return CommandError("configuration", str(exc), USAGE)


def output_error(path: str, exc: OSError) -> CommandError:
    """Writing (or reading back) `path` failed; a full disk has its own kind so that scripts can tell."""
    kind = "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "output"
    return CommandError(kind, f"{path}: {exc.strerror or exc}", OUTPUT)


def report(command: str, kind: str, message: str) -> None:
    """The one line: `tekton-llm <cmd>: <kind>: <message>` (the message on one line)."""
    text = " ".join(str(message).split()) or "(no message)"
    prefix = "tekton-llm" if command == "tekton-llm" else f"tekton-llm {command}"
    print(f"{prefix}: {kind}: {text}", file=sys.stderr, flush=True)


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, with the loop's unhandled-exception reports (a task that failed while
    the run was being torn down) as one log line, shown with --verbose, instead of a traceback."""

    async def quiet() -> T:
        asyncio.get_running_loop().set_exception_handler(_log_loop_error)
        return await main

    return asyncio.run(quiet())


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
    exc = context.get("exception")
    logging.getLogger("tekton_llm_client").warning(
        "asyncio: %s%s", context.get("message", "unhandled exception"), f": {exc!r}" if exc is not None else ""
    )
