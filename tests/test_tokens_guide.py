"""The migration guide's "Token Management" section, run exactly as written, on both backends,
plus the facade's conversation optimizer on Message objects."""

from __future__ import annotations

import pytest
from tekton_llm_client.models import Message
from tekton_llm_client.utils import (
    count_message_tokens,
    count_tokens,
    optimize_messages_for_token_limit,
    truncate_text_to_token_limit,
)


def _guide(text: str) -> dict:
    # --- verbatim from migration-guide.md, "Token Management" ---
    from tekton_llm_client.utils import count_tokens, optimize_messages_for_token_limit

    # Count tokens
    token_count = count_tokens(text, model="claude-3-sonnet-20240229")

    # If too long, truncate or optimize
    if token_count > 100000:
        # Optimize messages to fit within limits
        messages = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": text}]

        optimized_messages = optimize_messages_for_token_limit(
            messages=messages, max_tokens=100000, model="claude-3-sonnet-20240229", keep_system_prompt=True
        )
    # --- end of the guide's code ---
    return locals()


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_guide_short_text(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEKTON_LLM_BACKEND", backend)
    env = _guide("Long document to analyze...")
    assert 0 < env["token_count"] < 20
    assert "optimized_messages" not in env


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_guide_long_text(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEKTON_LLM_BACKEND", backend)
    text = "Analyze this report carefully. " + "The quarterly figures rose sharply. " * 20000
    env = _guide(text)
    assert env["token_count"] > 100000
    optimized = env["optimized_messages"]
    assert [m["role"] for m in optimized] == ["system", "user"]
    assert optimized[0] == env["messages"][0]
    assert count_message_tokens(optimized, model="claude-3-sonnet-20240229") <= 100000
    assert env["messages"][1]["content"] == text  # input untouched


def test_message_objects_and_fits_unchanged() -> None:
    msgs = [Message("system", "Be kind."), Message("user", "Hello there")]
    out = optimize_messages_for_token_limit(msgs, 1000)
    assert out == msgs and out is not msgs
    long_msgs = msgs + [Message("user", "word " * 2000)]
    out = optimize_messages_for_token_limit(long_msgs, 200)
    assert isinstance(out[-1], Message) and out[-1] is not long_msgs[-1]
    assert count_message_tokens(out) <= 200
    assert long_msgs[-1].content == "word " * 2000


def test_truncate_facade_validates() -> None:
    with pytest.raises(ValueError):
        truncate_text_to_token_limit("x", -1)
    with pytest.raises(ValueError):
        truncate_text_to_token_limit("x", 1, keep="middle")
    assert count_tokens(truncate_text_to_token_limit("many words here " * 100, 10, keep="end")) <= 10
