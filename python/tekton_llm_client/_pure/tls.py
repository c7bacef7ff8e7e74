"""The TLS context of the pure path (HTTP and WebSocket)."""

from __future__ import annotations

import os
import ssl
from typing import Dict, Optional, Tuple

import httpx

from ..exceptions import error_from_kind

__all__ = ["ssl_context"]

_contexts: Dict[Tuple[Optional[str], Optional[str], Optional[str]], ssl.SSLContext] = {}


def ssl_context(ca_bundle: Optional[str] = None) -> ssl.SSLContext:
    """The default roots (SSL_CERT_FILE / SSL_CERT_DIR honoured), plus `ca_bundle`'s CAs.

    One context per (ca_bundle, SSL_CERT_FILE, SSL_CERT_DIR) for the process: httpx would load
    the CA bundle again for every client (~50 ms each)."""
    key = (ca_bundle, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    ctx = _contexts.get(key)
    if ctx is None:
        ctx = httpx.create_ssl_context()
        if ca_bundle is not None:
            try:
                ctx.load_verify_locations(cafile=ca_bundle)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise error_from_kind("invalid_request", f"cannot read ca_bundle {ca_bundle}: {exc}") from None
        _contexts[key] = ctx
    return ctx
