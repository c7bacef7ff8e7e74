"""Model name → tiktoken encoding name: the one map both backends use.

OpenAI models map exactly as tiktoken's ``model.py`` does (exact names first, then prefixes,
so new dated versions such as ``gpt-4o-2024-11-20`` resolve without a release). Counting is then
exact: it equals Python tiktoken's ``len(enc.encode_ordinary(text))``.

Claude and every other model that has no public tiktoken encoding get an *estimate* from
``ESTIMATE_ENCODING`` (cl100k_base): Anthropic does not publish Claude's tokenizer; cl100k_base
counts a little more than o200k_base on most text, so limits computed from it err on the safe
side. Use :func:`is_exact` to tell the two apart.

Encodings whose ordinary text tokenizes like another's are folded into it: ``p50k_edit`` →
``p50k_base``, ``gpt2`` → ``r50k_base``, ``o200k_harmony`` (gpt-oss) → ``o200k_base``; they
differ only in special tokens, which counting treats as ordinary text anyway.
"""

from __future__ import annotations

import functools
from typing import Dict, Optional, Tuple

from .. import _encoding_names

__all__ = [
    "DEFAULT_MODEL",
    "ESTIMATE_ENCODING",
    "ENCODINGS",
    "get_encoding_name",
    "resolve_encoding",
    "is_exact",
]

DEFAULT_MODEL = "gpt-4o"
ESTIMATE_ENCODING = "cl100k_base"
# The encodings both backends implement, and the names folded onto them (one table).
ENCODINGS = _encoding_names.ENCODINGS
_ALIASES = _encoding_names.ALIASES

_MODEL_TO_ENCODING: Dict[str, str] = {
    # reasoning
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4-mini": "o200k_base",
    # chat
    "gpt-5": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4o": "o200k_base",
    "gpt-4": "cl100k_base",
    "gpt-3.5-turbo": "cl100k_base",
    "gpt-3.5": "cl100k_base",
    "gpt-35-turbo": "cl100k_base",
    # base
    "davinci-002": "cl100k_base",
    "babbage-002": "cl100k_base",
    # embeddings
    "text-embedding-ada-002": "cl100k_base",
    "text-embedding-3-small": "cl100k_base",
    "text-embedding-3-large": "cl100k_base",
    # deprecated text
    "text-davinci-003": "p50k_base",
    "text-davinci-002": "p50k_base",
    "text-davinci-001": "r50k_base",
    "text-curie-001": "r50k_base",
    "text-babbage-001": "r50k_base",
    "text-ada-001": "r50k_base",
    "davinci": "r50k_base",
    "curie": "r50k_base",
    "babbage": "r50k_base",
    "ada": "r50k_base",
    # deprecated code
    "code-davinci-002": "p50k_base",
    "code-davinci-001": "p50k_base",
    "code-cushman-002": "p50k_base",
    "code-cushman-001": "p50k_base",
    "davinci-codex": "p50k_base",
    "cushman-codex": "p50k_base",
    # deprecated edit
    "text-davinci-edit-001": "p50k_edit",
    "code-davinci-edit-001": "p50k_edit",
    # deprecated embeddings
    "text-similarity-davinci-001": "r50k_base",
    "text-similarity-curie-001": "r50k_base",
    "text-similarity-babbage-001": "r50k_base",
    "text-similarity-ada-001": "r50k_base",
    "text-search-davinci-doc-001": "r50k_base",
    "text-search-curie-doc-001": "r50k_base",
    "text-search-babbage-doc-001": "r50k_base",
    "text-search-ada-doc-001": "r50k_base",
    "code-search-babbage-code-001": "r50k_base",
    "code-search-ada-code-001": "r50k_base",
    # open source
    "gpt2": "gpt2",
    "gpt-2": "gpt2",
}

# Checked in order (tiktoken's order): "ft:gpt-4o" must win over "ft:gpt-4".
_MODEL_PREFIX_TO_ENCODING: Tuple[Tuple[str, str], ...] = (
    ("o1-", "o200k_base"),
    ("o3-", "o200k_base"),
    ("o4-mini-", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-4.5-", "o200k_base"),
    ("gpt-4.1-", "o200k_base"),
    ("chatgpt-4o-", "o200k_base"),
    ("gpt-4o-", "o200k_base"),
    ("gpt-4-", "cl100k_base"),
    ("gpt-3.5-turbo-", "cl100k_base"),
    ("gpt-35-turbo-", "cl100k_base"),
    ("gpt-oss-", "o200k_harmony"),
    ("ft:gpt-4o", "o200k_base"),
    ("ft:gpt-4", "cl100k_base"),
    ("ft:gpt-3.5-turbo", "cl100k_base"),
    ("ft:davinci-002", "cl100k_base"),
    ("ft:babbage-002", "cl100k_base"),
)


def _normalize(model: str) -> str:
    # "openai/gpt-4o", "azure/gpt-4o" (router-style ids) and "GPT-4o" name the same model.
    return model.strip().rsplit("/", 1)[-1].lower()


def _lookup(model: str) -> Optional[str]:
    name = _normalize(model)
    found = _MODEL_TO_ENCODING.get(name)
    if found is None:
        for prefix, encoding in _MODEL_PREFIX_TO_ENCODING:
            if name.startswith(prefix):
                found = encoding
                break
    return None if found is None else _ALIASES.get(found, found)


def get_encoding_name(model: str) -> str:
    """The encoding used to count ``model``'s tokens: exact for OpenAI models,
    ``ESTIMATE_ENCODING`` (an estimate) for Claude and any unknown model. Never raises."""
    return _lookup(model) or ESTIMATE_ENCODING


def is_exact(model: str) -> bool:
    """True when ``model`` has a published tiktoken encoding (counts are exact)."""
    return _lookup(model) is not None


@functools.lru_cache(maxsize=512)
def resolve_encoding(model: Optional[str] = None, encoding: Optional[str] = None) -> str:
    """The encoding to use: an explicit ``encoding`` (aliases folded) wins over ``model``.

    Raises ValueError for an encoding name neither backend implements.
    """
    if encoding is not None:
        name = _ALIASES.get(encoding, encoding)
        if name not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}: use one of {', '.join(ENCODINGS)}")
        return name
    return get_encoding_name(DEFAULT_MODEL if model is None else model)
