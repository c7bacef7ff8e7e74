"""Which backend serves this process: the Rust core (default) or the pure-Python path.

`TEKTON_LLM_BACKEND=python` selects the pure path. If the native module cannot be loaded the pure
path is used, with one warning that says why.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Optional

_core: Optional[ModuleType]
_load_error: Optional[BaseException] = None
try:
    from . import _core as _core_module

    _core = _core_module
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    _core = None
    _load_error = exc

_warned = False


def native() -> Optional[ModuleType]:
    """The native module, or None when it could not be loaded."""
    return _core


def backend_name(requested: Optional[str] = None) -> str:
    """'rust' or 'python': `requested` (an explicit argument) wins over TEKTON_LLM_BACKEND."""
    global _warned
    name = (requested or os.environ.get("TEKTON_LLM_BACKEND") or "rust").strip().lower()
    if name not in ("rust", "python"):
        source = "backend" if requested else "TEKTON_LLM_BACKEND"
        raise ValueError(f"unknown {source} {name!r}: use 'rust' or 'python'")
    if name == "rust" and _core is None:
        if not _warned:
            warnings.warn(
                f"tekton_llm_client: the native core could not be loaded ({_load_error}); "
                "using the pure-Python backend",
                RuntimeWarning,
                stacklevel=2,
            )
            _warned = True
        return "python"
    return name


def require_native() -> ModuleType:
    """The native module; raises ImportError with the original reason when it is missing."""
    if _core is None:
        raise ImportError(f"tekton_llm_client._core is not available: {_load_error}")
    return _core
