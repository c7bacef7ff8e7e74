"""The pure-Python backend (TEKTON_LLM_BACKEND=python): the same interfaces as the Rust core."""
