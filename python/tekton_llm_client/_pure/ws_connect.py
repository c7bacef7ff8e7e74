"""Opening the WebSocket: `websockets`' connect, refusing redirects, bounding what a peer that
does not read can make us buffer, and logging without the token."""

from __future__ import annotations

import logging
from typing import Any, Optional

__all__ = ["MAX_UNANSWERED_PINGS", "SEND_BACKLOG_LIMIT", "RedactingLogger", "bounded_connect", "redirect_refused"]

# Bytes waiting for Rhetor to read them, and pings it
# may send while reading none of our answers, before the socket is closed with LimitExceeded.
SEND_BACKLOG_LIMIT = 32 * 1024 * 1024
MAX_UNANSWERED_PINGS = 1024
# Events queued for the dispatcher and not taken, at most: the reader stops reading the socket
# there until some are taken (the server waits in TCP), as the Rust core's EVENTS_QUEUED_LIMIT.
EVENTS_QUEUED_LIMIT = 16_384


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The `websockets` library's logger for one connection: its DEBUG lines echo headers and
    frames (the token rides in both), so with a token they are dropped and other lines redacted."""

    def __init__(self, token: Optional[str]) -> None:
        super().__init__(logging.getLogger("websockets.client"), {})
        self._token = token

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        if self._token and level <= logging.DEBUG:
            return False
        return super().isEnabledFor(level)

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        token = self._token
        if token:
            text = str(msg) % args if args else str(msg)
            msg, args = text.replace(token, "***"), ()
        super().log(level, msg, *args, **kwargs)


def redirect_refused(url: str, status: int, location: str) -> str:
    return (
        f"Rhetor at {url} answered the WebSocket upgrade with a redirect ({status}) to {location}; "
        "redirects are not followed on the WebSocket upgrade (the auth token would go along): "
        "set ws_url to the new address if you trust it"
    )


def bounded_connect() -> Any:
    """`websockets`' connect, made to refuse redirects and to bound what a peer that does not
    read can make us buffer (pongs it is owed, our frames)."""
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.frames import Opcode

    class BoundedConnection(ClientConnection):
        # Why we aborted the socket (the reader reports it), else None.
        overflow: Optional[str] = None
        _pongs_owed = 0

        def process_event(self, event: Any) -> None:
            super().process_event(event)
            if getattr(event, "opcode", None) is not Opcode.PING:
                return
            # websockets wrote the pong before this; if it is still buffered, the peer is not
            # reading.
            self._pongs_owed = self._pongs_owed + 1 if self.transport.get_write_buffer_size() else 0
            if self._pongs_owed > MAX_UNANSWERED_PINGS:
                self._abort(
                    f"Rhetor sent {self._pongs_owed} pings without reading our answers "
                    f"(limit {MAX_UNANSWERED_PINGS}); the connection was closed"
                )

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.transport.get_write_buffer_size() > SEND_BACKLOG_LIMIT:
                self._abort(
                    f"Rhetor is not reading: over {SEND_BACKLOG_LIMIT} bytes wait to be sent; the connection was closed"
                )

        def _abort(self, reason: str) -> None:
            if self.overflow is None:
                self.overflow = reason
                self.transport.abort()

    class NoRedirectConnect(connect):
        def process_redirect(self, exc: Exception) -> Exception:
            return exc  # never followed: REGISTER would carry the token to wherever it points

    def open_socket(*args: Any, **kwargs: Any) -> Any:
        return NoRedirectConnect(*args, create_connection=BoundedConnection, **kwargs)

    return open_socket
