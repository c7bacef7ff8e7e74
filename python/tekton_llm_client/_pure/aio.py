"""Two asyncio helpers of the pure path: a deadline around an awaitable, and running a call in
an event loop's own thread."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Awaitable, Callable, Optional, TypeVar

__all__ = ["in_loop", "within"]

T = TypeVar("T")

if sys.version_info >= (3, 11):

    async def within(seconds: float, aw: Awaitable[T]) -> T:
        """`await aw`, or asyncio.TimeoutError after `seconds`."""
        async with asyncio.timeout(seconds):
            return await aw
else:  # pragma: no cover - Python 3.10

    async def within(seconds: float, aw: Awaitable[T]) -> T:
        return await asyncio.wait_for(aw, seconds)


def in_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], Any]) -> None:
    """Run `fn` in `loop`'s thread: now if we are in it, else as soon as it runs (never if the
    loop is closed)."""
    try:
        running: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn()
    elif not loop.is_closed():
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # closed meanwhile
            pass
