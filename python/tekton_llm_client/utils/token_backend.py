"""Which token backend serves a call: the native module or ``_pure.tokens`` (same functions)."""

from __future__ import annotations

import os
from types import ModuleType
from typing import Optional, Tuple

from .._backend import backend_name, require_native

# (TEKTON_LLM_BACKEND value, module): counting a short text takes about a microsecond, so the
# choice is remembered per value of the variable instead of being re-derived on every call.
_chosen: Optional[Tuple[Optional[str], ModuleType]] = None


def token_backend() -> ModuleType:
    """``_core`` (rust, default) or ``_pure.tokens`` (TEKTON_LLM_BACKEND=python, or no native
    module), following the environment variable at call time so tests can switch it."""
    global _chosen
    env = os.environ.get("TEKTON_LLM_BACKEND")
    chosen = _chosen
    if chosen is not None and chosen[0] == env:
        return chosen[1]
    if backend_name() == "rust":
        module = require_native()
    else:
        from .._pure import tokens

        module = tokens
    _chosen = (env, module)
    return module
