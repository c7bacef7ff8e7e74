"""The `tekton-llm` command. Each subcommand lives in its own module of this package and offers
`add_parser(subparsers)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from typing import Callable, List, NoReturn, Optional

from ..exceptions import TektonLLMError
from . import _exit
from ._client import error_kind

# subcommand → module in this package
_COMMANDS = {
    "simulate": "simulate",
    "bench": "bench",
    "batch": "batch",
    "generate": "generate",
    "chat": "chat",
    "tokens": "tokens",
}


class _Parser(argparse.ArgumentParser):
    """argparse, with a command-line mistake in the one-line form of every other failure."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.split(" ", 1)[1] if " " in self.prog else "tekton-llm"
        _exit.report(command, "usage", f"{message} (see {self.prog} --help)")
        sys.exit(_exit.USAGE)


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = _Parser(
        prog="tekton-llm",
        description="Tekton's client for Rhetor, the LLM router",
        epilog="Exit statuses and error lines: docs/cli.md",
    )
    parser.add_argument("--version", action="version", version=f"tekton-llm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _COMMANDS.items():
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ImportError as exc:  # a subcommand whose module failed to import is reported, not hidden
            p = sub.add_parser(name, help=f"(unavailable: {exc})")
            p.set_defaults(_broken=str(exc))
            continue
        mod.add_parser(sub)
    return parser


def _log_to_stderr(command: str, verbose: bool) -> Callable[[], None]:
    """The library's log lines (retries, fallbacks, reconnects) only with --verbose: without it a
    failure is reported once, by the command, not once per retry. Returns what puts the logger
    back as it was (main() called in-process, by a test or a program, must not leave it changed)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"tekton-llm {command}: %(levelname)s: %(message)s"))
    logger = logging.getLogger("tekton_llm_client")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.ERROR)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate

    return restore


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = getattr(args, "command", None)
    if not command:
        parser.print_help()
        return _exit.USAGE
    broken = getattr(args, "_broken", None)
    if broken:
        _exit.report(command, "internal", f"cannot load: {broken}")
        return _exit.INTERNAL
    restore_logging = _log_to_stderr(command, bool(getattr(args, "verbose", False)))
    try:
        mod = importlib.import_module(f"{__name__}.{_COMMANDS[command]}")
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        return _exit.INTERRUPTED
    except _exit.CommandError as exc:
        _exit.report(command, exc.kind, exc.message)
        return exc.status
    except TektonLLMError as exc:
        _exit.report(command, error_kind(exc), str(exc))
        return _exit.FAILED
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # the last net (a PanicException is a BaseException): one line, not a traceback
        if os.environ.get("TEKTON_LLM_DEBUG"):
            traceback.print_exc()
        _exit.report(
            command,
            "internal",
            f"{type(exc).__name__}: {exc} (a bug in tekton-llm; TEKTON_LLM_DEBUG=1 shows the traceback)",
        )
        return _exit.INTERNAL
    finally:
        restore_logging()


if __name__ == "__main__":
    sys.exit(main())
