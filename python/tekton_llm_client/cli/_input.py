"""The input of `tekton-llm batch`: JSONL lines as batch items, read lazily. A line that cannot be
an item (not UTF-8, invalid or too deeply nested JSON, not an object, a bad id, a duplicate id,
no prompt) is handed to `on_bad` with its line number and never sent; the run goes on."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

Item = Dict[str, Any]


class Input:
    """Iterating yields the items still to send; `line_of` maps every id seen to its line."""

    def __init__(
        self, path: str, answered: Any, order: Dict[str, int], on_bad: Callable[[str, int, str], None]
    ) -> None:
        self.path = path
        self.answered = answered  # ids already answered by an earlier run: skipped
        self.order = order  # id → line number, shared with the store (the output's order)
        self.on_bad = on_bad
        self.skipped = 0
        self.line_of: Dict[str, int] = {}

    def __iter__(self) -> Iterator[Item]:
        f = sys.stdin.buffer if self.path == "-" else open(self.path, "rb")
        try:
            for n, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                item, problem = parse_line(n, raw)
                item_id = str(item["id"]) if item is not None else f"line-{n}"
                if problem is None and item_id in self.line_of:
                    problem = f"duplicate id {item_id!r} (first on line {self.line_of[item_id]})"
                    item_id = f"line-{n}"
                self.order.setdefault(item_id, n)
                self.line_of.setdefault(item_id, n)
                if problem is not None:
                    self.on_bad(item_id, n, problem)
                elif item_id in self.answered:
                    self.skipped += 1
                elif item is not None:
                    yield item
        finally:
            if f is not sys.stdin.buffer:
                f.close()


def parse_line(n: int, raw: bytes) -> Tuple[Optional[Item], Optional[str]]:
    """(the item, None), or (the item or None, what is wrong with line `n`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 (byte {e.start + 1} of the line)"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON at column {e.colno}: {e.msg}"
    except RecursionError:  # the parser's own bound: far deeper than any request needs
        return None, "invalid JSON: nested too deeply"
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


def count_lines(path: str) -> int:
    """The non-blank lines of `path`: the progress line's total."""
    n = 0
    with open(path, "rb") as f:
        for raw in f:
            n += bool(raw.strip())
    return n
