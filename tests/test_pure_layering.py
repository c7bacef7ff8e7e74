"""The pure backend (`_pure/`) is a transport: it imports only the bottom layer of the package
(models, exceptions, config, the version, the event tags, the tiktoken files), never the client,
the WebSocket facade, batch or the dialects, so the package's import graph has no cycle through it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Tuple

import tekton_llm_client

PACKAGE = Path(tekton_llm_client.__file__).parent
BOTTOM = {"models", "exceptions", "config", "_version", "_backend_interface", "_tiktoken_files", "_backend", "_core"}


def _package_imports(path: Path, level: int = 2) -> Iterator[Tuple[int, str]]:
    """(line, top module of the package) for each relative import `level` dots up in `path`, and
    each absolute import of the package."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == level:
            for name in [node.module] if node.module else [a.name for a in node.names]:
                yield node.lineno, name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("tekton_llm_client"):
                yield node.lineno, (node.module.split(".") + [""])[1]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tekton_llm_client"):
                    yield node.lineno, (alias.name.split(".") + [""])[1]


def test_pure_imports_only_the_bottom_layer() -> None:
    files = sorted((PACKAGE / "_pure").glob("*.py"))
    assert len(files) > 5
    upward = [f"{f.name}:{line}: {name}" for f in files for line, name in _package_imports(f) if name not in BOTTOM]
    assert upward == []


def test_the_bottom_layer_imports_nothing_above_it() -> None:
    upward = [
        f"{name}.py:{line}: {imported}"
        for name in sorted(BOTTOM - {"_core"})  # the native module
        for line, imported in _package_imports(PACKAGE / f"{name}.py", level=1)
        if imported not in BOTTOM
    ]
    assert upward == []
