"""Both token backends — the native `_core` functions and `_pure.tokens` — on the same cases:
any behaviour difference fails here. Covers counts, lists, messages, truncation guarantees and
each rule of the conversation optimization."""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any, Dict, List

import pytest
from tekton_llm_client import _core
from tekton_llm_client._encoding_names import ALIASES, ENCODINGS
from tekton_llm_client._pure import tokens as pure
from tekton_llm_client.models import Message

MARKER = "\n[...]\n"


@pytest.fixture(params=[_core, pure], ids=["rust", "python"])
def be(request: pytest.FixtureRequest) -> ModuleType:
    return request.param  # type: ignore[no-any-return]


def count(be: ModuleType, text: str, enc: str = "o200k_base") -> int:
    return int(be.count_tokens(text, enc))


def total(be: ModuleType, messages: List[Any], enc: str = "o200k_base") -> int:
    return int(be.count_message_tokens(messages, enc))


# ---- counting ---------------------------------------------------------------------------------


def test_counts_agree_and_lists(be: ModuleType) -> None:
    texts = ["", "hello world", "<|endoftext|>", "日本語のテキスト", "  \n\n  x", "😀" * 10]
    assert be.count_tokens(texts, "cl100k_base") == [_core.count_tokens(t, "cl100k_base") for t in texts]
    assert be.count_tokens(tuple(texts), "o200k_base") == pure.count_tokens(texts, "o200k_base")
    assert be.count_tokens([], "o200k_base") == []


def test_unknown_encoding_and_bad_input(be: ModuleType) -> None:
    with pytest.raises(ValueError):
        be.count_tokens("x", "nope_base")
    with pytest.raises(TypeError):
        be.count_tokens(5, "o200k_base")
    with pytest.raises(TypeError):
        be.count_tokens(["a", 5], "o200k_base")


def test_encoding_aliases(be: ModuleType) -> None:
    text = "fold <|fim_prefix|> aliases"
    for alias, base in ALIASES.items():
        assert be.count_tokens(text, alias) == be.count_tokens(text, base), alias


def test_encoding_names_are_the_tables(be: ModuleType) -> None:
    """Each backend accepts exactly the names of `_encoding_names` among every name tiktoken
    knows (and a few it does not): the Rust core's table is the Python one."""
    import tiktoken

    known = set(ENCODINGS) | set(ALIASES)
    for name in [*tiktoken.list_encoding_names(), "o200k", "cl100k", "gpt-4o", "p50k", "r50k_edit"]:
        try:
            be.count_tokens("x", name)
            accepted = True
        except ValueError:
            accepted = False
        assert accepted == (name in known), name


# ---- messages ---------------------------------------------------------------------------------


def test_message_count_cookbook(be: ModuleType) -> None:
    msgs = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hi", "name": "ann"},
    ]
    expected = (
        3
        + count(be, "system")
        + count(be, "You are helpful.")
        + 3
        + count(be, "user")
        + count(be, "Hi")
        + count(be, "ann")
        + 1
        + 3
    )
    assert total(be, msgs) == expected
    # Message objects count like their dicts
    objs = [Message("system", "You are helpful."), Message("user", "Hi", name="ann")]
    assert total(be, objs) == expected


def test_message_count_non_text_values(be: ModuleType) -> None:
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}],
    }
    expected = (
        3
        + count(be, "assistant")
        + count(be, '[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\\"x\\": 1}"}}]')
        + 3
    )
    assert total(be, [call]) == expected
    assert total(be, [], "cl100k_base") == 3


def test_message_bad_type(be: ModuleType) -> None:
    with pytest.raises(TypeError):
        be.count_message_tokens(["not a message"], "o200k_base")


# ---- truncation -------------------------------------------------------------------------------

TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 40,
    "日本語のテキストと絵文字😀👩\u200d👩\u200d👧が混ざった文章。" * 20,
    "x" * 3000,
    " " * 500 + "end",
    "a <|endoftext|> b " * 50,
]


@pytest.mark.parametrize("keep", ["start", "end", "both"])
@pytest.mark.parametrize("text", TEXTS, ids=["english", "cjk-emoji", "run", "spaces", "special"])
@pytest.mark.parametrize("limit", [0, 1, 2, 5, 17, 64])
def test_truncation_guarantees(be: ModuleType, text: str, keep: str, limit: int) -> None:
    out = be.truncate_text(text, limit, "o200k_base", keep, MARKER)
    assert count(be, out) <= limit
    assert out == _core.truncate_text(text, limit, "o200k_base", keep, MARKER)  # backends agree
    if MARKER in out:
        head, _, tail = out.partition(MARKER)
    else:  # marker left out: it did not fit
        head, tail = out, ""
    if keep == "start":
        assert text.startswith(head) and not tail
    elif keep == "end":
        assert text.endswith(tail if MARKER in out else head)
    else:
        # some split of the kept text is a prefix + a suffix of the original
        assert (
            any(text.startswith(out[:k]) and text.endswith(out[k:]) for k in range(len(out) + 1))
            if MARKER not in out
            else (text.startswith(head) and text.endswith(tail))
        )


def test_truncation_fits_unchanged(be: ModuleType) -> None:
    assert be.truncate_text("short text", 100, "cl100k_base", "start", MARKER) == "short text"


def test_truncation_marker_dropped_when_too_big(be: ModuleType) -> None:
    out = be.truncate_text("one two three four five six", 2, "o200k_base", "start", " [a long marker] ")
    assert out == "one two"


def test_truncation_bad_keep(be: ModuleType) -> None:
    with pytest.raises(ValueError):
        be.truncate_text("x", 1, "o200k_base", "middle", MARKER)


# ---- optimization rules -----------------------------------------------------------------------


def plan(be: ModuleType, messages: List[Any], limit: int, keep_system: bool = True) -> Any:
    result = be.optimize_plan(messages, limit, "o200k_base", keep_system, MARKER)
    # the two backends must agree exactly
    other = (pure if be is _core else _core).optimize_plan(messages, limit, "o200k_base", keep_system, MARKER)
    assert result == other
    return result


def conv(n: int) -> List[Dict[str, Any]]:
    msgs: List[Dict[str, Any]] = [{"role": "system", "content": "You are a careful assistant."}]
    for i in range(n):
        msgs.append({"role": "user", "content": f"question {i} " + "detail " * 10})
        msgs.append({"role": "assistant", "content": f"answer {i} " + "words " * 10})
    return msgs


def test_rule_fits_unchanged(be: ModuleType) -> None:
    msgs = conv(3)
    assert plan(be, msgs, total(be, msgs)) is None


def test_rule_recent_contiguous_history_and_system_kept(be: ModuleType) -> None:
    msgs = conv(10) + [{"role": "user", "content": "last question"}]
    limit = total(be, [msgs[0]] + msgs[-5:])
    kept, cut, _ = plan(be, msgs, limit)
    assert cut is None
    assert kept == [0] + list(range(len(msgs) - 5, len(msgs)))


def test_rule_system_kept_in_place(be: ModuleType) -> None:
    msgs = conv(4)
    msgs.insert(5, {"role": "system", "content": "Mid-conversation instruction."})
    msgs.append({"role": "user", "content": "final"})
    kept, _, _ = plan(be, msgs, total(be, msgs) - 30)
    assert 0 in kept and 5 in kept
    assert kept == sorted(kept)


def test_rule_without_keep_system(be: ModuleType) -> None:
    msgs = conv(4) + [{"role": "user", "content": "final"}]
    kept, _, _ = plan(be, msgs, total(be, msgs[-3:]), keep_system=False)
    assert 0 not in kept


def test_rule_tool_call_kept_with_results(be: ModuleType) -> None:
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "lookup", "arguments": "{}"}},
            {"id": "b", "type": "function", "function": {"name": "lookup", "arguments": "{}"}},
        ],
    }
    msgs = conv(3) + [
        {"role": "user", "content": "look it up"},
        call,
        {"role": "tool", "tool_call_id": "a", "content": "result a " * 5},
        {"role": "tool", "tool_call_id": "b", "content": "result b " * 5},
        {"role": "assistant", "content": "Here it is."},
    ]
    n = len(msgs)
    full = total(be, msgs)
    for limit in range(full - 60, full):
        kept, _, _ = plan(be, msgs, limit)
        has_call = (n - 4) in kept
        assert has_call == ((n - 3) in kept) == ((n - 2) in kept), (limit, kept)
        assert (n - 5) in kept  # the newest user message is never dropped


def test_rule_function_call_unit(be: ModuleType) -> None:
    msgs = [
        {"role": "user", "content": "old " * 30},
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "out " * 30},
        {"role": "user", "content": "now"},
    ]
    limit = total(be, [msgs[3], msgs[2]]) - 3  # enough for the result, not for call + result
    kept, _, _ = plan(be, msgs, limit)
    assert kept == [3]


def test_rule_newest_user_truncated_not_dropped(be: ModuleType) -> None:
    huge = "Please summarise this. " + "lorem ipsum dolor sit amet " * 400 + "What is the gist?"
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": huge},
    ]
    kept, cut, content = plan(be, msgs, 120)
    assert kept == [0, 3] and cut == 3
    assert content.startswith("Please summarise") and content.endswith("gist?")
    assert MARKER in content
    optimized = [msgs[0], dict(msgs[3], content=content)]
    assert total(be, optimized) <= 120


def test_rule_system_alone_too_big(be: ModuleType) -> None:
    msgs = [{"role": "system", "content": "rules " * 100}, {"role": "user", "content": "hi"}]
    with pytest.raises(ValueError):
        plan(be, msgs, 20)


def test_input_not_mutated(be: ModuleType) -> None:
    msgs = conv(6) + [{"role": "user", "content": "long " * 500}]
    before = copy.deepcopy(msgs)
    plan(be, msgs, 80)
    assert msgs == before
