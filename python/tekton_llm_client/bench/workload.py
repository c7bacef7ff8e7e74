"""What a run sends: a fixed prompt, prompts from a JSONL file, or synthetic prompts of an
exact token length."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ..utils.tokens import count_tokens, truncate_text_to_token_limit
from .specs import SpecError, Synthetic

MAX_PROMPTS = 100_000
MAX_FILE_BYTES = 256 << 20

# Words that are one token each in the OpenAI encodings, so lengths converge quickly.
_WORDS = (
    "time",
    "river",
    "stone",
    "light",
    "green",
    "house",
    "music",
    "north",
    "table",
    "water",
    "paper",
    "field",
    "cloud",
    "bread",
    "glass",
    "horse",
    "night",
    "plant",
    "sound",
    "train",
)


@dataclass(frozen=True)
class Prompt:
    messages: List[Dict[str, str]]
    max_tokens: Optional[int] = None


def fixed(prompt: str, max_tokens: Optional[int]) -> List[Prompt]:
    return [Prompt([{"role": "user", "content": prompt}], max_tokens)]


def _line_prompt(item: Any, where: str, max_tokens: Optional[int]) -> Prompt:
    if not isinstance(item, dict):
        raise SpecError(f'{where}: expected a JSON object with "prompt" or "messages"')
    limit = item.get("max_tokens", max_tokens)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0):
        raise SpecError(f'{where}: "max_tokens" must be a positive integer')
    if isinstance(item.get("prompt"), str):
        return Prompt([{"role": "user", "content": item["prompt"]}], limit)
    messages = item.get("messages")
    if (
        isinstance(messages, list)
        and messages
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages
        )
    ):
        return Prompt([{"role": m["role"], "content": m["content"]} for m in messages], limit)
    raise SpecError(f'{where}: needs "prompt" (a string) or "messages" (a non-empty list of {{role, content}} strings)')


def from_jsonl(path: str, max_tokens: Optional[int]) -> List[Prompt]:
    """One prompt per non-empty line: `{"prompt": ...}` or `{"messages": [...]}` (an optional
    `max_tokens` per line)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read --prompts {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"--prompts {path} is larger than {MAX_FILE_BYTES >> 20} MiB")
    prompts: List[Prompt] = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise SpecError(f"{path}:{number}: not JSON ({exc})") from None
        prompts.append(_line_prompt(item, f"{path}:{number}", max_tokens))
        if len(prompts) > MAX_PROMPTS:
            raise SpecError(f"{path}: more than {MAX_PROMPTS} prompts")
    if not prompts:
        raise SpecError(f"--prompts {path} has no prompts")
    return prompts


def synthetic_text(tokens: int, model: str, rng: random.Random) -> str:
    """A text of exactly `tokens` tokens for `model` (exact for OpenAI encodings; for others
    the count is this package's estimate)."""
    words: List[str] = []
    while True:
        words.extend(rng.choice(_WORDS) for _ in range(tokens + 8))
        text = truncate_text_to_token_limit(" ".join(words), tokens, model, marker="")
        if count_tokens(text, model) == tokens:
            return text
        if len(words) > 4 * tokens + 64:
            raise SpecError(f"cannot make a prompt of exactly {tokens} tokens for {model}")


def synthetic(spec: Synthetic, model: str, seed: int, count: int) -> List[Prompt]:
    """`count` distinct prompts (distinct so no cache answers them) of spec.prompt_tokens each;
    output length through max_tokens."""
    rng = random.Random(seed)
    return [
        Prompt([{"role": "user", "content": synthetic_text(spec.prompt_tokens, model, rng)}], spec.output_tokens)
        for _ in range(count)
    ]
