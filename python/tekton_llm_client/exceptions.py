"""Typed errors. Every error the client raises is a `TektonLLMError`.

Each class has its error `kind` (a class attribute): the name errors cross the Rust/Python
boundary in (`error_from_kind`), that the CLI prints, and that `STATUS_KINDS` maps HTTP statuses
to (docs/protocol.md, "Errors"). This module is the one table of both; the Rust core's copy
(`ErrorKind` in crates/tekton-core/src/error.rs) and the JS client's are proven equal to it by
tests/test_error_table.py. It lives in Python because the pure-Python path must work when the
native module cannot be loaded. `ConnectionError` and `TimeoutError` also subclass the
built-ins of the same name, so `except TimeoutError:` catches ours whether or not the caller
imported it from here.
"""

from __future__ import annotations

import builtins
from typing import Any, ClassVar, Dict, Optional, Tuple, Type

__all__ = [
    "TektonLLMError",
    "InvalidRequestError",
    "AuthenticationError",
    "TimeoutError",
    "RateLimitError",
    "ServiceUnavailableError",
    "ConnectionError",
    "StreamInterruptedError",
    "ProtocolError",
    "LimitExceededError",
    "RedirectError",
    "STATUS_KINDS",
    "KIND_CLASSES",
    "kind_for_status",
    "CODE_KINDS",
    "kind_for_error",
    "RETRYABLE",
    "RETRYABLE_KINDS",
    "error_from_kind",
]


class TektonLLMError(Exception):
    """Base of every error this library raises.

    `status_code` is the HTTP status (None when no response was received), `message` the server's
    message (or ours), `request_id` the X-Request-ID sent with every attempt of the call, and
    `code` the server's machine-readable error code when it sent one.
    """

    kind: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        status_code: Optional[int] = None,
        request_id: Optional[str] = None,
        code: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.code = code

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append(f"status {self.status_code}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        if len(parts) == 1:
            return self.message
        return f"{parts[0]} ({', '.join(parts[1:])})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r}, request_id={self.request_id!r})"
        )

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.message, self.status_code, self.request_id, self.code))


def _rebuild(
    cls: Type[TektonLLMError], message: str, status_code: Optional[int], request_id: Optional[str], code: Optional[str]
) -> TektonLLMError:
    return cls(message, status_code=status_code, request_id=request_id, code=code)


class InvalidRequestError(TektonLLMError):
    """400, 404, 413, 422: the request itself is wrong. Not retried."""

    kind = "invalid_request"


class AuthenticationError(TektonLLMError):
    """401, 403: missing or wrong auth token. Not retried."""

    kind = "authentication"


class TimeoutError(TektonLLMError, builtins.TimeoutError):  # noqa: A001 - the name is the contract
    """408, 504, or a client-side connect/read/idle timeout. Retried."""

    kind = "timeout"


class RateLimitError(TektonLLMError):
    """429. Retried, honouring Retry-After; `retry_after` holds the server's wish in seconds."""

    kind = "rate_limit"

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServiceUnavailableError(TektonLLMError):
    """500, 502, 503. Retried."""

    kind = "service_unavailable"


class ConnectionError(TektonLLMError, builtins.ConnectionError):  # noqa: A001 - the name is the contract
    """Connection refused, reset or closed, DNS failure. Retried before a stream's first chunk."""

    kind = "connection"


class StreamInterruptedError(ConnectionError):
    """A stream ended before its `done` event. `partial` holds the text already delivered."""

    kind = "stream_interrupted"

    def __init__(self, message: str, *, partial: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.partial = partial


class ProtocolError(TektonLLMError):
    """The server answered something that is not the Rhetor protocol (bad JSON, wrong shape)."""

    kind = "protocol"


class LimitExceededError(TektonLLMError):
    """A response body, SSE event or WebSocket message crossed its configured size limit."""

    kind = "limit_exceeded"


class RedirectError(TektonLLMError):
    """Rhetor answered a redirect the client does not follow: to another origin (host, port or
    scheme, so https → http too), or a 301/302/303 (which would turn the POST into a GET). The
    message names the Location; `status_code` is the 3xx. Only same-origin 307/308 are followed
    (docs/protocol.md). Not retried."""

    kind = "redirect"


# The HTTP status → error kind table (docs/protocol.md, "Errors"); any other status is "error".
STATUS_KINDS: Dict[int, str] = {
    400: InvalidRequestError.kind,
    404: InvalidRequestError.kind,
    413: InvalidRequestError.kind,
    422: InvalidRequestError.kind,
    401: AuthenticationError.kind,
    403: AuthenticationError.kind,
    408: TimeoutError.kind,
    504: TimeoutError.kind,
    429: RateLimitError.kind,
    500: ServiceUnavailableError.kind,
    502: ServiceUnavailableError.kind,
    503: ServiceUnavailableError.kind,
}

# kind → class, from the classes themselves.
KIND_CLASSES: Dict[str, Type[TektonLLMError]] = {
    cls.kind: cls
    for cls in (
        TektonLLMError,
        InvalidRequestError,
        AuthenticationError,
        TimeoutError,
        RateLimitError,
        ServiceUnavailableError,
        ConnectionError,
        StreamInterruptedError,
        ProtocolError,
        LimitExceededError,
        RedirectError,
    )
}

# The kinds a call is retried on (and may go to the fallback provider for): the provider was
# down, overloaded or slow, so asking again may succeed.
RETRYABLE: Tuple[Type[TektonLLMError], ...] = (TimeoutError, RateLimitError, ServiceUnavailableError, ConnectionError)
RETRYABLE_KINDS = frozenset(cls.kind for cls in RETRYABLE)


def kind_for_status(status: int) -> str:
    """The error kind of an HTTP error status."""
    return STATUS_KINDS.get(status, TektonLLMError.kind)


# The `code` of a WebSocket ERROR frame → error kind (docs/protocol.md, "WebSocket"), compared in
# lower case; the Rust core's copy (`kind_for_code` in crates/tekton-core/src/ws/frames.rs) is
# proven equal to it by tests/test_error_table.py.
CODE_KINDS: Dict[str, str] = {
    **dict.fromkeys(("unauthorized", "forbidden", "authentication", "auth_failed"), AuthenticationError.kind),
    **dict.fromkeys(
        (
            "invalid_request",
            "bad_request",
            "validation_error",
            "not_found",
            "payload_too_large",
            "invalid_json",
            "invalid_message",
            "unknown_type",
        ),
        InvalidRequestError.kind,
    ),
    **dict.fromkeys(("rate_limit", "rate_limited", "too_many_requests"), RateLimitError.kind),
    **dict.fromkeys(("timeout", "timed_out", "request_timeout", "gateway_timeout"), TimeoutError.kind),
    **dict.fromkeys(
        (
            "unavailable",
            "service_unavailable",
            "provider_unavailable",
            "provider_error",
            "overloaded",
            "internal_error",
            "bad_gateway",
        ),
        ServiceUnavailableError.kind,
    ),
    **dict.fromkeys(("message_too_large", "limit_exceeded"), LimitExceededError.kind),
}


def kind_for_error(code: Optional[str], status: Optional[int]) -> str:
    """The error kind of a WebSocket ERROR frame: its status when the status table maps it, else
    its code."""
    if status is not None and status in STATUS_KINDS:
        return STATUS_KINDS[status]
    if code is not None:
        return CODE_KINDS.get(code.lower(), TektonLLMError.kind)
    return TektonLLMError.kind


def error_from_kind(
    kind: str,
    message: str,
    *,
    status_code: Optional[int] = None,
    request_id: Optional[str] = None,
    code: Optional[str] = None,
    retry_after: Optional[float] = None,
    partial: str = "",
) -> TektonLLMError:
    """Build the exception for an error kind name (the form errors cross the FFI boundary in)."""
    cls = KIND_CLASSES.get(kind, TektonLLMError)
    kw: dict[str, Any] = {"status_code": status_code, "request_id": request_id, "code": code}
    if cls is RateLimitError:
        kw["retry_after"] = retry_after
    if cls is StreamInterruptedError:
        kw["partial"] = partial
    return cls(message, **kw)
