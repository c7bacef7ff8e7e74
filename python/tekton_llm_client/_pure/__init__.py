"""The pure-Python backend (TEKTON_LLM_BACKEND=python), on httpx and websockets: the interfaces of
the Rust core (`_core.pyi`), with the same behaviour."""

from .._version import __version__

USER_AGENT = f"tekton-llm-client/{__version__}"
