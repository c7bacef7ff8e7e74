"""The model → encoding map (one place, both backends) and the facade's argument handling."""

from __future__ import annotations

import pytest
from tekton_llm_client.utils import count_tokens, get_encoding_name, is_exact
from tekton_llm_client.utils.encodings import ESTIMATE_ENCODING, resolve_encoding


@pytest.mark.parametrize(
    "model,encoding",
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4o-2024-11-20", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-4.5-preview", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("o1-mini", "o200k_base"),
        ("o3", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("o4-mini-2025-04-16", "o200k_base"),
        ("gpt-oss-120b", "o200k_base"),
        ("ft:gpt-4o-mini:org::id", "o200k_base"),
        ("ft:gpt-4-0613:org", "cl100k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-4-32k", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-embedding-3-large", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
        ("davinci-002", "cl100k_base"),
        ("text-davinci-003", "p50k_base"),
        ("code-davinci-002", "p50k_base"),
        ("text-davinci-edit-001", "p50k_base"),
        ("text-davinci-001", "r50k_base"),
        ("davinci", "r50k_base"),
        ("gpt2", "r50k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("GPT-4o", "o200k_base"),
    ],
)
def test_openai_models_exact(model: str, encoding: str) -> None:
    assert get_encoding_name(model) == encoding
    assert is_exact(model)


def test_tiktoken_agrees_on_its_own_map() -> None:
    import tiktoken.model as tm

    folded = {"p50k_edit": "p50k_base", "gpt2": "r50k_base", "o200k_harmony": "o200k_base"}
    for model, enc in tm.MODEL_TO_ENCODING.items():
        assert get_encoding_name(model) == folded.get(enc, enc), model


@pytest.mark.parametrize(
    "model", ["claude-3-sonnet-20240229", "claude-3-haiku-20240307", "claude-sonnet-4", "llama-3-70b", "", "mystery"]
)
def test_estimated_models(model: str) -> None:
    assert get_encoding_name(model) == ESTIMATE_ENCODING
    assert not is_exact(model)
    assert count_tokens("some text", model=model) == count_tokens("some text", encoding=ESTIMATE_ENCODING)


def test_explicit_encoding_wins() -> None:
    assert resolve_encoding("gpt-4o", "cl100k_base") == "cl100k_base"
    assert resolve_encoding(None, None) == "o200k_base"
    with pytest.raises(ValueError):
        resolve_encoding("gpt-4o", "llama3")


def test_default_model_is_gpt4o() -> None:
    text = "default model counting"
    assert count_tokens(text) == count_tokens(text, model="gpt-4o") == count_tokens(text, encoding="o200k_base")


def test_list_input_returns_list() -> None:
    texts = ["a", "b c", "", "<|endoftext|>"] * 50
    counts = count_tokens(texts, model="gpt-4")
    assert isinstance(counts, list)
    assert counts == [count_tokens(t, model="gpt-4") for t in texts]


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_backend_env_switch(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tekton_llm_client._pure import tokens as pure
    from tekton_llm_client.utils.token_backend import token_backend

    monkeypatch.setenv("TEKTON_LLM_BACKEND", backend)
    assert (token_backend() is pure) == (backend == "python")
    assert count_tokens("switch me", model="gpt-4o") == 2
