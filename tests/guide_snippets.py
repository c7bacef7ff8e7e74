"""The migration guide's code blocks, by section, so tests can run them exactly as written.

The guide is kept in the repo as docs/migration-guide.md (a verbatim copy of the user's
document); a test checks the copy against ../shared/ when that folder is present.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Dict, List, Tuple

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "migration-guide.md"


def blocks(language: str = "python") -> List[Tuple[str, str, str]]:
    """(section heading, sub-heading such as 'After:', code) for every fenced block."""
    out: List[Tuple[str, str, str]] = []
    section = sub = ""
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("### "):
            section, sub = line[4:].strip(), ""
        elif line.startswith("#### "):
            sub = line[5:].strip()
        elif line.startswith("```"):
            lang = line[3:].strip()
            body: List[str] = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if lang == language:
                out.append((section, sub, "\n".join(body) + "\n"))
        i += 1
    return out


def snippet(section_prefix: str, sub: str = "") -> str:
    """The one block of a section (`sub` = 'After:' picks the after-migration block)."""
    found = [code for s, b, code in blocks() if s.startswith(section_prefix) and (not sub or b == sub)]
    if len(found) != 1:
        raise LookupError(f"expected one block in {section_prefix!r}/{sub!r}, found {len(found)}")
    return found[0]


async def run(code: str, namespace: Dict[str, Any]) -> Dict[str, Any]:
    """Execute a snippet in `namespace`; top-level `await` is allowed, as the guide uses it."""
    compiled = compile(code, str(GUIDE), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)  # noqa: S307 - the guide's own code, by design
    if result is not None and hasattr(result, "__await__"):
        await result
    return namespace


def js_blocks() -> List[str]:
    return [code for _, _, code in blocks("html")]
