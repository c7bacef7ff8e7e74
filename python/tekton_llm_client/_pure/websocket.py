"""The pure-Python WebSocket backend, on the `websockets` package.

Same interface and behaviour as the Rust `_core.WebSocketTransport` (see `src/py_ws.rs`): one
multiplexed socket, REGISTER/REGISTER_ACK within `connect_timeout`, routing by `request_id`,
keep-alive pings, reconnect with backoff and jitter, a message size limit, and events handed to
the facade in batches of tuples (their shapes are listed in `tekton_llm_client._backend_interface`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from .._backend_interface import (
    EV_CANCELLED,
    EV_CHUNK,
    EV_CLOSED,
    EV_CONNECTED,
    EV_ERROR,
    EV_MESSAGE,
    EV_REQUEST_FAILED,
    EV_RESPONSE,
)
from ..exceptions import error_from_kind, kind_for_error, kind_for_status
from ..models import StreamingChunk, Usage
from . import USER_AGENT
from .errors import Failure
from .tls import ssl_context
from .ws_connect import (
    EVENTS_QUEUED_LIMIT,
    MAX_UNANSWERED_PINGS,
    SEND_BACKLOG_LIMIT,
    RedactingLogger,
    bounded_connect,
    redirect_refused,
)
from .ws_frames import Malformed, bool_field, decode, field, int_value, str_field, usage_counts

__all__ = ["WebSocketTransport"]

# The logger the Rust core's lines go to, so both backends log alike.
logger = logging.getLogger("tekton_llm_client")

_FINISHED = -1
_PONG = '{"type":"PONG"}'


class WebSocketTransport:
    """One multiplexed, self-reconnecting socket to Rhetor's /ws (pure-Python backend)."""

    def __init__(
        self,
        url: str,
        component_id: str,
        *,
        auth_token: Optional[str] = None,
        capabilities: Optional[Sequence[str]] = None,
        connect_timeout: float = 10.0,
        reconnect: bool = True,
        reconnect_base_delay: float = 0.25,
        max_reconnect_delay: float = 30.0,
        ping_interval: float = 20.0,
        max_message_size: int = 16 * 1024 * 1024,
        emit_messages: bool = False,
        ca_bundle: Optional[str] = None,
    ) -> None:
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("reconnect_base_delay", reconnect_base_delay),
            ("max_reconnect_delay", max_reconnect_delay),
            ("ping_interval", ping_interval),
        ):
            if not value >= 0:
                raise ValueError(f"{name} must be a non-negative number of seconds")
        if max_message_size <= 0:
            raise ValueError("max_message_size must be positive")
        self._url = url
        self._component_id = component_id
        self._token = auth_token or None
        self._capabilities = list(capabilities) if capabilities is not None else ["generate", "stream", "chat"]
        self._connect_timeout = float(connect_timeout)
        self._reconnect = reconnect
        self._base_delay = float(reconnect_base_delay)
        self._max_delay = float(max_reconnect_delay)
        self._ping_interval = float(ping_interval)
        self._max_size = int(max_message_size)
        self._emit_messages = emit_messages
        self._ca_bundle = ca_bundle

        self._events: List[Tuple[Any, ...]] = []
        self._ready = asyncio.Event()
        # Set when the dispatcher takes events (or the client closes): a reader waiting for room.
        self._room = asyncio.Event()
        self._drained = False
        self._in_flight: Set[str] = set()
        self._outbound: Optional[asyncio.Queue[str]] = None
        # Bytes queued for the writer and not yet sent, and how many of the frames are PONGs.
        self._queued_bytes = 0
        self._pongs_queued = 0
        self._link_changed = asyncio.Event()
        self._ws: Any = None
        self._closed = False
        self._finished = False
        self._connecting = False
        self._shutdown = asyncio.Event()
        self._session_id: Optional[str] = None
        self._connections = 0
        self._task: Optional[asyncio.Task[None]] = None

    # -- the backend interface -------------------------------------------------------------

    async def connect(self) -> str:
        """Open and register the socket; returns the session id."""
        if self._closed:
            raise error_from_kind("connection", "the WebSocket client is closed")
        if self._connecting:
            raise error_from_kind("invalid_request", "connect() was already called")
        self._connecting = True
        try:
            ws, session_id, ack_text = await self._open()
        except Failure as failure:
            self._connecting = False
            raise failure.to_exception() from None
        except BaseException:
            self._connecting = False
            raise
        if not self._install(ws, session_id, ack_text):
            await ws.close()
            raise error_from_kind("connection", "the WebSocket client was closed while connecting")
        self._task = asyncio.get_running_loop().create_task(self._supervise(ws))
        return session_id

    async def send(self, request_id: str, frame: str) -> None:
        """Register `request_id` and queue its frame; waits up to connect_timeout for a socket."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._connect_timeout
        while True:
            if self._closed:
                raise error_from_kind("connection", "the WebSocket client is closed", request_id=request_id)
            if self._outbound is not None:
                if self._queued_bytes + len(frame) > SEND_BACKLOG_LIMIT:
                    raise error_from_kind(
                        "limit_exceeded",
                        f"request not sent: {self._queued_bytes} bytes are already waiting for Rhetor to read "
                        f"them, and this {len(frame)}-byte frame would pass the {SEND_BACKLOG_LIMIT}-byte "
                        "send backlog",
                        request_id=request_id,
                    )
                if request_id in self._in_flight:
                    raise error_from_kind("invalid_request", f"request id {request_id} is already in flight")
                self._in_flight.add(request_id)
                self._enqueue(self._outbound, frame)
                return
            remaining = deadline - loop.time()
            changed = self._link_changed
            try:
                if remaining <= 0:
                    raise asyncio.TimeoutError
                await asyncio.wait_for(changed.wait(), remaining)
            except asyncio.TimeoutError:
                raise error_from_kind(
                    "connection",
                    f"not connected to Rhetor at {self._url} (no socket within {self._connect_timeout:.1f}s)",
                    request_id=request_id,
                ) from None

    def cancel(self, request_id: str) -> bool:
        """Send CANCEL and end the request for the caller; False when it was not in flight."""
        if request_id not in self._in_flight:
            return False
        self._in_flight.discard(request_id)
        if self._outbound is not None:
            self._enqueue(self._outbound, json.dumps({"type": "CANCEL", "request_id": request_id}))
        self._emit((EV_CANCELLED, request_id))
        return True

    async def next_events(self, max: int = 4096) -> Optional[List[Tuple[Any, ...]]]:  # noqa: A002
        """Every ready event (at least one), or None once the client is finished."""
        while not self._events:
            if self._drained:
                return None
            self._ready.clear()
            await self._ready.wait()
        count = max if max > 0 else 1
        batch = self._events[:count]
        del self._events[:count]
        self._room.set()
        if batch[-1][0] == _FINISHED:
            self._drained = True
            batch.pop()
            if not batch:
                return None
        return batch

    async def close(self) -> None:
        """Close the socket; requests in flight fail with ConnectionError. Idempotent."""
        self._closed = True
        self._shutdown.set()
        self._room.set()
        ws = self._ws
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 2.0)
            except Exception:  # noqa: BLE001 - closing a dead socket is not an error
                pass
        task = self._task
        self._task = None
        if task is not None and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(task), 5.0)
            except asyncio.TimeoutError:
                logger.warning("WebSocket connection task did not stop within 5s")
                task.cancel()
            except Exception:  # noqa: BLE001 - its errors were already reported as events
                pass
        self._finish()

    @property
    def connected(self) -> bool:
        return self._outbound is not None

    @property
    def session_id(self) -> Optional[str]:
        return self._session_id

    @property
    def connection_count(self) -> int:
        return self._connections

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def __repr__(self) -> str:
        return (
            f"WebSocketTransport(url={self._url!r}, component_id={self._component_id!r}, "
            f"auth={'set' if self._token else 'none'}, connected={self.connected})"
        )

    # -- internals -------------------------------------------------------------------------

    def _emit(self, event: Tuple[Any, ...]) -> None:
        self._events.append(event)
        self._ready.set()

    def _enqueue(self, outbound: "asyncio.Queue[str]", frame: str) -> None:
        self._queued_bytes += len(frame)
        if frame is _PONG:
            self._pongs_queued += 1
        outbound.put_nowait(frame)

    def _bump_link(self) -> None:
        self._link_changed.set()
        self._link_changed = asyncio.Event()

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token and self._token in text else text

    def _error(self, kind: str, message: str, *, status: Optional[int] = None, code: Optional[str] = None) -> Failure:
        return Failure(kind, self._redact(message), None, status=status, code=code)

    async def _open(self) -> Tuple[Any, str, str]:
        """TCP + upgrade + REGISTER/REGISTER_ACK within connect_timeout."""
        from websockets.exceptions import InvalidStatus, InvalidURI

        ws_connect = bounded_connect()

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._connect_timeout
        headers = {"X-Tekton-Component": self._component_id}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        ping = self._ping_interval or None
        tls: Dict[str, Any] = {}
        if self._url.startswith("wss://"):
            tls["ssl"] = ssl_context(self._ca_bundle)  # as the HTTP path's (+ ca_bundle, SSL_CERT_FILE)
        try:
            ws = await asyncio.wait_for(
                ws_connect(
                    self._url,
                    additional_headers=headers,
                    user_agent_header=USER_AGENT,
                    max_size=self._max_size,
                    ping_interval=ping,
                    ping_timeout=ping,
                    open_timeout=None,
                    close_timeout=2,
                    compression=None,
                    proxy=None,
                    logger=RedactingLogger(self._token),
                    **tls,
                ),
                max(deadline - loop.time(), 0.0),
            )
        except asyncio.TimeoutError:
            raise self._error(
                "timeout", f"connecting to {self._url} timed out after {self._connect_timeout:.1f}s"
            ) from None
        except InvalidStatus as exc:
            status = exc.response.status_code
            if 300 <= status < 400:
                location = exc.response.headers.get("Location", "(no Location header)")
                raise self._error("connection", redirect_refused(self._url, status, location), status=status) from None
            kind = kind_for_status(status)
            what = (
                "Rhetor refused the auth token" if kind == "authentication" else "Rhetor refused the WebSocket upgrade"
            )
            raise self._error(kind, f"{what} at {self._url}", status=status) from None
        except InvalidURI as exc:
            raise self._error("invalid_request", f"bad WebSocket URL {self._url}: {exc}") from None
        except (OSError, Exception) as exc:  # noqa: BLE001 - refused, reset, DNS, bad handshake
            raise self._error("connection", f"cannot open a WebSocket to {self._url}: {exc}") from None
        register: Dict[str, Any] = {
            "type": "REGISTER",
            "component_id": self._component_id,
            "capabilities": self._capabilities,
        }
        if self._token:
            register["auth_token"] = self._token
        try:
            session_id, ack_text = await asyncio.wait_for(
                self._register(ws, json.dumps(register)), max(deadline - loop.time(), 0.0)
            )
        except asyncio.TimeoutError:
            await self._abort(ws)
            raise self._error(
                "timeout", f"no REGISTER_ACK from {self._url} within {self._connect_timeout:.1f}s"
            ) from None
        except BaseException:
            await self._abort(ws)
            raise
        return ws, session_id, ack_text

    @staticmethod
    async def _abort(ws: Any) -> None:
        try:
            await asyncio.wait_for(ws.close(), 1.0)
        except Exception:  # noqa: BLE001
            pass

    async def _register(self, ws: Any, register: str) -> Tuple[str, str]:
        from websockets.exceptions import ConnectionClosed

        try:
            await ws.send(register)
        except ConnectionClosed:
            pass  # a refusing server may have closed already: read its ERROR below
        while True:
            try:
                raw = await ws.recv()
            except ConnectionClosed as exc:
                rcvd = exc.rcvd
                code = rcvd.code if rcvd is not None else None
                reason = rcvd.reason if rcvd is not None else ""
                refused = code in (1008, 4001, 4003) or "auth" in reason.lower()
                raise self._error(
                    "authentication" if refused else "connection",
                    f"Rhetor closed the connection before REGISTER_ACK (code {code}: {reason})",
                ) from None
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError):
                obj = None
            kind = obj["type"].upper() if isinstance(obj, dict) and isinstance(obj.get("type"), str) else None
            if kind not in ("REGISTER_ACK", "ERROR", "PING", "PONG"):
                # Nothing else can precede REGISTER_ACK in v1 (no request has been sent): a server
                # that answers REGISTER otherwise (Gen A's RESPONSE envelope) does not speak v1's
                # /ws, and waiting out connect_timeout would not change that.
                what = f"a {kind} frame" if kind else "a frame v1 cannot read"
                raise self._error(
                    "protocol",
                    f"Rhetor answered REGISTER with {what}, not REGISTER_ACK: it does not speak protocol v1's /ws",
                )
            if kind == "REGISTER_ACK":
                return str_field(obj, "session_id", "sessionId") or "", text
            if kind == "ERROR":
                err_code = str_field(obj, "code", "code")
                err_kind = kind_for_error(err_code, int_value(obj.get("status")))
                message = str_field(obj, "error", "message") or "Rhetor reported an error without a message"
                prefix = (
                    "Rhetor refused the registration"
                    if err_kind == "authentication"
                    else "Rhetor answered REGISTER with an error"
                )
                raise self._error(err_kind, f"{prefix}: {message}", code=err_code)
            if kind == "PING":
                await ws.send(_PONG)

    def _install(self, ws: Any, session_id: str, ack_text: str) -> bool:
        if self._closed:
            return False
        self._ws = ws
        self._outbound = asyncio.Queue()
        self._queued_bytes = 0
        self._pongs_queued = 0
        self._session_id = session_id
        self._connections += 1
        if self._emit_messages:
            self._emit((EV_MESSAGE, ack_text))
        self._emit((EV_CONNECTED, session_id))
        self._bump_link()
        return True

    def _lose_link(self, kind: str, message: str) -> None:
        self._outbound = None
        self._ws = None
        request_kind = "limit_exceeded" if kind == "limit_exceeded" else "connection"
        for request_id in list(self._in_flight):
            self._emit((EV_REQUEST_FAILED, request_id, request_kind, message, None, None, None))
        self._in_flight.clear()
        self._emit((EV_CLOSED, message))
        self._bump_link()

    def _finish(self) -> None:
        self._closed = True
        self._outbound = None
        if self._finished:
            return
        self._finished = True
        for request_id in list(self._in_flight):
            self._emit(
                (EV_REQUEST_FAILED, request_id, "connection", "the WebSocket client is closed", None, None, None)
            )
        self._in_flight.clear()
        self._emit((_FINISHED,))
        self._bump_link()

    def _delay(self, attempt: int) -> float:
        backoff = min(self._base_delay * (2.0 ** min(attempt, 30)), self._max_delay)
        return backoff * (0.5 + 0.5 * random.random())

    async def _supervise(self, ws: Any) -> None:
        attempt = 0
        current: Any = ws
        try:
            while True:
                if current is not None:
                    by_user, kind, message, report = await self._run_session(current)
                    current = None
                    if by_user:
                        self._lose_link("connection", "the WebSocket client was closed")
                        break
                    logger.warning("WebSocket connection to Rhetor lost: %s", message)
                    if report:
                        self._emit((EV_ERROR, kind, message, None, None, None))
                    self._lose_link(kind, message)
                    attempt = 0
                if not self._reconnect or self._closed:
                    break
                delay = self._delay(attempt)
                attempt += 1
                try:
                    await asyncio.wait_for(self._shutdown.wait(), delay)
                    break
                except asyncio.TimeoutError:
                    pass
                try:
                    opened = await self._open_unless_shutdown()
                    if opened is None:
                        break
                    ws2, session_id, ack_text = opened
                except Failure as failure:
                    logger.warning("reconnect to Rhetor failed (attempt %d): %s", attempt, failure.message)
                    self._emit(
                        (
                            EV_ERROR,
                            failure.kind,
                            f"reconnect attempt {attempt} failed: {failure.message}",
                            failure.code,
                            failure.status,
                            None,
                        )
                    )
                    if failure.kind == "authentication":
                        break
                    continue
                if not self._install(ws2, session_id, ack_text):
                    await self._abort(ws2)
                    break
                logger.info("reconnected to Rhetor (session %s, attempt %d)", session_id, attempt)
                current = ws2
        finally:
            self._finish()

    async def _open_unless_shutdown(self) -> Optional[Tuple[Any, str, str]]:
        """`_open()`, abandoned (None) as soon as close() is called."""
        opening = asyncio.ensure_future(self._open())
        stopping = asyncio.ensure_future(self._shutdown.wait())
        try:
            await asyncio.wait({opening, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not opening.done():
            opening.cancel()
            try:
                await opening
            except BaseException:  # noqa: BLE001 - abandoned on purpose
                pass
            return None
        return opening.result()

    async def _run_session(self, ws: Any) -> Tuple[bool, str, str, bool]:
        """Read and route until the socket closes. Returns (by_user, kind, message, report)."""
        from websockets.exceptions import ConnectionClosed

        outbound = self._outbound
        writer = (
            asyncio.get_running_loop().create_task(self._write_loop(ws, outbound)) if outbound is not None else None
        )
        try:
            while True:
                # Not read while the dispatcher has EVENTS_QUEUED_LIMIT events to take.
                while len(self._events) >= EVENTS_QUEUED_LIMIT and not self._closed:
                    self._room.clear()
                    await self._room.wait()
                try:
                    raw = await ws.recv()
                except ConnectionClosed as exc:
                    return self._why_closed(exc, ws)
                if isinstance(raw, bytes):
                    try:
                        raw = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        self._report_malformed("a binary frame that is not UTF-8 text")
                        continue
                if self._handle_text(raw) and outbound is not None:
                    if self._pongs_queued >= MAX_UNANSWERED_PINGS:
                        return (
                            False,
                            "limit_exceeded",
                            f"Rhetor sent {self._pongs_queued + 1} pings without reading our answers "
                            f"(limit {MAX_UNANSWERED_PINGS}); the connection was closed",
                            True,
                        )
                    self._enqueue(outbound, _PONG)
        finally:
            if writer is not None:
                writer.cancel()

    def _why_closed(self, exc: Any, ws: Any) -> Tuple[bool, str, str, bool]:
        if self._closed:
            return True, "connection", "the WebSocket client was closed", False
        overflow = getattr(ws, "overflow", None)
        if overflow is not None:
            return False, "limit_exceeded", overflow, True
        sent, rcvd = exc.sent, exc.rcvd
        if rcvd is None and sent is not None and sent.code == 1009:
            return (
                False,
                "limit_exceeded",
                f"a WebSocket message from Rhetor exceeded max_message_size ({self._max_size} bytes); "
                "the connection was closed",
                True,
            )
        if rcvd is None and sent is not None and sent.code == 1011:
            return (
                False,
                "timeout",
                f"Rhetor did not answer a ping within {self._ping_interval:.1f}s: the connection is dead",
                True,
            )
        if rcvd is not None:
            if rcvd.reason:
                return (
                    False,
                    "connection",
                    f"Rhetor closed the WebSocket connection (code {rcvd.code}: {rcvd.reason})",
                    False,
                )
            return False, "connection", f"Rhetor closed the WebSocket connection (code {rcvd.code})", False
        return False, "connection", self._redact(f"WebSocket connection to Rhetor lost: {exc}"), True

    async def _write_loop(self, ws: Any, outbound: "asyncio.Queue[str]") -> None:
        try:
            while True:
                frame = await outbound.get()
                await ws.send(frame)
                self._queued_bytes -= len(frame)
                if frame is _PONG:
                    self._pongs_queued -= 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the reader sees the close and reports it
            logger.debug("WebSocket write failed: %s", exc)

    def _report_malformed(self, reason: str) -> None:
        logger.warning("malformed frame from Rhetor: %s", reason)
        self._emit((EV_ERROR, "protocol", f"malformed WebSocket frame from Rhetor: {reason}", None, None, None))

    def _handle_text(self, text: str) -> bool:
        """Decode and route one frame; True when the server asked for a PONG."""
        received_ns = time.monotonic_ns()
        try:
            obj = decode(text)
        except Malformed as exc:
            self._report_malformed(str(exc))
            return False
        if self._emit_messages:
            self._emit((EV_MESSAGE, text))
        kind = obj["type"].upper()
        if kind == "CHUNK":
            request_id = obj["_rid"]
            done = bool_field(obj, "done", "done")
            if request_id in self._in_flight:
                if done:
                    self._in_flight.discard(request_id)
                usage = usage_counts(obj)
                self._emit(
                    (
                        EV_CHUNK,
                        request_id,
                        StreamingChunk(
                            obj["_chunk"],
                            done,
                            None,
                            str_field(obj, "model", "model"),
                            str_field(obj, "provider", "provider"),
                            bool_field(obj, "fallback", "fallback"),
                            str_field(obj, "finish_reason", "finishReason"),
                            Usage(*usage) if usage else None,
                            str_field(obj, "context_id", "contextId"),
                            str_field(obj, "timestamp", "timestamp"),
                            received_ns,
                        ),
                    )
                )
            else:
                logger.debug("frame for request %s dropped: not in flight", request_id)
        elif kind == "RESPONSE":
            request_id = obj["_rid"]
            if request_id in self._in_flight:
                self._in_flight.discard(request_id)
                self._emit(
                    (
                        EV_RESPONSE,
                        request_id,
                        obj["_content"],
                        str_field(obj, "model", "model"),
                        str_field(obj, "provider", "provider"),
                        str_field(obj, "finish_reason", "finishReason"),
                        usage_counts(obj),
                        str_field(obj, "context_id", "contextId"),
                        bool_field(obj, "fallback", "fallback"),
                        str_field(obj, "timestamp", "timestamp"),
                    )
                )
            else:
                logger.debug("frame for request %s dropped: not in flight", request_id)
        elif kind == "ERROR":
            code = str_field(obj, "code", "code")
            status = int_value(field(obj, "status", "status"))
            status = status if status is not None and 0 <= status <= 65535 else None
            retry = field(obj, "retry_after", "retryAfter")
            retry_after = float(retry) if isinstance(retry, (int, float)) and not isinstance(retry, bool) else None
            message = str_field(obj, "error", "message") or "Rhetor reported an error without a message"
            err_kind = kind_for_error(code, status)
            request_id = str_field(obj, "request_id", "requestId")
            if request_id is None:
                logger.warning("Rhetor reported a session error: %s", message)
                self._emit((EV_ERROR, err_kind, message, code, status, retry_after))
            elif request_id in self._in_flight:
                self._in_flight.discard(request_id)
                self._emit((EV_REQUEST_FAILED, request_id, err_kind, message, code, status, retry_after))
            else:
                logger.debug("frame for request %s dropped: not in flight", request_id)
        elif kind == "PING":
            return True
        return False
