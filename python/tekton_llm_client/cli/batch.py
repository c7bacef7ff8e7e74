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

Exit status: 0 all answered, 1 some failed, 130 interrupted (Ctrl-C), 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Set, TextIO, Tuple

from ..batch import BatchResult
from ._client import add_client_args, error_kind, error_record, open_client


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
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster (a local one without ADDRESS); see docs/scale-out.md")
    p.add_argument("--actors", type=int, default=2, help="with --ray: actors (default 2)")
    p.add_argument("--batch-size", type=int, default=256, help="with --ray: rows per actor call (default 256)")
    add_client_args(p)


class Store:
    """The answers so far: previous output, journal, and this run's results; one per id."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.journal = output + ".journal"
        self.lines: Dict[str, str] = {}  # id → its serialized output line (no newline)
        self.answered: Set[str] = set()
        self.order: Dict[str, int] = {}  # id → input line number, for the final order
        self._fd: Optional[int] = None

    def load(self) -> None:
        """Read the previous output, then a journal left by a run that did not finish."""
        for path in (self.output, self.journal):
            if not os.path.exists(path):
                continue
            with open(path, "rb") as f:
                for n, raw in enumerate(f, 1):
                    try:
                        rec = json.loads(raw)
                        item_id = str(rec["id"])
                    except (ValueError, KeyError, TypeError):
                        if raw.strip():
                            print(f"{path}:{n}: ignoring an unreadable line", file=sys.stderr)
                        continue
                    self._keep(item_id, rec, raw.decode("utf-8", "replace").rstrip("\r\n"))

    def _keep(self, item_id: str, rec: Dict[str, Any], line: str) -> None:
        if item_id in self.answered:
            return  # an answer is never replaced
        self.lines[item_id] = line
        if "error" not in rec:
            self.answered.add(item_id)

    def record(self, item_id: str, rec: Dict[str, Any]) -> None:
        """Keep `rec` and append it to the journal in one write (a crash leaves whole lines)."""
        line = json.dumps(rec, ensure_ascii=False)
        self._keep(item_id, rec, line)
        if self._fd is None:
            self._fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        data = (line + "\n").encode("utf-8")
        while data:
            data = data[os.write(self._fd, data):]

    def compact(self) -> None:
        """Write every kept line to OUTPUT atomically (input order first), then drop the journal."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        last = len(self.order) + 1
        ids = sorted(self.lines, key=lambda i: self.order.get(i, last))  # stable: unknown ids keep their order
        tmp = self.output + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for i in ids:
                f.write(self.lines[i])
                f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.output)
        if os.path.exists(self.journal):
            os.remove(self.journal)


class Progress:
    """One status line on stderr, redrawn at most ten times a second."""

    def __init__(self, out: Optional[TextIO], total: int, skipped: int) -> None:
        self.out = out
        self.total = total
        self.skipped = skipped
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def update(self, failed: bool, force: bool = False) -> None:
        self.done += 1
        self.failed += int(failed)
        self.draw(force)

    def draw(self, force: bool = False) -> None:
        if self.out is None:
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        rate = self.done / max(now - self.started, 1e-9)
        left = max(self.total - self.skipped - self.done, 0)
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        self.out.write(f"\r{self.skipped + self.done}/{self.total} done, {self.failed} failed{skipped}, "
                       f"{rate:.1f}/s, ETA {eta}   ")
        self.out.flush()

    def say(self, message: str) -> None:
        """Print a message line on stderr without mangling the status line."""
        if self.out is not None:
            self.out.write("\r\033[K")
        print(message, file=sys.stderr)
        if self.out is not None:
            self.draw(force=True)

    def finish(self) -> None:
        if self.out is not None:
            self.draw(force=True)
            self.out.write("\n")
            self.out.flush()


def _count_lines(path: str) -> int:
    n = 0
    with open(path, "rb") as f:
        for raw in f:
            n += bool(raw.strip())
    return n


class Input:
    """The input lines as batch items, read lazily; bad lines are recorded, never sent."""

    def __init__(self, path: str, store: Store, on_bad: Any) -> None:
        self.path = path
        self.store = store
        self.on_bad = on_bad
        self.skipped = 0
        self.line_of: Dict[str, int] = {}

    def _open(self) -> Any:
        return sys.stdin.buffer if self.path == "-" else open(self.path, "rb")

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        f = self._open()
        try:
            for n, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                item, problem = self._parse(n, raw)
                item_id = str(item["id"]) if item is not None else f"line-{n}"
                if problem is None and item_id in self.line_of:
                    problem = f"duplicate id {item_id!r} (first on line {self.line_of[item_id]})"
                    item_id = f"line-{n}"
                self.store.order.setdefault(item_id, n)
                self.line_of.setdefault(item_id, n)
                if problem is not None:
                    self.on_bad(item_id, n, problem)
                elif item_id in self.store.answered:
                    self.skipped += 1
                elif item is not None:
                    yield item
        finally:
            if f is not sys.stdin.buffer:
                f.close()

    @staticmethod
    def _parse(n: int, raw: bytes) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
        try:
            obj = json.loads(raw)
        except ValueError as e:
            return None, f"invalid JSON: {e}"
        if not isinstance(obj, dict):
            return None, f"a line must be a JSON object, not {type(obj).__name__}"
        item_id = obj.get("id")
        if item_id is None:
            obj["id"] = f"line-{n}"
        elif not isinstance(item_id, (str, int)) or isinstance(item_id, bool):
            return None, f"id must be a string or an integer, not {type(item_id).__name__}"
        if "prompt" not in obj and "messages" not in obj:
            return obj, "no 'prompt' or 'messages'"
        return obj, None


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
    store.load()
    show = args.progress or sys.stderr.isatty()
    failed = 0
    input_path = args.input

    def on_bad(item_id: str, n: int, problem: str) -> None:
        nonlocal failed
        failed += 1
        progress.say(f"{input_path}:{n}: {problem}")
        store.record(item_id, {"id": item_id, "line": n, "error": {"kind": "invalid_input", "message": problem}})
        progress.update(True)

    source = Input(args.input, store, on_bad)
    total = _count_lines(args.input) if show and args.input != "-" else 0
    progress = Progress(sys.stderr if show else None, total, 0)
    interrupted = False
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
                        if error_kind(r.error) == "invalid_input":
                            progress.say(f"{input_path}:{source.line_of.get(r.id, '?')}: {r.error}")
                        store.record(r.id, {"id": r.id, "error": error_record(r.error)})
                    progress.update(not r.ok)
            finally:
                await batch.aclose()
    except asyncio.CancelledError:
        if not interrupted:
            raise
    finally:
        progress.skipped = source.skipped
        progress.finish()
        store.compact()  # still under our handler: a second Ctrl-C cannot cut it short
        loop.remove_signal_handler(signal.SIGINT)
    if interrupted:
        print(f"tekton-llm batch: interrupted; {len(store.answered)} answers kept in {args.output}", file=sys.stderr)
        return 130
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    """Entry point of ``tekton-llm batch``."""
    problems: List[str] = []
    if args.input != "-" and not os.path.isfile(args.input):
        problems.append(f"no such input file: {args.input}")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        problems.append(f"the output's directory does not exist: {out_dir}")
    if args.concurrency < 1:
        problems.append("--concurrency must be at least 1")
    if args.rate is not None and not args.rate > 0:
        problems.append("--rate must be positive")
    if args.actors < 1 or args.batch_size < 1:
        problems.append("--actors and --batch-size must be at least 1")
    if problems:
        for p in problems:
            print(f"tekton-llm batch: {p}", file=sys.stderr)
        return 2
    if args.ray is not None:
        from .batch_ray import run_on_ray

        return run_on_ray(args)
    return asyncio.run(_run(args))
