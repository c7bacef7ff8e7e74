"""Offline rank files for Python tiktoken (the pure backend, tests and benches).

Python tiktoken downloads ``<encoding>.tiktoken`` on first use and keeps it in
``TIKTOKEN_CACHE_DIR`` under the sha1 of its URL, checking the sha256 on every read. We never
download: :func:`ensure_tiktoken_cache` writes the official files, rebuilt byte for byte by the
native module from the ranks embedded in the Rust crate (``_core.tiktoken_rank_file``), into that
cache, after checking the same sha256 tiktoken checks.

When ``TIKTOKEN_CACHE_DIR`` is unset it is set (for this process and its children) to a per-user
directory: ``$XDG_CACHE_HOME/tekton-llm-client/tiktoken`` (``~/.cache/...`` by default). An
explicitly set value is respected; an empty one disables tiktoken's cache and so offline use.

Without the native module nothing can be written: files already in the cache (from an earlier
run with the native module, or copied there) are used; for missing ones tiktoken falls back to
its own download, which fails without network. :func:`missing_rank_files` says which.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from ._backend import native

__all__ = ["RANK_FILES", "ensure_tiktoken_cache", "cache_dir", "missing_rank_files"]

_BASE = "https://openaipublic.blob.core.windows.net/encodings/"
# encoding → (URL tiktoken reads, sha256 tiktoken expects): tiktoken_ext/openai_public.py.
RANK_FILES: Dict[str, Tuple[str, str]] = {
    "o200k_base": (_BASE + "o200k_base.tiktoken", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
    "cl100k_base": (_BASE + "cl100k_base.tiktoken", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
    "p50k_base": (_BASE + "p50k_base.tiktoken", "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069"),
    "r50k_base": (_BASE + "r50k_base.tiktoken", "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"),
}


def cache_dir() -> str:
    """The directory tiktoken will read (``TIKTOKEN_CACHE_DIR``, set to the default if unset)."""
    current = os.environ.get("TIKTOKEN_CACHE_DIR")
    if current is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        current = os.path.join(base, "tekton-llm-client", "tiktoken")
        os.environ["TIKTOKEN_CACHE_DIR"] = current
    return current


def _path(directory: str, name: str) -> Path:
    url, _ = RANK_FILES[name]
    return Path(directory) / hashlib.sha1(url.encode()).hexdigest()


def _valid(path: Path, sha256: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def missing_rank_files(names: Optional[Iterable[str]] = None) -> List[str]:
    """Encodings whose rank file is not (validly) in the cache."""
    directory = cache_dir()
    return [n for n in (names or RANK_FILES) if not directory or not _valid(_path(directory, n), RANK_FILES[n][1])]


def ensure_tiktoken_cache(names: Optional[Iterable[str]] = None) -> str:
    """Make the rank files of ``names`` (default: all four) present and valid in the cache.

    Returns the cache directory. Raises ValueError for an unknown encoding name, and
    RuntimeError if the native module produced a file whose sha256 is not the official one.
    """
    directory = cache_dir()
    wanted = list(names or RANK_FILES)
    for name in wanted:
        if name not in RANK_FILES:
            raise ValueError(f"no rank file for {name!r}: use one of {', '.join(RANK_FILES)}")
    core = native()
    if not directory or core is None:
        return directory
    for name in wanted:
        url, sha256 = RANK_FILES[name]
        path = _path(directory, name)
        if _valid(path, sha256):
            continue
        data = bytes(core.tiktoken_rank_file(name))
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RuntimeError(f"the embedded {name} ranks do not match tiktoken's file ({url})")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: concurrent processes never see a partial file.
        fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    return directory
