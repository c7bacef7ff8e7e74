"""The status line of a long command (`tekton-llm batch`, on its own or on Ray)."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

__all__ = ["Progress"]


class Progress:
    """One status line on stderr, redrawn at most ten times a second. `total` is None when it is
    not known (stdin); then there is no ETA. Skipped items (answered by an earlier run) count as
    done but not in the rate."""

    def __init__(self, out: Optional[TextIO], total: Optional[int]) -> None:
        self.out = out
        self.total = total
        self.skipped = 0
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def update(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        self.draw()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        finished = self.skipped + self.done
        parts = [
            f"{finished}/{self.total} done" if self.total is not None else f"{finished} done",
            f"{self.failed} failed",
        ]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.done:
            rate = self.done / elapsed
            parts.append(f"{rate:.1f}/s")
            if self.total is not None:
                left = max(self.total - finished, 0)
                parts.append(f"ETA {left / rate:.0f}s")
        return ", ".join(parts)

    def draw(self, force: bool = False) -> None:
        if self.out is None:
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        self.out.write(f"\r{self.line()}\033[K")
        self.out.flush()

    def say(self, message: str) -> None:
        """Print a message line on stderr without mangling the status line."""
        if self.out is not None:
            self.out.write("\r\033[K")
        print(message, file=sys.stderr, flush=True)
        if self.out is not None:
            self.draw(force=True)

    def finish(self) -> None:
        if self.out is not None:
            self.draw(force=True)
            self.out.write("\n")
            self.out.flush()
