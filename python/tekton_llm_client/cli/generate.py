"""`tekton-llm generate "prompt"`: one answer, streamed to stdout as it arrives.

Each chunk is written and flushed at once; `--no-stream` waits for the whole answer. A failed call
is one line on stderr with exit status 1 (a stream that breaks after some text keeps that text on
stdout); a bad option or setting exits 2 (docs/cli.md).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, List, Optional

from ..exceptions import StreamInterruptedError, TektonLLMError
from . import _exit
from ._client import add_client_args, fail, open_client
from ._exit import USAGE, CommandError


def add_parser(subparsers: Any) -> None:
    """Adds the ``generate`` subcommand to the ``tekton-llm`` parser."""
    p = subparsers.add_parser("generate", help="answer one prompt, streaming to stdout", description=__doc__)
    p.add_argument("prompt", help="the prompt ('-' reads it from stdin)")
    p.add_argument("--system", default=None, help="system prompt")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer, then print it")
    add_client_args(p)


async def stream_answer(call: Any, out: Any, parts: Optional[List[str]] = None) -> str:
    """Write each chunk of `call` to `out` as it arrives (flushed); return the whole text (also
    collected in `parts`). Raises StreamInterruptedError when the stream ends in an error after
    some text."""
    parts = [] if parts is None else parts
    async for chunk in call:
        if chunk.error:
            raise StreamInterruptedError(chunk.error, partial="".join(parts))
        if chunk.chunk:
            out.write(chunk.chunk)
            out.flush()
            parts.append(chunk.chunk)
    return "".join(parts)


async def _run(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    parts: List[str] = []
    async with open_client(args) as client:
        try:
            call = client.generate_text(
                prompt,
                system_prompt=args.system,
                streaming=not args.no_stream,
                temperature=args.temperature,
                max_tokens=args.max_tokens,
            )
        except (ValueError, TypeError) as exc:  # --temperature / --max-tokens out of range
            raise CommandError("usage", str(exc), USAGE) from None
        try:
            if args.no_stream:
                resp = await call
                sys.stdout.write(resp.content)
            else:
                await stream_answer(call, sys.stdout, parts)
        except TektonLLMError as exc:
            if parts:  # end the partial text's line before the error
                sys.stdout.write("\n")
                sys.stdout.flush()
            return fail("generate", exc)
        sys.stdout.write("\n")
        sys.stdout.flush()
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point of ``tekton-llm generate``."""
    return _exit.run_async(_run(args))
