"""One `_core.LoopWaker` per event loop: the socket the loop watches to learn that Rust work has
finished (see src/py_bridge.rs for why results are not handed over from Rust threads)."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from ._backend import require_native

_wakers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = weakref.WeakKeyDictionary()


def waker_for(loop: asyncio.AbstractEventLoop) -> Any:
    waker = _wakers.get(loop)
    if waker is None:
        waker = require_native().LoopWaker()
        loop.add_reader(waker.fileno(), waker.drain)
        _wakers[loop] = waker
    return waker
