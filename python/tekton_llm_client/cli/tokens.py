"""`tekton-llm tokens FILE... --model M`: token counts per file and a total, like `wc`.

All files are counted in one `count_tokens` call with the list of their texts (in parallel and
without the GIL on the native backend). `-` reads stdin. A file that cannot be read (missing, a directory,
unreadable) is reported in one line on stderr and the others are still counted (exit status 1).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, List, Tuple

from . import _exit


def add_parser(subparsers: Any) -> None:
    """Adds the ``tokens`` subcommand to the ``tekton-llm`` parser."""
    p = subparsers.add_parser("tokens", help="count tokens in files", description=__doc__)
    p.add_argument("files", nargs="+", metavar="FILE", help="text files ('-' = stdin)")
    p.add_argument("--model", default=None, help="model whose tokenizer to use (default gpt-4o)")
    p.add_argument("--encoding", default=None, help="tiktoken encoding name (overrides --model), e.g. cl100k_base")


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        return f.read()


def run(args: argparse.Namespace) -> int:
    """Entry point of ``tekton-llm tokens``."""
    from .._backend import backend_name
    from ..utils import count_tokens

    try:
        backend_name()  # TEKTON_LLM_BACKEND picks the tokenizer's backend too
    except ValueError as exc:
        raise _exit.configuration(exc) from None
    status = _exit.OK
    texts: List[Tuple[str, str]] = []
    for path in args.files:
        try:
            texts.append((path, _read(path)))
        except OSError as exc:
            _exit.report("tokens", "input", f"{path}: {exc.strerror or exc}")
            status = _exit.FAILED
    kw = {"encoding": args.encoding} if args.encoding else {}
    try:
        if args.model is not None:
            counts = count_tokens([t for _, t in texts], args.model, **kw)
        else:
            counts = count_tokens([t for _, t in texts], **kw)
    except ValueError as exc:
        raise _exit.CommandError("usage", str(exc), _exit.USAGE) from None
    if not texts:
        return status
    width = max([len(str(sum(counts)))] + [len(str(c)) for c in counts])
    for (path, _), n in zip(texts, counts, strict=True):
        print(f"{n:>{width}} {path}")
    if len(texts) > 1:
        print(f"{sum(counts):>{width}} total")
    return status
