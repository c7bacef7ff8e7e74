"""Pure-Python token backend on Python tiktoken: the same functions, arguments and results as
the native ``_core`` token functions (src/py_tokens.rs), used when
``_backend.backend_name()`` is "python". Rank files come from the offline cache
(``_tiktoken_files``), never from the network.

The rules (message spec, truncation, optimization plan) mirror crates/tekton-tokens line for
line; tests/test_tokens_backends.py runs both backends on the same cases.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from .._encoding_names import ALIASES as _ALIASES
from .._encoding_names import ENCODINGS as _ENCODINGS
from .._tiktoken_files import ensure_tiktoken_cache

__all__ = [
    "count_tokens",
    "count_message_tokens",
    "truncate_text",
    "optimize_plan",
]

PER_MESSAGE = 3
PER_NAME = 1
REPLY_PRIMING = 3


# (role, texts, content index, has name, calls a tool)
Spec = Tuple[str, List[str], Optional[int], bool, bool]
Plan = Optional[Tuple[List[int], Optional[int], Optional[str]]]


@functools.lru_cache(maxsize=None)
def _encoding(name: str) -> Any:
    base = _ALIASES.get(name, name)
    if base not in _ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}: use o200k_base, cl100k_base, p50k_base or r50k_base")
    ensure_tiktoken_cache([base])
    import tiktoken

    return tiktoken.get_encoding(base)


def _counter(encoding_name: str) -> Callable[[str], int]:
    encode = _encoding(encoding_name).encode_ordinary
    return lambda text: len(encode(text))


def count_tokens(text: Union[str, Sequence[str]], encoding_name: str) -> Union[int, List[int]]:
    """Tokens of ``text``, or a list of counts for a list of texts."""
    enc = _encoding(encoding_name)
    if isinstance(text, str):
        return len(enc.encode_ordinary(text))
    try:
        texts = list(text)
    except TypeError:
        raise TypeError("count_tokens expects a str or a list of str") from None
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"'{type(t).__name__}' object cannot be converted to 'PyString'")
    return [len(enc.encode_ordinary(t)) for t in texts]


_dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"), default=str)


def _role(role: str) -> str:
    if role in ("system", "developer"):
        return "system"
    if role in ("tool", "function"):
        return "tool_result"
    if role in ("user", "assistant"):
        return role
    return "other"


def _spec(message: Any) -> Spec:
    if isinstance(message, dict):
        d = message
    elif hasattr(message, "to_dict"):
        d = message.to_dict()
        if not isinstance(d, dict):
            raise TypeError(f"'{type(d).__name__}' object cannot be converted to 'PyDict'")
    else:
        raise TypeError(f"a message must be a dict or a Message, not {type(message).__name__}")
    role = "other"
    texts: List[str] = []
    content: Optional[int] = None
    has_name = False
    tool_calls = False
    for k, v in d.items():
        if v is None:
            continue
        key = k if isinstance(k, str) else ""
        if isinstance(v, str):
            if key == "content":
                content = len(texts)
            text = v
        else:
            text = _dumps(v)
        if key == "role":
            role = _role(text)
        elif key == "name":
            has_name = True
        elif key == "tool_calls":
            tool_calls = tool_calls or bool(v)
        elif key == "function_call":
            tool_calls = True
        texts.append(text)
    return role, texts, content, has_name, tool_calls and role == "assistant"


def _message_tokens(count: Callable[[str], int], spec: Spec) -> int:
    return PER_MESSAGE + sum(count(t) for t in spec[1]) + (PER_NAME if spec[3] else 0)


def count_message_tokens(messages: Sequence[Any], encoding_name: str) -> int:
    """The OpenAI cookbook count: 3 per message + its values' tokens + 1 per name, + 3."""
    count = _counter(encoding_name)
    return sum(_message_tokens(count, _spec(m)) for m in messages) + REPLY_PRIMING


def _is_continuation(byte: int) -> bool:
    return (byte & 0xC0) == 0x80


def _token_ends(enc: Any, data: bytes, text: str) -> List[int]:
    ends: List[int] = []
    pos = 0
    for token in enc.encode_ordinary(text):
        pos += len(enc.decode_single_token_bytes(token))
        ends.append(pos)
    return ends


def truncate_text(text: str, max_tokens: int, encoding_name: str, keep: str, marker: str) -> str:
    """``text`` cut at token boundaries to at most ``max_tokens`` tokens (docs/tokens.md)."""
    enc = _encoding(encoding_name)
    if keep not in ("start", "end", "both"):
        raise ValueError(f"invalid argument: keep must be 'start', 'end' or 'both', not {keep!r}")
    if max_tokens < 0:
        raise OverflowError("can't convert negative int to unsigned")
    return _truncate(enc, text, max_tokens, keep, marker)


def _truncate(enc: Any, text: str, max_tokens: int, keep: str, marker: str) -> str:
    if max_tokens == 0 or not text:
        return ""
    data = text.encode("utf-8")
    ends = _token_ends(enc, data, text)
    if len(ends) <= max_tokens:
        return text

    def count(s: str) -> int:
        return len(enc.encode_ordinary(s))

    if count(marker) >= max_tokens:
        marker = ""
    budget = max_tokens - count(marker)
    mbytes = marker.encode("utf-8")
    n = len(data)

    def head(k: int) -> int:
        if k == 0:
            return 0
        i = ends[k - 1]
        while 0 < i < n and _is_continuation(data[i]):
            i -= 1
        return i

    def tail(k: int) -> int:
        if k == 0:
            return n
        i = len(ends) - k
        if i == 0:
            return 0
        j = ends[i - 1]
        while j < n and _is_continuation(data[j]):
            j += 1
        return j

    def build(h: int, t: int) -> str:
        if keep == "start":
            a, b = head(h), n
        elif keep == "end":
            a, b = 0, tail(t)
        else:
            a = head(h)
            b = max(tail(t), a)
        return (data[:a] + mbytes + data[b:]).decode("utf-8")

    if keep == "start":
        h, t = budget, 0
    elif keep == "end":
        h, t = 0, budget
    else:
        h, t = (budget + 1) // 2, budget // 2
    while True:
        candidate = build(h, t)
        if count(candidate) <= max_tokens:
            return candidate
        if h == 0 and t == 0:
            return ""
        if h >= t:
            h -= 1
        else:
            t -= 1


def optimize_plan(
    messages: Sequence[Any],
    max_tokens: int,
    encoding_name: str,
    keep_system_prompt: bool,
    marker: str,
) -> Plan:
    """None when the conversation fits, else (kept indices, cut index, cut content): the rule
    in crates/tekton-tokens/src/messages.rs and docs/tokens.md."""
    enc = _encoding(encoding_name)
    if max_tokens < 0:
        raise OverflowError("can't convert negative int to unsigned")
    count = _counter(encoding_name)
    specs = [_spec(m) for m in messages]
    counts = [_message_tokens(count, s) for s in specs]
    if sum(counts) + REPLY_PRIMING <= max_tokens:
        return None

    def pinned(i: int) -> bool:
        return keep_system_prompt and specs[i][0] == "system"

    pinned_total = sum(counts[i] for i in range(len(specs)) if pinned(i))
    budget = max_tokens - REPLY_PRIMING - pinned_total
    if budget < 0:
        raise ValueError(
            f"invalid argument: the system messages alone need {pinned_total + REPLY_PRIMING} "
            f"tokens, more than max_tokens={max_tokens}"
        )
    keep = [i for i in range(len(specs)) if pinned(i)]
    cut_index: Optional[int] = None
    cut_content: Optional[str] = None

    anchor = next(
        (i for i in range(len(specs) - 1, -1, -1) if not pinned(i) and specs[i][0] == "user"),
        None,
    )
    if anchor is not None:
        need = counts[anchor]
        if need <= budget:
            budget -= need
        else:
            role, texts, ci, _, _ = specs[anchor]
            if ci is None:
                raise ValueError("invalid argument: the newest user message does not fit and its content is not text")
            content = texts[ci]
            content_tokens = count(content)
            overhead = need - content_tokens
            room = budget - overhead
            if room < 0:
                raise ValueError(
                    "invalid argument: max_tokens leaves no room for the newest user message "
                    f"({overhead} tokens without its content)"
                )
            cut_content = _truncate(enc, content, room, "both", marker)
            budget -= overhead + count(cut_content)
            cut_index = anchor
        keep.append(anchor)

    for unit in reversed(_units(specs, pinned)):
        if unit[0] == anchor:
            continue
        cost = sum(counts[i] for i in unit)
        if cost > budget:
            break
        budget -= cost
        keep.extend(unit)
    keep.sort()
    return keep, cut_index, cut_content


def _units(specs: List[Spec], pinned: Callable[[int], bool]) -> List[List[int]]:
    out: List[List[int]] = []
    open_call = False
    for i, spec in enumerate(specs):
        if pinned(i):
            continue
        if out and open_call and spec[0] == "tool_result":
            out[-1].append(i)
        else:
            out.append([i])
            open_call = spec[4]
    return out
