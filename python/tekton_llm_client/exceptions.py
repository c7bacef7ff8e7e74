"""Typed errors. Every error the client raises is a `TektonLLMError`.

The status-to-class mapping is PROTOCOL.md's table (see docs/protocol.md). `ConnectionError` and
`TimeoutError` also subclass the built-ins of the same name, so `except TimeoutError:` catches
ours whether or not the caller imported it from here.
"""

from __future__ import annotations

import builtins
from typing import Any, Optional

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
    "error_for_status",
]


class TektonLLMError(Exception):
    """Base of every error this library raises.

    `status_code` is the HTTP status (None when no response was received), `message` the server's
    message (or ours), `request_id` the X-Request-ID sent with every attempt of the call, and
    `code` the server's machine-readable error code when it sent one.
    """

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


def _rebuild(cls: type, message: str, status_code: Any, request_id: Any, code: Any) -> TektonLLMError:
    return cls(message, status_code=status_code, request_id=request_id, code=code)  # type: ignore[no-any-return]


class InvalidRequestError(TektonLLMError):
    """400, 404, 413, 422: the request itself is wrong. Not retried."""


class AuthenticationError(TektonLLMError):
    """401, 403: missing or wrong auth token. Not retried."""


class TimeoutError(TektonLLMError, builtins.TimeoutError):  # noqa: A001 - the name is the contract
    """408, 504, or a client-side connect/read/idle timeout. Retried."""


class RateLimitError(TektonLLMError):
    """429. Retried, honouring Retry-After; `retry_after` holds the server's wish in seconds."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServiceUnavailableError(TektonLLMError):
    """500, 502, 503. Retried."""


class ConnectionError(TektonLLMError, builtins.ConnectionError):  # noqa: A001 - the name is the contract
    """Connection refused, reset or closed, DNS failure. Retried before a stream's first chunk."""


class StreamInterruptedError(ConnectionError):
    """A stream ended before its `done` event. `partial` holds the text already delivered."""

    def __init__(self, message: str, *, partial: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.partial = partial


class ProtocolError(TektonLLMError):
    """The server answered something that is not the Rhetor protocol (bad JSON, wrong shape)."""


class LimitExceededError(TektonLLMError):
    """A response body, SSE event or WebSocket message crossed its configured size limit."""


class RedirectError(TektonLLMError):
    """Rhetor answered a redirect the client does not follow: to another origin (host, port or
    scheme, so https → http too), or a 301/302/303 (which would turn the POST into a GET). The
    message names the Location; `status_code` is the 3xx. Only same-origin 307/308 are followed
    (docs/protocol.md). Not retried."""


_STATUS_CLASSES: dict[int, type[TektonLLMError]] = {
    400: InvalidRequestError,
    404: InvalidRequestError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    408: TimeoutError,
    504: TimeoutError,
    429: RateLimitError,
    500: ServiceUnavailableError,
    502: ServiceUnavailableError,
    503: ServiceUnavailableError,
}

# Names the Rust core uses for error kinds; both backends raise through `error_from_kind`.
_KIND_CLASSES: dict[str, type[TektonLLMError]] = {
    "invalid_request": InvalidRequestError,
    "authentication": AuthenticationError,
    "timeout": TimeoutError,
    "rate_limit": RateLimitError,
    "service_unavailable": ServiceUnavailableError,
    "connection": ConnectionError,
    "stream_interrupted": StreamInterruptedError,
    "protocol": ProtocolError,
    "limit_exceeded": LimitExceededError,
    "redirect": RedirectError,
    "error": TektonLLMError,
}


def error_for_status(
    status: int,
    message: str,
    *,
    request_id: Optional[str] = None,
    code: Optional[str] = None,
    retry_after: Optional[float] = None,
) -> TektonLLMError:
    """The exception PROTOCOL.md assigns to an HTTP status."""
    cls = _STATUS_CLASSES.get(status, TektonLLMError)
    if cls is RateLimitError:
        return RateLimitError(message, status_code=status, request_id=request_id, code=code, retry_after=retry_after)
    return cls(message, status_code=status, request_id=request_id, code=code)


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
    cls = _KIND_CLASSES.get(kind, TektonLLMError)
    kw: dict[str, Any] = {"status_code": status_code, "request_id": request_id, "code": code}
    if cls is RateLimitError:
        kw["retry_after"] = retry_after
    if cls is StreamInterruptedError:
        kw["partial"] = partial
    return cls(message, **kw)
