"""Counting and truncating text in tokens.

Counts are exact for OpenAI models (equal to tiktoken's ``len(enc.encode_ordinary(text))``;
text that looks like a special token, such as ``<|endoftext|>``, is ordinary text) and an
estimate for Claude and unknown models (see :mod:`.encodings`).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Union, overload

from .encodings import DEFAULT_MODEL, get_encoding_name, resolve_encoding
from .token_backend import token_backend

__all__ = ["count_tokens", "truncate_text_to_token_limit", "get_encoding_name", "DEFAULT_MARKER"]

# Put between the kept parts of a cut text.
DEFAULT_MARKER = "\n[...]\n"


@overload
def count_tokens(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
    text: str, model: Optional[str] = ..., *, encoding: Optional[str] = ...
) -> int: ...
@overload
def count_tokens(text: Sequence[str], model: Optional[str] = ..., *, encoding: Optional[str] = ...) -> List[int]: ...


def count_tokens(
    text: Union[str, Sequence[str]],
    model: Optional[str] = DEFAULT_MODEL,
    *,
    encoding: Optional[str] = None,
) -> Union[int, List[int]]:
    """Number of tokens in ``text`` for ``model`` (default ``gpt-4o``).

    ``text`` may also be a list of strings: one call returns the list of their counts (counted in
    parallel on the native backend, without the GIL). ``encoding`` (e.g. ``"o200k_base"``)
    overrides the model's encoding. Unknown models never raise: they get an estimate.
    """
    return token_backend().count_tokens(text, resolve_encoding(model, encoding))


def truncate_text_to_token_limit(
    text: str,
    max_tokens: int,
    model: Optional[str] = DEFAULT_MODEL,
    keep: str = "start",
    marker: str = DEFAULT_MARKER,
    *,
    encoding: Optional[str] = None,
) -> str:
    """``text`` cut at token boundaries so that ``count_tokens(result) <= max_tokens``.

    Guarantees: the result's own count (re-encoded, as a model would see it) is at most
    ``max_tokens``; a text that already fits is returned unchanged; otherwise the result is
    ``text[:i] + marker`` (``keep="start"``), ``marker + text[j:]`` (``"end"``) or
    ``text[:i] + marker + text[j:]`` (``"both"``), with ``i``/``j`` token boundaries (moved
    inward to a character boundary when a character spans two tokens), as much kept as fits.
    The marker is dropped when it alone would not leave room for one token. ``max_tokens=0``
    gives ``""``.
    """
    if max_tokens < 0:
        raise ValueError(f"max_tokens must be >= 0, not {max_tokens}")
    if keep not in ("start", "end", "both"):
        raise ValueError(f"keep must be 'start', 'end' or 'both', not {keep!r}")
    return token_backend().truncate_text(text, max_tokens, resolve_encoding(model, encoding), keep, marker)
