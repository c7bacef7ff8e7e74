"""The Rust path's chunk iterator: `ChunkIterator` on the native `ChunkBuffer`, whose `__anext__`
hands out a buffered chunk without creating a coroutine (src/py_chunk_iter.rs). Only the
refill, once per batch, runs the Python `_refill` coroutine."""

from __future__ import annotations

from ._core import ChunkBuffer
from .client import ChunkIterator


class NativeChunkIterator(ChunkBuffer, ChunkIterator):
    """`__anext__`, `_set_buffer` and `_clear_buffer` come from `ChunkBuffer` (first in the MRO)."""
