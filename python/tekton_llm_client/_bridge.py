"""One `_core.LoopWaker` per event loop: the socket the loop watches to learn that Rust work has
finished (see src/py_bridge.rs for why results are not handed over from Rust threads).

A forked child starts with none: the parent's wakers share their sockets with the parent, whose
loops would read the child's wake-ups (the child's runtime is its own, see src/runtime.rs)."""

from __future__ import annotations

import asyncio
import os
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


def _forget_parent_wakers() -> None:
    global _wakers
    _wakers = weakref.WeakKeyDictionary()


os.register_at_fork(after_in_child=_forget_parent_wakers)
