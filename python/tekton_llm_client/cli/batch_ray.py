"""`tekton-llm batch INPUT.jsonl -o OUTPUT.jsonl --ray [ADDRESS]`: the batch command's job on a Ray
cluster (a local one without ADDRESS), with the same guarantees: the input read by `Input` (bad
lines reported with their line number, answered ids skipped), every answer journalled by `Store`
as it arrives in the driver and the output compacted atomically at the end, one line per id.

The rows go to `RhetorChat` actors (`--actors`, `--concurrency` in flight each) in slices of the
input, so the driver holds one slice at a time; `--rate` is the whole job's rate (a shared
limiter). A row is journalled only when its result reaches the driver, so an actor (or the driver)
that dies loses nothing but the rows in flight: Ray retries the actor's task, and a re-run asks
whatever the output does not hold yet.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, Iterator, List

from ..exceptions import KIND_CLASSES
from ._batch_store import Store
from ._input import Input, count_lines
from ._progress import Progress

ROWS_PER_SLICE = 20_000
_KIND_OF_CLASS = {cls.__name__: cls.kind for cls in KIND_CLASSES.values()}


def _row(item: Dict[str, Any]) -> Dict[str, Any]:
    """An input item as a dataset row; `options` as JSON text (Arrow would unify rows' dicts)."""
    row: Dict[str, Any] = {"id": str(item["id"])}
    for key in (
        "prompt",
        "messages",
        "system_prompt",
        "provider_id",
        "model_id",
        "context_id",
        "temperature",
        "max_tokens",
    ):
        if item.get(key) is not None:
            row[key] = item[key]
    if item.get("options") is not None:
        row["options"] = json.dumps(item["options"])
    return row


def _slices(items: Iterator[Dict[str, Any]], size: int) -> Iterator[List[Dict[str, Any]]]:
    chunk: List[Dict[str, Any]] = []
    for item in items:
        chunk.append(_row(item))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def output_record(row: Dict[str, Any]) -> Dict[str, Any]:
    """A RhetorChat output row as the batch command's output line."""
    if row.get("error_kind") is None:
        latency = row.get("latency_s")
        prompt_tokens, completion_tokens = row.get("usage_prompt_tokens"), row.get("usage_completion_tokens")
        usage = (
            None
            if prompt_tokens is None
            else {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + (completion_tokens or 0),
            }
        )
        return {
            "id": row["id"],
            "content": row["content"],
            "model": row["model"],
            "provider": row["provider"],
            "finish_reason": row.get("finish_reason"),
            "usage": usage,
            "latency_ms": round(latency * 1000, 1) if latency is not None else None,
            "fallback": bool(row.get("fallback")),
        }
    cls = row["error_kind"]
    kind = "invalid_input" if cls in ("ValueError", "TypeError") else _KIND_OF_CLASS.get(cls, "error")
    error: Dict[str, Any] = {"kind": kind, "message": row["error"]}
    if row.get("status_code") is not None:
        error["status_code"] = int(row["status_code"])
    return {"id": row["id"], "error": error}


def run_on_ray(args: argparse.Namespace) -> int:
    try:
        import ray
    except ImportError:
        print("tekton-llm batch: --ray needs Ray: pip install 'tekton-llm-client[ray]'", file=sys.stderr)
        return 2
    from ..ray import RhetorChat, shared_limiter

    if args.input == "-":
        print("tekton-llm batch: --ray reads a file, not stdin", file=sys.stderr)
        return 2
    client_kw = {
        k: v
        for k, v in (
            ("provider_id", args.provider),
            ("model_id", args.model),
            ("timeout", args.timeout),
            ("backend", args.backend),
        )
        if v is not None
    }
    chat_kw: Dict[str, Any] = {
        "rhetor_url": args.url,
        "component_id": "tekton-llm-cli",
        "concurrency": args.concurrency,
        **client_kw,
    }
    if args.retries is not None:
        chat_kw["max_retries"] = args.retries
    try:
        RhetorChat(**chat_kw)  # bad settings are a usage error here, not a crash in every actor
    except (TypeError, ValueError) as exc:
        print(f"tekton-llm batch: {exc}", file=sys.stderr)
        return 2
    store = Store(args.output)
    store.open()  # the lock first: a second run stops here, before it reads or writes anything
    show = args.progress or sys.stderr.isatty()
    progress = Progress(sys.stderr if show else None, count_lines(args.input) if show else None)
    failed = 0
    finished = False

    def on_bad(item_id: str, n: int, problem: str) -> None:
        nonlocal failed
        failed += 1
        progress.say(f"{args.input}:{n}: {problem}")
        store.record(item_id, {"id": item_id, "line": n, "error": {"kind": "invalid_input", "message": problem}})
        progress.update(True)

    source = Input(args.input, store.answered, store.order, on_bad)
    sim: Any = None
    interrupted = False
    try:
        url = args.url
        if args.simulate:
            from ..testing import RhetorSimulator

            sim = RhetorSimulator(record=False, worker_threads=2).start()
            url = sim.url
        chat_kw["rhetor_url"] = url
        try:
            ray.init(
                address=args.ray or None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                ignore_reinit_error=True,
            )
        except Exception as exc:  # Ray raises ConnectionError, ValueError, RuntimeError, ...
            print(
                f"tekton-llm batch: cannot start or reach Ray at {args.ray or 'a local instance'}: {exc}",
                file=sys.stderr,
            )
            return 2
        ray.data.DataContext.get_current().enable_progress_bars = False
        chat_kw["limiter"] = shared_limiter(args.rate)
        for rows in _slices(iter(source), ROWS_PER_SLICE):
            progress.skipped = source.skipped
            answers = ray.data.from_items(rows).map_batches(
                RhetorChat,
                fn_constructor_kwargs=chat_kw,
                concurrency=args.actors,
                batch_size=max(1, min(args.batch_size, len(rows))),
                batch_format="pyarrow",
            )
            batch: Any
            for batch in answers.iter_batches(batch_format="pyarrow", batch_size=None):
                for row in batch.to_pylist():
                    rec = output_record(row)
                    failed += "error" in rec
                    store.record(rec["id"], rec)
                    progress.update("error" in rec)
        finished = True
    except KeyboardInterrupt:
        interrupted = True
    except ray.exceptions.RayError as exc:  # e.g. the actors could not start: a bad --url
        failed += 1
        print(f"tekton-llm batch: the Ray job failed: {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
    finally:
        progress.skipped = source.skipped
        progress.finish()
        store.compact(keep_empty=finished)
        if sim is not None:
            sim.stop()
    if interrupted:
        print(f"tekton-llm batch: interrupted; {len(store.answered)} answers kept in {args.output}", file=sys.stderr)
        return 130
    return 1 if failed else 0
