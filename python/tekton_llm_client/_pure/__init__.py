"""The pure-Python backend (TEKTON_LLM_BACKEND=python): our own HTTP/1.1 on asyncio for http://
(`h1/`), httpx for https:// and proxies, and websockets: the interfaces of the Rust core
(`_core.pyi`), with the same behaviour."""

from .._version import __version__

USER_AGENT = f"tekton-llm-client/{__version__}"
