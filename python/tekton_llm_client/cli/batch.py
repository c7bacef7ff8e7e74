"""`tekton-llm batch INPUT.jsonl -o OUTPUT.jsonl`: run every line of a JSONL file through Rhetor.

Input: one JSON object per line with `prompt` or `messages`, and optionally `id`,
`system_prompt`, `options`, `provider_id`, `model_id`, `temperature`, `max_tokens` (other keys
are ignored). A line without `id` gets `line-<n>` (its 1-based line number), so a re-run finds it.

Output: one JSON object per id: `id`, `content`, `model`, `provider`, `finish_reason`, `usage`,
`latency_ms`, `fallback`; or `id` and `error` (`kind`, `message`, maybe `status_code`) and, for
a bad input line, `line`. Lines follow the input's order.

Resume and crash safety (see docs/batch.md): finished items are appended, one whole line per
write, to `OUTPUT.jsonl.journal` while the run goes on; at the end (also after Ctrl-C) the
previous output and the journal are merged into a temporary file that atomically replaces
OUTPUT.jsonl, and the journal is removed. So OUTPUT.jsonl is always a complete, valid file with at
most one line per id, and a run killed outright leaves its progress in the journal, which the next
run merges. Re-running skips ids already answered and tries failed ones again.

One run at a time per output: a second run on the same OUTPUT.jsonl is refused (exit 4).

Exit status: 0 all answered, 1 some failed (or Rhetor could not be reached), 2 usage or
configuration error, 3 the output could not be written (a full disk), 4 another run holds the
output, 130 interrupted (Ctrl-C). Every failure is one line on stderr (docs/cli.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any, Dict, List, Optional

from ..batch import BatchResult
from . import _exit
from ._batch_store import Store
from ._client import add_client_args, error_record, open_client
from ._exit import FAILED, INTERRUPTED, OK, USAGE, CommandError
from ._input import Input, count_lines
from ._progress import Progress
from .batch_ray import run_on_ray


def add_parser(subparsers: Any) -> None:
    """Adds the ``batch`` subcommand to the ``tekton-llm`` parser."""
    p = subparsers.add_parser(
        "batch",
        help="answer every line of a JSONL file (resumable)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT.jsonl", help="requests, one JSON object per line ('-' = stdin)")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT.jsonl", help="answers (resumed if present)")
    p.add_argument("--concurrency", type=int, default=32, help="requests at once (default 32)")
    p.add_argument("--rate", type=float, default=None, help="at most this many requests started per second")
    p.add_argument("--progress", action="store_true", help="show progress on stderr even when it is not a terminal")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run on a Ray cluster (a local one without ADDRESS); see docs/scale-out.md",
    )
    p.add_argument("--actors", type=int, default=2, help="with --ray: actors (default 2)")
    p.add_argument("--batch-size", type=int, default=256, help="with --ray: rows per actor call (default 256)")
    add_client_args(p)


def success_record(r: BatchResult) -> Dict[str, Any]:
    resp = r.response
    assert resp is not None
    usage = resp.usage.to_dict() if resp.usage is not None else None
    latency = getattr(resp, "latency", None)
    return {
        "id": r.id,
        "content": resp.content,
        "model": resp.model,
        "provider": resp.provider,
        "finish_reason": resp.finish_reason,
        "usage": usage,
        "latency_ms": round(latency * 1000, 1) if latency is not None else None,
        "fallback": bool(resp.fallback),
    }


async def _run(args: argparse.Namespace) -> int:
    store = Store(args.output)
    store.open()  # the lock first: a second run stops here, before it reads or writes anything
    show = args.progress or sys.stderr.isatty()
    failed = 0
    input_path = args.input

    def on_bad(item_id: str, n: int, problem: str) -> None:
        nonlocal failed
        failed += 1
        progress.say(f"{input_path}:{n}: {problem}")
        store.record(item_id, {"id": item_id, "line": n, "error": {"kind": "invalid_input", "message": problem}})
        progress.update(True)

    source = Input(args.input, store.answered, store.order, on_bad)
    progress = Progress(sys.stderr if show else None, count_lines(args.input) if show and args.input != "-" else None)
    interrupted = False
    finished = False
    failure: Optional[BaseException] = None
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_sigint() -> None:
        nonlocal interrupted
        if not interrupted and main is not None:
            interrupted = True
            main.cancel()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        async with open_client(args) as client:
            batch = client.generate_batch(iter(source), concurrency=args.concurrency, rate_limit=args.rate)
            try:
                async for r in batch:
                    progress.skipped = source.skipped
                    if r.ok:
                        store.record(r.id, success_record(r))
                    else:
                        failed += 1
                        assert r.error is not None
                        rec: Dict[str, Any] = {"id": r.id, "error": error_record(r.error)}
                        line = source.line_of.get(r.id)
                        if rec["error"]["kind"] == "invalid_input" and line is not None:
                            rec["line"] = line  # never sent: the line is what to fix
                        progress.say(f"{input_path}:{line or '?'}: {r.id}: {rec['error']['kind']}: {r.error}")
                        store.record(r.id, rec)
                    progress.update(not r.ok)
            finally:
                await batch.aclose()
        finished = True
    except asyncio.CancelledError:
        if not interrupted:
            raise
    except BaseException as exc:
        failure = exc
        raise
    finally:
        progress.skipped = source.skipped
        progress.finish()
        try:
            # still under our handler: a second Ctrl-C cannot cut it short
            store.compact(keep_empty=finished)
        except CommandError:
            if failure is None:
                raise
            # already failing (say a full disk while journaling): the first error is the one reported
        finally:
            loop.remove_signal_handler(signal.SIGINT)
    if interrupted:
        _exit.report("batch", "interrupted", f"{len(store.answered)} answers kept in {args.output}")
        return INTERRUPTED
    return FAILED if failed else OK


def _usage_problems(args: argparse.Namespace) -> List[str]:
    problems: List[str] = []
    if args.input != "-":
        if os.path.isdir(args.input):
            problems.append(f"the input is a directory, not a file: {args.input}")
        elif not os.path.isfile(args.input):
            problems.append(f"no such input file: {args.input}")
        elif not os.access(args.input, os.R_OK):
            problems.append(f"cannot read the input file: {args.input}")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if os.path.isdir(args.output):
        problems.append(f"the output is a directory, not a file: {args.output}")
    elif not os.path.isdir(out_dir):
        problems.append(f"the output's directory does not exist: {out_dir}")
    if args.concurrency < 1:
        problems.append("--concurrency must be at least 1")
    if args.rate is not None and not args.rate > 0:
        problems.append("--rate must be positive")
    if args.actors < 1 or args.batch_size < 1:
        problems.append("--actors and --batch-size must be at least 1")
    return problems


def run(args: argparse.Namespace) -> int:
    """Entry point of ``tekton-llm batch``."""
    problems = _usage_problems(args)
    if problems:
        raise CommandError("usage", "; ".join(problems), USAGE)
    if args.ray is not None:
        return run_on_ray(args)
    return _exit.run_async(_run(args))
