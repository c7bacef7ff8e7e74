"""Rank files reach Python tiktoken from the native module, never from the network."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tekton_llm_client import _core
from tekton_llm_client._tiktoken_files import RANK_FILES, ensure_tiktoken_cache, missing_rank_files


@pytest.mark.parametrize("name", sorted(RANK_FILES))
def test_native_rank_files_are_official(name: str) -> None:
    data = _core.tiktoken_rank_file(name)
    assert hashlib.sha256(data).hexdigest() == RANK_FILES[name][1]


def test_fills_an_empty_cache_and_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert sorted(missing_rank_files()) == sorted(RANK_FILES)
    assert ensure_tiktoken_cache(["cl100k_base"]) == str(tmp_path)
    assert missing_rank_files() == [n for n in RANK_FILES if n != "cl100k_base"]
    url = RANK_FILES["cl100k_base"][0]
    path = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    mtime = path.stat().st_mtime_ns
    ensure_tiktoken_cache(["cl100k_base"])
    assert path.stat().st_mtime_ns == mtime  # a valid file is left alone


def test_repairs_a_corrupt_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    url, sha = RANK_FILES["r50k_base"]
    path = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    path.write_bytes(b"garbage")
    ensure_tiktoken_cache(["r50k_base"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def test_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    with pytest.raises(ValueError):
        ensure_tiktoken_cache(["llama3"])


def test_python_tiktoken_loads_without_network(tmp_path: Path) -> None:
    # A fresh process with no cache and requests made to fail: only our files can satisfy it.
    code = (
        "import sys; sys.modules['requests'] = None\n"
        "from tekton_llm_client._tiktoken_files import ensure_tiktoken_cache\n"
        "ensure_tiktoken_cache()\n"
        "import tiktoken\n"
        "print(len(tiktoken.get_encoding('o200k_base').encode_ordinary('hello world')))\n"
    )
    env = dict(os.environ)
    env.pop("TIKTOKEN_CACHE_DIR", None)
    env["XDG_CACHE_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"
    assert (tmp_path / "tekton-llm-client" / "tiktoken").is_dir()


def test_without_native_module_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tekton_llm_client._tiktoken_files as files

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(files, "native", lambda: None)
    assert files.ensure_tiktoken_cache() == str(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert sorted(files.missing_rank_files()) == sorted(RANK_FILES)
