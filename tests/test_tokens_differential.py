"""Our counts equal Python tiktoken's `len(enc.encode_ordinary(text))`, on both backends' entry
points, over a fixed generated corpus and hypothesis-generated text."""

from __future__ import annotations

from typing import List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tekton_llm_client._tiktoken_files import ensure_tiktoken_cache
from tekton_llm_client.utils import count_tokens

from .tokens_corpus import corpus

ENCODINGS = ["o200k_base", "cl100k_base", "p50k_base", "r50k_base"]
CORPUS = corpus()


def _tiktoken(name: str):  # type: ignore[no-untyped-def]
    ensure_tiktoken_cache([name])
    import tiktoken

    return tiktoken.get_encoding(name)


def _reference(name: str, texts: List[str]) -> List[int]:
    enc = _tiktoken(name)
    return [len(enc.encode_ordinary(t)) for t in texts]


@pytest.mark.parametrize("name", ENCODINGS)
def test_fixed_corpus_batch(name: str) -> None:
    ours = count_tokens(CORPUS, encoding=name)
    expected = _reference(name, CORPUS)
    mismatches = [(t, o, e) for t, o, e in zip(CORPUS, ours, expected, strict=True) if o != e]
    assert not mismatches[:5], f"{len(mismatches)} mismatches, first: {mismatches[:5]!r}"


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_fixed_corpus_one_by_one(name: str) -> None:
    expected = _reference(name, CORPUS[:1500])
    assert [count_tokens(t, encoding=name) for t in CORPUS[:1500]] == expected


_alphabet = st.characters(codec="utf-8", exclude_categories=["Cs"])
_text = st.one_of(
    st.text(_alphabet, max_size=200),
    st.lists(
        st.sampled_from(
            [
                "a",
                " ",
                "\n",
                "'s",
                "1",
                "!",
                "é",
                "日",
                "😀",
                "\u3000",
                "\r",
                "/",
                "<|endoftext|>",
                "\t",
                "A",
                "ǅ",
                "\u0301",
            ]
        ),
        max_size=60,
    ).map("".join),
)


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=400, deadline=None)
@given(text=_text)
def test_hypothesis(name: str, text: str) -> None:
    assert count_tokens(text, encoding=name) == len(_tiktoken(name).encode_ordinary(text))


def test_special_token_lookalikes_are_ordinary_text() -> None:
    text = "<|endoftext|> and <|endofprompt|> <|fim_prefix|>"
    for name in ENCODINGS:
        assert count_tokens(text, encoding=name) == len(_tiktoken(name).encode_ordinary(text))
