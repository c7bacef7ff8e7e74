"""What can go wrong on the pure path, and how it becomes a public exception.

Inside the transport an error is a `Failure`: a kind name (as `exceptions.error_from_kind` takes
it), a message, and what the retry decision needs (status, Retry-After). It is turned into the
public exception once, at the edge (`Failure.to_exception`).
"""

from __future__ import annotations

import json
from typing import Optional, Tuple

import httpx

from ..exceptions import TektonLLMError, error_from_kind

__all__ = [
    "Failure",
    "closed_failure",
    "error_message",
    "internal_failure",
    "status_text",
    "transport_failure",
]


class Failure(Exception):
    """An error of one request: kind, message, request id, and the server's status, code and
    Retry-After when it sent them. `retryable=False` makes it final whatever its kind (bad JSON, an
    error event in a stream, a size limit)."""

    def __init__(
        self,
        kind: str,
        message: str,
        request_id: Optional[str],
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        retry_after: Optional[float] = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.request_id = request_id
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.retryable = retryable

    def __str__(self) -> str:
        return self.message if self.status is None else f"{self.message} (status {self.status})"

    def to_exception(self) -> TektonLLMError:
        return error_from_kind(
            self.kind,
            self.message,
            status_code=self.status,
            request_id=self.request_id,
            code=self.code,
            retry_after=self.retry_after,
        )


def internal_failure(what: str, e: BaseException, request_id: Optional[str]) -> Failure:
    """A bug in this library: reported as such, never a hang, never a clean end."""
    return Failure(
        "error",
        f"internal error in {what} ({type(e).__name__}: {e}); this is a bug in tekton-llm-client, please report it",
        request_id,
        retryable=False,
    )


def closed_failure(request_id: Optional[str]) -> Failure:
    return Failure("connection", "the client was shut down", request_id, retryable=False)


def status_text(status: int) -> str:
    """ "503 Service Unavailable" (the status alone when httpx knows no reason phrase)."""
    reason = httpx.codes.get_reason_phrase(status)
    return f"{status} {reason}" if reason else str(status)


def error_message(body: bytes) -> Tuple[str, Optional[str]]:
    """The message and code of a non-2xx body: `{"error"}`, FastAPI's `{"detail"}` (string, list or
    object), `{"message"}`, else the body text cut to 300 characters, or "(empty body)"."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict):
        code = doc.get("code")
        code = code if isinstance(code, str) else None
        for key in ("error", "detail", "message"):
            v = doc.get(key)
            if isinstance(v, str):
                return v, code
            if isinstance(v, dict) and isinstance(v.get("message"), str):
                return v["message"], code
            if isinstance(v, (dict, list)):
                return json.dumps(v, ensure_ascii=False), code
        return json.dumps(doc, ensure_ascii=False), code
    text = body.decode("utf-8", "replace").strip()
    return (text[:300], None) if text else ("(empty body)", None)


def _innermost_text(e: BaseException) -> str:
    """The text of the innermost cause that has one (httpx wraps httpcore wraps OSError), which
    says what happened; anyio's cancellations behind timeouts are not shown."""
    detail = str(e)
    seen = {id(e)}
    cur = e.__cause__ or e.__context__
    while cur is not None and id(cur) not in seen and isinstance(cur, Exception):
        seen.add(id(cur))
        detail = str(cur) or detail
        cur = cur.__cause__ or cur.__context__
    return detail or type(e).__name__


def transport_failure(e: httpx.HTTPError, request_id: str, reading_body: bool) -> Failure:
    """An httpx error → our kind. The URL is left out of the message (it may carry credentials)."""
    if isinstance(e, httpx.ConnectTimeout):
        kind, what = "timeout", "cannot connect to Rhetor"
    elif isinstance(e, httpx.ConnectError):
        kind, what = "connection", "cannot connect to Rhetor"
    elif isinstance(e, httpx.TimeoutException):
        kind, what = "timeout", "timed out talking to Rhetor"
    elif reading_body or isinstance(e, httpx.DecodingError):
        kind, what = "connection", "the connection to Rhetor broke while reading the answer"
    else:
        kind, what = "connection", "HTTP request to Rhetor failed"
    return Failure(kind, f"{what}: {_innermost_text(e)}", request_id)
