"""Which token backend serves a call: the native module or ``_pure.tokens`` (same functions)."""

from __future__ import annotations

from types import ModuleType

from .._backend import backend_name, require_native


def token_backend() -> ModuleType:
    """``_core`` (rust, default) or ``_pure.tokens`` (TEKTON_LLM_BACKEND=python, or no native
    module), chosen per call so that tests can switch with the environment variable."""
    if backend_name() == "rust":
        return require_native()
    from .._pure import tokens

    return tokens
