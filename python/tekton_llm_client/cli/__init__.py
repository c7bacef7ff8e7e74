"""The `tekton-llm` command. Each subcommand lives in its own module of this package and offers
`add_parser(subparsers)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

# subcommand → module in this package
_COMMANDS = {
    "simulate": "simulate",
    "bench": "bench",
    "batch": "batch",
    "generate": "generate",
    "chat": "chat",
    "tokens": "tokens",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tekton-llm", description="Tekton's client for Rhetor, the LLM router")
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


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    broken = getattr(args, "_broken", None)
    if broken:
        print(f"tekton-llm {args.command}: cannot load: {broken}", file=sys.stderr)
        return 1
    mod = importlib.import_module(f"{__name__}.{_COMMANDS[args.command]}")
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
