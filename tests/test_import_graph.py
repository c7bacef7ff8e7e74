"""The package's modules import each other without a cycle.

The graph is read from the source with `ast` (nothing is imported): every `import` and
`from ... import` anywhere in a module counts, in functions too, since an import moved into a
function to dodge a cycle is still a cycle. Importing `pkg.a.b` also runs `pkg/a/__init__.py`, so
it is an edge to `pkg.a` as well (the root package's own `__init__` only when named).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Optional, Set

import tekton_llm_client


def _module_names(root: Path, package: str) -> Dict[str, Path]:
    """Every module of the package: Python sources, and native extensions (`_core`, which
    imports nothing of the package), by their stub or their shared library."""
    out: Dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".py", ".pyi", ".so", ".pyd"):
            continue
        parts = list(path.relative_to(root).parts)
        parts[-1] = parts[-1].split(".", 1)[0]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join([package, *parts])
        if path.suffix == ".py" or name not in out:
            out[name] = path
    return out


def _resolve(current: str, is_package: bool, level: int, module: Optional[str]) -> str:
    """The absolute name of a relative import's base (`from ..x import y` → `pkg.x`)."""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_graph(root: Path, package: str) -> Dict[str, Set[str]]:
    """module → the package's modules it imports (directly, anywhere in its body)."""
    modules = _module_names(root, package)
    graph: Dict[str, Set[str]] = {name: set() for name in modules}

    def add(source: str, target: str) -> None:
        # Importing a.b.c runs a/__init__ and a/b/__init__ first (not the root package's), unless
        # it is a package of the importer's own, whose __init__ ran before the importer did.
        parts = target.split(".")
        for i in range(2, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in modules and name != source and (i == len(parts) or not source.startswith(name + ".")):
                graph[source].add(name)

    for name, path in modules.items():
        if path.suffix != ".py":
            continue
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == package:
                        graph[name].add(package)
                    elif alias.name.startswith(package + "."):
                        add(name, alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = _resolve(name, is_package, node.level, node.module)
                elif node.module and (node.module == package or node.module.startswith(package + ".")):
                    base = node.module
                else:
                    continue
                # `from base import x`: x is a submodule (an edge to it), or a name that base
                # defines (an edge to base).
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in modules:
                        add(name, sub)
                    elif base == package:
                        if name != package:
                            graph[name].add(package)
                    else:
                        add(name, base)
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    root = Path(tekton_llm_client.__file__).parent
    graph = import_graph(root, "tekton_llm_client")
    assert len(graph) > 50, sorted(graph)  # the whole package was read
    assert "tekton_llm_client.client" in graph["tekton_llm_client"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _write(root: Path, files: Dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_check_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    """The check can fail: a cycle through an import inside a function, across a subpackage's
    `__init__`, is found; the same package with that import removed passes."""
    files = {
        "pkg/__init__.py": "from .client import Client\n",
        "pkg/client.py": "from . import models\nfrom .sub.helper import helper\nclass Client: ...\n",
        "pkg/models.py": "X = 1\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/helper.py": "def helper():\n    from ..client import Client\n    return Client\n",
    }
    _write(tmp_path, files)
    cycle = find_cycle(import_graph(tmp_path / "pkg", "pkg"))
    assert cycle == ["pkg.client", "pkg.sub.helper", "pkg.client"]

    _write(tmp_path, {"pkg/sub/helper.py": "def helper():\n    return None\n"})
    assert find_cycle(import_graph(tmp_path / "pkg", "pkg")) is None

    # A cycle through a package's __init__ (importing pkg.sub.helper runs pkg/sub/__init__.py).
    _write(tmp_path, {"pkg/sub/__init__.py": "from ..client import Client\n"})
    cycle = find_cycle(import_graph(tmp_path / "pkg", "pkg"))
    assert cycle == ["pkg.client", "pkg.sub", "pkg.client"]


# The package's layers, bottom first: a module imports only from its own layer or below.
LAYERS = [
    # facts and types
    ("_version", "models", "exceptions", "config", "_backend_interface", "_call_args", "_encoding_names"),
    # the backends and their choice
    ("_core", "_pure", "_backend", "_tiktoken_files"),
    # the client
    ("dialects", "batch", "client", "websocket", "utils", "testing"),
    # on top
    ("", "__main__", "cli", "compat", "ray", "bench"),
]


def _layer(module: str, package: str) -> int:
    rest = module[len(package) + 1 :] if module != package else ""
    top = rest.split(".", 1)[0]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def test_each_module_imports_only_its_layer_or_below() -> None:
    package = "tekton_llm_client"
    graph = import_graph(Path(tekton_llm_client.__file__).parent, package)
    upward = sorted(
        f"{a} -> {b}" for a, targets in graph.items() for b in targets if _layer(b, package) > _layer(a, package)
    )
    assert upward == []
