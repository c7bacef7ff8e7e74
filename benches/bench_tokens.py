"""Token benchmarks: tekton-llm-client (Rust core) side by side with Python tiktoken.

    TIKTOKEN_CACHE_DIR=... .venv/bin/maturin develop --release
    .venv/bin/python -m pytest benches/bench_tokens.py --benchmark-only --benchmark-group-by=group
    .venv/bin/python benches/bench_tokens.py        # a quick side-by-side table with ratios

Scenarios: one long English text; 20,000 short messages (one by one, and as one batch call);
optimize_messages_for_token_limit on a 10,000-message conversation against a straightforward
pure-Python implementation on tiktoken (kept below as the baseline). Nothing is asserted about
speed; counts are asserted equal so that a fast wrong answer cannot pass.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable, Dict, List

import pytest
from tekton_llm_client._tiktoken_files import ensure_tiktoken_cache
from tekton_llm_client.utils import count_tokens, optimize_messages_for_token_limit

ensure_tiktoken_cache()
import tiktoken  # noqa: E402  (after the offline cache is in place)

ENC = tiktoken.get_encoding("o200k_base")
MODEL = "gpt-4o"

_WORDS = (
    "the model returns a token count for each message and Rhetor routes requests to providers "
    "quickly while keeping history within limits of context window streaming chunks arrive in "
    "order however sometimes errors happen retry with backoff JSON HTTP/1.1 2024 3.14159 user's "
    "don't we'll e-mail naïve café (see below) — Tekton components share one client library"
).split()


def english(n_bytes: int, seed: int) -> str:
    rng = random.Random(seed)
    out: List[str] = []
    size = 0
    i = 0
    while size < n_bytes:
        w = rng.choice(_WORDS)
        sep = (".\n\n" if i % 60 == 59 else ", ") if i % 12 == 11 else " "
        out.append(w + sep)
        size += len(w) + len(sep)
        i += 1
    return "".join(out)


LONG = english(1_000_000, 1)
SHORT = [english(40 + (i % 120), i) for i in range(20_000)]


def conversation(n: int) -> List[Dict[str, Any]]:
    msgs: List[Dict[str, Any]] = [{"role": "system", "content": "You are a helpful assistant."}]
    for i in range(n - 1):
        msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": english(80 + i % 400, i)})
    return msgs


CONV = conversation(10_000)
CONV_LIMIT = 32_000


def baseline_optimize(messages: List[Dict[str, Any]], max_tokens: int) -> List[Dict[str, Any]]:
    """A straightforward pure-Python optimizer on tiktoken (cookbook count, newest first)."""

    def tokens(m: Dict[str, Any]) -> int:
        n = 3 + sum(len(ENC.encode_ordinary(v)) for v in m.values() if isinstance(v, str))
        return n + (1 if "name" in m else 0)

    counts = [tokens(m) for m in messages]
    if sum(counts) + 3 <= max_tokens:
        return list(messages)
    system = {i for i, m in enumerate(messages) if m["role"] == "system"}
    budget = max_tokens - 3 - sum(counts[i] for i in system)
    keep = set(system)
    for i in range(len(messages) - 1, -1, -1):
        if i in keep:
            continue
        if counts[i] > budget:
            break
        budget -= counts[i]
        keep.add(i)
    return [messages[i] for i in sorted(keep)]


# ---- pytest-benchmark -------------------------------------------------------------------------


@pytest.mark.benchmark(group="long text (1 MB)")
def test_long_tekton(benchmark: Any) -> None:
    assert benchmark(count_tokens, LONG, MODEL) == len(ENC.encode_ordinary(LONG))


@pytest.mark.benchmark(group="long text (1 MB)")
def test_long_tiktoken(benchmark: Any) -> None:
    benchmark(lambda: len(ENC.encode_ordinary(LONG)))


@pytest.mark.benchmark(group="20,000 short messages, one by one")
def test_short_each_tekton(benchmark: Any) -> None:
    result = benchmark(lambda: [count_tokens(m, MODEL) for m in SHORT])
    assert result == [len(ENC.encode_ordinary(m)) for m in SHORT]


@pytest.mark.benchmark(group="20,000 short messages, one by one")
def test_short_each_tiktoken(benchmark: Any) -> None:
    benchmark(lambda: [len(ENC.encode_ordinary(m)) for m in SHORT])


@pytest.mark.benchmark(group="20,000 short messages, one batch call")
def test_short_batch_tekton(benchmark: Any) -> None:
    result = benchmark(count_tokens, SHORT, MODEL)
    assert result == [len(ENC.encode_ordinary(m)) for m in SHORT]


@pytest.mark.benchmark(group="20,000 short messages, one batch call")
def test_short_batch_tiktoken(benchmark: Any) -> None:
    benchmark(lambda: [len(t) for t in ENC.encode_ordinary_batch(SHORT)])


@pytest.mark.benchmark(group="optimize 10,000-message conversation")
def test_optimize_tekton(benchmark: Any) -> None:
    result = benchmark(optimize_messages_for_token_limit, CONV, CONV_LIMIT, MODEL)
    assert result == baseline_optimize(CONV, CONV_LIMIT)  # same rule on a plain conversation


@pytest.mark.benchmark(group="optimize 10,000-message conversation")
def test_optimize_baseline(benchmark: Any) -> None:
    benchmark(baseline_optimize, CONV, CONV_LIMIT)


# ---- quick side-by-side -----------------------------------------------------------------------


def _best(f: Callable[[], Any], repeat: int = 7) -> float:
    f()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    rows = [
        ("long text 1 MB", lambda: count_tokens(LONG, MODEL), lambda: len(ENC.encode_ordinary(LONG))),
        (
            "20k short, one by one",
            lambda: [count_tokens(m, MODEL) for m in SHORT],
            lambda: [len(ENC.encode_ordinary(m)) for m in SHORT],
        ),
        (
            "20k short, batch",
            lambda: count_tokens(SHORT, MODEL),
            lambda: [len(t) for t in ENC.encode_ordinary_batch(SHORT)],
        ),
        (
            "optimize 10k messages",
            lambda: optimize_messages_for_token_limit(CONV, CONV_LIMIT, MODEL),
            lambda: baseline_optimize(CONV, CONV_LIMIT),
        ),
    ]
    print(f"{'scenario':26} {'tekton (ms)':>12} {'tiktoken (ms)':>14} {'ratio':>8}")
    for name, ours, theirs in rows:
        a, b = _best(ours), _best(theirs)
        print(f"{name:26} {a * 1e3:12.2f} {b * 1e3:14.2f} {b / a:7.1f}x")


if __name__ == "__main__":
    main()
