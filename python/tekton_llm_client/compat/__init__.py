"""Drop-in replacements for code written before `tekton_llm_client`, to ease migration.

`LLMAdapter` stands in for the per-component adapters the migration guide retires (Terma, Hermes,
Telos, Engram and the LLMAdapter component): same constructor and methods, every call through
`TektonLLMClient` to Rhetor. It warns (DeprecationWarning) and is meant to be short-lived: see
docs/migration.md for moving each call to the client.
"""

from .llm_adapter import LLMAdapter

__all__ = ["LLMAdapter"]
