"""The installed distribution's version, which the build takes from Cargo.toml (one source)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tekton-llm-client")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
