"""The tiktoken encodings both token backends implement, and the names that fold onto them.

One table for the Python side (`utils/encodings.py`, `_pure/tokens.py`); the Rust core's
(`crates/tekton-tokens/src/encoding.rs`) is proven equal to it by
tests/test_tokens_backends.py::test_encoding_names_are_the_tables.
"""

from __future__ import annotations

from typing import Dict, Tuple

__all__ = ["ENCODINGS", "ALIASES"]

ENCODINGS: Tuple[str, ...] = ("o200k_base", "cl100k_base", "p50k_base", "r50k_base")

# Encodings with the same ranks and pattern as a base one: ordinary text encodes the same (their
# special tokens are never produced from text).
ALIASES: Dict[str, str] = {
    "p50k_edit": "p50k_base",
    "gpt2": "r50k_base",
    "o200k_harmony": "o200k_base",
}
