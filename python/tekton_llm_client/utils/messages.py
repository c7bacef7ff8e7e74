"""Chat messages: their token count and fitting a conversation into a token limit.

The count is the OpenAI cookbook's: 3 tokens per message, plus the tokens of each of its values
(role, content, name, …; values that are not strings, such as ``tool_calls``, count as their
compact JSON), plus 1 when it has a ``name``, plus 3 priming the reply. Exact for OpenAI chat
models of the gpt-3.5/gpt-4/gpt-4o families; an estimate elsewhere.

The optimization rule is stated in docs/tokens.md and in
:func:`optimize_messages_for_token_limit`.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from ..models import Message, MessageLike
from .encodings import DEFAULT_MODEL, resolve_encoding
from .token_backend import token_backend
from .tokens import DEFAULT_MARKER

__all__ = ["count_message_tokens", "optimize_messages_for_token_limit"]


def count_message_tokens(
    messages: Sequence[MessageLike],
    model: Optional[str] = DEFAULT_MODEL,
    *,
    encoding: Optional[str] = None,
) -> int:
    """Tokens a chat request with ``messages`` uses (dicts or :class:`~..models.Message`)."""
    return token_backend().count_message_tokens(messages, resolve_encoding(model, encoding))


def optimize_messages_for_token_limit(
    messages: Sequence[MessageLike],
    max_tokens: int,
    model: Optional[str] = DEFAULT_MODEL,
    keep_system_prompt: bool = True,
    *,
    encoding: Optional[str] = None,
    marker: str = DEFAULT_MARKER,
) -> List[MessageLike]:
    """A new list of messages whose :func:`count_message_tokens` is at most ``max_tokens``.

    The input is never modified. Rule:

    1. A conversation that already fits comes back unchanged (an equal new list).
    2. With ``keep_system_prompt``, every system (or developer) message is kept, in its place.
    3. The newest user message is always kept; if it alone does not fit beside the system
       messages, its content is truncated (start and end kept, ``marker`` between).
    4. The rest of the budget goes to the other messages from newest to oldest, stopping at the
       first that does not fit, so the kept history is the most recent contiguous one. An
       assistant message that calls tools (``tool_calls``/``function_call``) and the tool
       results that follow it count as one unit: kept or dropped together.
    5. Order is preserved. Kept messages are the same objects; a truncated one is a copy.

    Raises ValueError when the system messages (plus the newest user message's overhead) alone
    exceed ``max_tokens``.
    """
    if max_tokens < 0:
        raise ValueError(f"max_tokens must be >= 0, not {max_tokens}")
    items = list(messages)
    plan = token_backend().optimize_plan(
        items, max_tokens, resolve_encoding(model, encoding), keep_system_prompt, marker
    )
    if plan is None:
        return items
    indices, cut_index, cut_content = plan
    out: List[MessageLike] = []
    for i in indices:
        m = items[i]
        if i == cut_index and cut_content is not None:
            m = _with_content(m, cut_content)
        out.append(m)
    return out


def _with_content(message: Any, content: str) -> MessageLike:
    if isinstance(message, Message):
        return Message(message.role, content, message.name)
    copy = dict(message)
    copy["content"] = content
    return copy
