"""Which token backend serves a call: the native module or ``_pure.tokens`` (same functions)."""

from __future__ import annotations

import os
from typing import Any, List, Optional, Protocol, Sequence, Tuple, Union

from .._backend import backend_name, require_native


class TokenBackend(Protocol):
    """The token functions both backends' modules provide (`_core`, `_pure.tokens`)."""

    def count_tokens(self, text: Union[str, Sequence[str]], encoding_name: str, /) -> Union[int, List[int]]: ...

    def count_message_tokens(self, messages: Sequence[Any], encoding_name: str, /) -> int: ...

    def truncate_text(self, text: str, max_tokens: int, encoding_name: str, keep: str, marker: str, /) -> str: ...

    def optimize_plan(
        self, messages: Sequence[Any], max_tokens: int, encoding_name: str, keep_system_prompt: bool, marker: str, /
    ) -> Optional[Tuple[List[int], Optional[int], Optional[str]]]: ...


# (TEKTON_LLM_BACKEND value, module): counting a short text takes about a microsecond, so the
# choice is remembered per value of the variable instead of being re-derived on every call.
_chosen: Optional[Tuple[Optional[str], TokenBackend]] = None


def token_backend() -> TokenBackend:
    """``_core`` (rust, default) or ``_pure.tokens`` (TEKTON_LLM_BACKEND=python, or no native
    module), following the environment variable at call time so tests can switch it."""
    global _chosen
    env = os.environ.get("TEKTON_LLM_BACKEND")
    chosen = _chosen
    if chosen is not None and chosen[0] == env:
        return chosen[1]
    module: TokenBackend
    if backend_name() == "rust":
        module = require_native()
    else:
        from .._pure import tokens

        module = tokens
    _chosen = (env, module)
    return module
