"""A fixed, generated corpus for the token differential tests (deterministic: seeded)."""

from __future__ import annotations

import random
from typing import List

ATOMS = [
    "",
    " ",
    "  ",
    "   ",
    "\n",
    "\n\n",
    "\r\n",
    "\r",
    "\t",
    "\u3000",
    "\u00a0",
    "\u2028",
    "\u200b",
    "a",
    "A",
    "Z",
    "é",
    "ß",
    "ü",
    "Ω",
    "я",
    "日本語",
    "中文",
    "한국어",
    "ไทย",
    "العربية",
    "हिन्दी",
    "😀",
    "👩\u200d👩\u200d👧",
    "🇫🇷",
    "x\u0301",
    "\u200d",
    "١٢٣",
    "Ⅻ",
    "½",
    "'s",
    "'S",
    "'ll",
    "'LL",
    "'ve",
    "n't",
    "don't",
    "I'M",
    "1",
    "12",
    "123",
    "1234",
    "12345678901",
    "3.14",
    "1e-9",
    "0x1F",
    "!",
    "?!",
    "...",
    "—",
    "/",
    "//",
    "!\n/",
    "<",
    ">",
    "{",
    "}",
    "()",
    "[]",
    "#",
    "@",
    "$",
    "<|endoftext|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|endofprompt|>",
    "<|im_start|>",
    "<|",
    "|>",
    "fn main() {",
    "    return x;",
    "def f(x):",
    "if (a && b) {",
    "SELECT * FROM t;",
    "http://x.io/a?b=c",
    "HTTPServer",
    "camelCase",
    "snake_case",
    "CONSTANT_VALUE",
    "iPhone",
    "McDonald's",
    " \n",
    "\n \n  ",
    "  \n",
    " \t ",
    "\t\n",
    "word",
    " word",
    "Word",
    " WORD",
    "tokens",
]


def _random_text(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:  # atoms glued together: the pretokenizer's seams
        return "".join(rng.choice(ATOMS) for _ in range(rng.randrange(1, 12)))
    if kind == 1:  # atoms separated by whitespace of any kind
        seps = [" ", "  ", "\n", " \n ", "\t", "\u3000", "\r\n"]
        return "".join(rng.choice(ATOMS) + rng.choice(seps) for _ in range(rng.randrange(1, 10)))
    if kind == 2:  # random code points from several blocks
        blocks = [
            (0x20, 0x7E),
            (0xA0, 0x24F),
            (0x370, 0x4FF),
            (0x3040, 0x30FF),
            (0x4E00, 0x4FFF),
            (0x1F300, 0x1F64F),
            (0x2000, 0x206F),
            (0x0600, 0x06FF),
            (0x0900, 0x097F),
        ]
        out = []
        for _ in range(rng.randrange(1, 40)):
            lo, hi = rng.choice(blocks)
            out.append(chr(rng.randint(lo, hi)))
        return "".join(out)
    if kind == 3:  # runs of one character
        return rng.choice(["a", " ", "\n", "!", "1", "é", "日", "😀", "\t", "ab"]) * rng.randrange(1, 400)
    if kind == 4:  # random bytes-ish ASCII including control characters
        return "".join(chr(rng.randrange(0, 128)) for _ in range(rng.randrange(1, 60)))
    words = ["the", "quick", "brown", "fox", "Rhetor", "tokens", "naïve", "café", "it's", "2024"]
    return " ".join(rng.choice(words) for _ in range(rng.randrange(1, 50))) + rng.choice(["", ".", "\n"])


def corpus(size: int = 6000, seed: int = 20250801) -> List[str]:
    """Atoms, all pairs of atoms, long runs, and `size` random texts."""
    rng = random.Random(seed)
    texts = list(ATOMS)
    texts += [a + b for a in ATOMS for b in ATOMS[::3]]
    texts += [
        " " * 10000,
        "a" * 10000,
        "\n" * 3000 + "x",
        " \t" * 2000 + "y",
        "😀" * 3000,
        "word " * 5000,
        "日本語" * 2000,
        "<|endoftext|>" * 500,
    ]
    texts += [_random_text(rng) for _ in range(size)]
    return texts
