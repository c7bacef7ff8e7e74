"""Token counting, truncation, conversation fitting and stream collection.

from tekton_llm_client.utils import count_tokens, optimize_messages_for_token_limit
n = count_tokens("Hello", model="gpt-4o")          # exact (o200k_base)
n = count_tokens("Hello", model="claude-3-sonnet-20240229")  # estimate (cl100k_base)
"""

from __future__ import annotations

from .encodings import get_encoding_name, is_exact
from .messages import count_message_tokens, optimize_messages_for_token_limit
from .stream_processor import StreamProcessor
from .tokens import count_tokens, truncate_text_to_token_limit

__all__ = [
    "count_tokens",
    "count_message_tokens",
    "truncate_text_to_token_limit",
    "optimize_messages_for_token_limit",
    "get_encoding_name",
    "is_exact",
    "StreamProcessor",
]
