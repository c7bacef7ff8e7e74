"""tekton-llm-client: Tekton's client for Rhetor, the LLM router."""
