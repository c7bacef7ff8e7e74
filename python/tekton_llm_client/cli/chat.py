"""`tekton-llm chat`: an interactive conversation on stdin/stdout.

Each line read is a user message; the answer streams to stdout. `/exit` (or `/quit`, or end of
input) ends the session, `/reset` forgets the history. The history is kept and trimmed before
every call with `optimize_messages_for_token_limit` to `--max-context-tokens` (the system prompt
and the newest message are always kept). A failed turn is reported on stderr and forgotten; the
exit status is 1 if any turn failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, Dict, List

from ..exceptions import TektonLLMError
from ..models import Message
from . import _exit
from ._client import add_client_args, fail, open_client
from .generate import stream_answer


def add_parser(subparsers: Any) -> None:
    """Adds the ``chat`` subcommand to the ``tekton-llm`` parser."""
    p = subparsers.add_parser(
        "chat", help="interactive chat (stdin lines in, streamed answers out)", description=__doc__
    )
    p.add_argument("--system", default=None, help="system prompt (kept through trimming)")
    p.add_argument(
        "--max-context-tokens",
        type=int,
        default=8000,
        help="trim the history to this many tokens before each call (default 8000)",
    )
    add_client_args(p)


def trim(history: List[Dict[str, Any]], max_tokens: int, model: Any) -> List[Dict[str, Any]]:
    """The history cut to `max_tokens` for `model` (the utils' default model when None)."""
    from ..utils import optimize_messages_for_token_limit

    if model is None:
        kept = optimize_messages_for_token_limit(history, max_tokens, keep_system_prompt=True)
    else:
        kept = optimize_messages_for_token_limit(history, max_tokens, model, keep_system_prompt=True)
    return [m.to_dict() if isinstance(m, Message) else dict(m) for m in kept]


async def _run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    interactive = sys.stdin.isatty()
    history: List[Dict[str, Any]] = [{"role": "system", "content": args.system}] if args.system else []
    status = 0
    async with open_client(args) as client:
        while True:
            if interactive:
                sys.stderr.write("> ")
                sys.stderr.flush()
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            text = line.rstrip("\r\n")
            if text.strip() in ("/exit", "/quit"):
                break
            if text.strip() == "/reset":
                history = history[:1] if args.system else []
                continue
            if not text.strip():
                continue
            try:
                history = trim(history + [{"role": "user", "content": text}], args.max_context_tokens, args.model)
            except ValueError as exc:
                status = fail("chat", exc)
                continue
            parts: List[str] = []
            try:
                answer = await stream_answer(client.generate_chat_response(history, streaming=True), sys.stdout, parts)
            except TektonLLMError as exc:
                if parts:
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                history.pop()  # forget the failed turn
                status = fail("chat", exc)
                continue
            sys.stdout.write("\n")
            sys.stdout.flush()
            history.append({"role": "assistant", "content": answer})
    return status


def run(args: argparse.Namespace) -> int:
    """Entry point of ``tekton-llm chat``."""
    if args.max_context_tokens < 1:
        raise _exit.CommandError("usage", "--max-context-tokens must be at least 1", _exit.USAGE)
    return _exit.run_async(_run(args))
