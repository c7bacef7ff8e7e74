"""`TektonLLMWebSocketClient`: many LLM requests over one WebSocket to Rhetor's `/ws`.

    ws_client = TektonLLMWebSocketClient(component_id="my-component", on_error=print)
    await ws_client.connect()
    request_id = await ws_client.generate(prompt="Hello", callback=handle_chunk)
    answer = await ws_client.wait(request_id)          # CompletionResponse of the whole stream
    answer = await ws_client.complete(prompt="Hello")   # one whole answer, no streaming
    await ws_client.disconnect()

The socket, its handshake, keep-alive, routing and reconnects live in the backend (Rust
`_core.WebSocketTransport`, or `_pure.websocket.WebSocketTransport` when
TEKTON_LLM_BACKEND=python). The backend hands this module *batches* of events as tuples (chunks
already as `StreamingChunk` objects, built by the backend); one dispatcher task per connection
routes them and calls the callbacks, on the event loop's thread.
See docs/websocket.md for the full behaviour.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import _backend, config
from ._ws_events import (
    EV_CANCELLED,
    EV_CHUNK,
    EV_CLOSED,
    EV_CONNECTED,
    EV_ERROR,
    EV_MESSAGE,
    EV_REQUEST_FAILED,
    EV_RESPONSE,
)
from .exceptions import ConnectionError, TimeoutError, error_from_kind
from .models import CompletionResponse, Message, MessageLike, StreamingChunk, Usage

__all__ = ["TektonLLMWebSocketClient"]

logger = logging.getLogger("tekton_llm_client.websocket")

ChunkCallback = Callable[[StreamingChunk], Union[None, Awaitable[None]]]
MessageCallback = Callable[[Dict[str, Any]], Any]
ErrorCallback = Callable[[BaseException], Any]
CloseCallback = Callable[[], Any]

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
_FINISHED_KEPT = 1024  # finished requests remembered for a late wait()


class _Request:
    """One request in flight, as the dispatcher sees it."""

    __slots__ = ("request_id", "callback", "parts", "waiters", "outcome", "model", "provider")

    def __init__(self, request_id: str, callback: Optional[ChunkCallback]) -> None:
        self.request_id = request_id
        self.callback = callback
        self.parts: List[str] = []
        self.waiters: List["asyncio.Future[None]"] = []
        self.outcome: Union[CompletionResponse, BaseException, None] = None
        self.model: Optional[str] = None
        self.provider: Optional[str] = None


class TektonLLMWebSocketClient:
    """A WebSocket client for Rhetor: streams (`generate`, `chat`) and whole answers (`complete`,
    `complete_chat`) multiplexed over one socket that reconnects by itself.

    Settings (an explicit argument wins over the environment):
    `ws_url` / RHETOR_WS_URL, else the base URL (`rhetor_url` / RHETOR_URL, default
    http://localhost:8003) with http→ws, https→wss and `/ws` appended; `auth_token` /
    RHETOR_AUTH_TOKEN, sent as `Authorization: Bearer` on the upgrade and in REGISTER.

    Callbacks may be plain functions or coroutine functions:
    `on_message(dict)` gets every decoded server message (REGISTER_ACK, CHUNK, RESPONSE, ERROR,
    PING, …), `on_error(exc)` every error not raised to a caller (malformed frames, session
    errors, a lost socket, failed reconnects, exceptions raised by callbacks), `on_close()` each
    time the socket closes.
    """

    def __init__(
        self,
        component_id: str,
        rhetor_url: Optional[str] = None,
        on_message: Optional[MessageCallback] = None,
        on_error: Optional[ErrorCallback] = None,
        on_close: Optional[CloseCallback] = None,
        auth_token: Optional[str] = None,
        ws_url: Optional[str] = None,
        connect_timeout: float = 10.0,
        reconnect: bool = True,
        max_reconnect_delay: float = 30.0,
        backend: Optional[str] = None,
        *,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        context_id: Optional[str] = None,
        ping_interval: float = 20.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        reconnect_base_delay: float = 0.25,
        capabilities: Sequence[str] = ("generate", "stream", "chat"),
        ca_bundle: Optional[str] = None,
    ) -> None:
        if not component_id:
            raise ValueError("component_id is required")
        connect_timeout = config.check_number("connect_timeout", connect_timeout)
        max_reconnect_delay = config.check_number("max_reconnect_delay", max_reconnect_delay)
        reconnect_base_delay = config.check_number("reconnect_base_delay", reconnect_base_delay)
        ping_interval = config.check_number("ping_interval", ping_interval)
        max_message_size = config.check_number("max_message_size", max_message_size)
        self.component_id = component_id
        self.ws_url = config.ws_url(ws_url, rhetor_url)  # checked: scheme, host, port, no credentials
        self._auth_token = config.optional_setting(auth_token, "RHETOR_AUTH_TOKEN")
        self.provider_id = config.optional_setting(provider_id, "RHETOR_DEFAULT_PROVIDER")
        self.model_id = config.optional_setting(model_id, "RHETOR_DEFAULT_MODEL")
        self.context_id = context_id or component_id
        self.on_message = on_message
        self.on_error = on_error
        self.on_close = on_close
        self.connect_timeout = float(connect_timeout)
        self.reconnect = reconnect
        self.max_reconnect_delay = float(max_reconnect_delay)
        self.reconnect_base_delay = float(reconnect_base_delay)
        self.ping_interval = float(ping_interval)
        self.max_message_size = int(max_message_size)
        self.capabilities = list(capabilities)
        self.ca_bundle = ca_bundle  # extra CAs (PEM) for wss://, on top of the system's
        self.backend = _backend.backend_name(backend)

        self._transport: Any = None
        self._pump_task: Optional["asyncio.Task[None]"] = None
        self._connect_lock: Optional[asyncio.Lock] = None
        self._requests: Dict[str, _Request] = {}
        self._finished: "OrderedDict[str, _Request]" = OrderedDict()
        self._session_id: Optional[str] = None

    # -- connection ------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the socket and register (REGISTER → REGISTER_ACK). Does nothing when connected.

        Raises AuthenticationError when Rhetor refuses the token, TimeoutError when no
        REGISTER_ACK arrives within `connect_timeout`, ConnectionError when Rhetor is unreachable,
        ProtocolError naming the server when it is an older Rhetor that does not speak v1's `/ws`.
        """
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._transport is not None:
                return
            transport = self._new_transport()
            # An older Rhetor (Gen A / Gen B) fails the v1 handshake confusingly: say which
            # server it is and what to use instead — all within connect_timeout.
            from .dialects.ws_guard import connect_within

            self._session_id = await connect_within(
                transport.connect(),
                self.ws_url,
                self.component_id,
                self.backend,
                self._auth_token,
                self.connect_timeout,
            )
            self._transport = transport
            self._pump_task = asyncio.get_running_loop().create_task(
                self._dispatch(transport), name=f"tekton-ws-dispatch-{self.component_id}"
            )

    async def disconnect(self) -> None:
        """Close the socket. Requests still in flight end with ConnectionError (their callbacks get
        an error chunk); `on_close` fires. The client may `connect()` again afterwards."""
        transport, pump = self._transport, self._pump_task
        if transport is None:
            return
        await transport.close()
        if pump is not None and pump is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(pump), 10.0)
            except asyncio.TimeoutError:
                logger.warning("WebSocket dispatcher did not finish within 10s; cancelling it")
                pump.cancel()
        self._detach(transport)

    close = disconnect

    async def __aenter__(self) -> "TektonLLMWebSocketClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.disconnect()

    @property
    def connected(self) -> bool:
        """True while a registered socket is up (False during a reconnect)."""
        return self._transport is not None and bool(self._transport.connected)

    @property
    def session_id(self) -> Optional[str]:
        """The session id from the latest REGISTER_ACK."""
        return self._session_id

    @property
    def connection_count(self) -> int:
        """Sockets registered by the current connection: 1, plus one per reconnect."""
        return int(self._transport.connection_count) if self._transport is not None else 0

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet finished."""
        return len(self._requests)

    def __repr__(self) -> str:
        return (
            f"TektonLLMWebSocketClient(component_id={self.component_id!r}, ws_url={self.ws_url!r}, "
            f"backend={self.backend!r}, auth={'set' if self._auth_token else 'none'}, "
            f"connected={self.connected})"
        )

    # -- requests --------------------------------------------------------------------------

    async def generate(
        self,
        prompt: str,
        callback: Optional[ChunkCallback] = None,
        system_prompt: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        context_id: Optional[str] = None,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
    ) -> str:
        """Stream an answer to `prompt` (STREAM). Returns the request id as soon as the request is
        sent; `callback` then gets each `StreamingChunk`, the last with `done=True` (and `error`
        set if the request failed). `await wait(request_id)` gives the whole answer."""
        frame = self._frame(
            "STREAM",
            prompt=prompt,
            system_prompt=system_prompt,
            options=options,
            context_id=context_id,
            provider_id=provider_id,
            model_id=model_id,
        )
        return await self._start(frame, callback)

    async def chat(
        self,
        messages: Sequence[MessageLike],
        callback: Optional[ChunkCallback] = None,
        system_prompt: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        context_id: Optional[str] = None,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
    ) -> str:
        """Stream a chat answer (CHAT_STREAM); like `generate`, for a list of messages."""
        frame = self._frame(
            "CHAT_STREAM",
            messages=messages,
            system_prompt=system_prompt,
            options=options,
            context_id=context_id,
            provider_id=provider_id,
            model_id=model_id,
        )
        return await self._start(frame, callback)

    async def complete(
        self,
        prompt: str,
        system_prompt: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        context_id: Optional[str] = None,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> CompletionResponse:
        """One whole answer to `prompt` (GENERATE). After `timeout` seconds the request is
        cancelled and TimeoutError raised."""
        frame = self._frame(
            "GENERATE",
            prompt=prompt,
            system_prompt=system_prompt,
            options=options,
            context_id=context_id,
            provider_id=provider_id,
            model_id=model_id,
        )
        request_id = await self._start(frame, None)
        return await self._wait(request_id, timeout, cancel_on_timeout=True)

    async def complete_chat(
        self,
        messages: Sequence[MessageLike],
        system_prompt: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        context_id: Optional[str] = None,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> CompletionResponse:
        """One whole chat answer (CHAT)."""
        frame = self._frame(
            "CHAT",
            messages=messages,
            system_prompt=system_prompt,
            options=options,
            context_id=context_id,
            provider_id=provider_id,
            model_id=model_id,
        )
        request_id = await self._start(frame, None)
        return await self._wait(request_id, timeout, cancel_on_timeout=True)

    async def wait(self, request_id: str, timeout: Optional[float] = None) -> CompletionResponse:
        """Wait for a request to finish and return its whole answer (for a stream: the chunks
        joined, with the last chunk's finish_reason and usage). A failed request raises its error
        (ConnectionError when the socket closed mid-answer; StreamInterruptedError, a
        ConnectionError, when text had already arrived). A cancelled one returns with
        `finish_reason="cancelled"`. A `timeout` raises TimeoutError and leaves the request
        running. Raises KeyError for an id this client does not know (or no longer remembers: the
        last 1024 finished requests are kept)."""
        return await self._wait(request_id, timeout, cancel_on_timeout=False)

    async def cancel(self, request_id: str) -> bool:
        """Cancel a request: CANCEL goes to Rhetor and the request ends at once — its callback gets
        a last chunk with `done=True, finish_reason="cancelled"` and `wait()` returns with that
        finish_reason. Anything Rhetor still sends for it is dropped. False when the request had
        already finished."""
        transport = self._transport
        if transport is None or request_id not in self._requests:
            return False
        return bool(transport.cancel(request_id))

    # -- internals -------------------------------------------------------------------------

    def _new_transport(self) -> Any:
        kwargs: Dict[str, Any] = dict(
            auth_token=self._auth_token,
            capabilities=self.capabilities,
            connect_timeout=self.connect_timeout,
            reconnect=self.reconnect,
            reconnect_base_delay=self.reconnect_base_delay,
            max_reconnect_delay=self.max_reconnect_delay,
            ping_interval=self.ping_interval,
            max_message_size=self.max_message_size,
            emit_messages=self.on_message is not None,
        )
        if self.ca_bundle is not None:
            kwargs["ca_bundle"] = self.ca_bundle
        if self.backend == "rust":
            return _backend.require_native().WebSocketTransport(self.ws_url, self.component_id, **kwargs)
        from ._pure.websocket import WebSocketTransport

        return WebSocketTransport(self.ws_url, self.component_id, **kwargs)

    def _frame(
        self,
        frame_type: str,
        *,
        prompt: Optional[str] = None,
        messages: Optional[Sequence[MessageLike]] = None,
        system_prompt: Optional[str],
        options: Optional[Mapping[str, Any]],
        context_id: Optional[str],
        provider_id: Optional[str],
        model_id: Optional[str],
    ) -> Dict[str, Any]:
        frame: Dict[str, Any] = {
            "type": frame_type,
            "request_id": "",
            "context_id": context_id or self.context_id,
            "component_id": self.component_id,
        }
        if prompt is not None:
            if not isinstance(prompt, str):
                raise TypeError("prompt must be a str")
            frame["prompt"] = prompt
        if messages is not None:
            frame["messages"] = [_message_dict(m) for m in messages]
        if system_prompt is not None:
            frame["system_prompt"] = system_prompt
        provider = provider_id or self.provider_id
        if provider:
            frame["provider_id"] = provider
        model = model_id or self.model_id
        if model:
            frame["model_id"] = model
        frame["options"] = dict(options) if options else {}
        return frame

    async def _start(self, frame: Dict[str, Any], callback: Optional[ChunkCallback]) -> str:
        if self._transport is None:
            await self.connect()
        transport = self._transport
        request_id = uuid.uuid4().hex
        frame["request_id"] = request_id
        text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        self._requests[request_id] = _Request(request_id, callback)
        try:
            await transport.send(request_id, text)
        except BaseException:
            self._requests.pop(request_id, None)
            raise
        return request_id

    async def _wait(self, request_id: str, timeout: Optional[float], *, cancel_on_timeout: bool) -> CompletionResponse:
        request = self._requests.get(request_id) or self._finished.get(request_id)
        if request is None:
            raise KeyError(f"unknown request id {request_id!r}")
        if request.outcome is None:
            # Waiters are woken with None; the outcome (answer or error) is on the request, so no
            # future ever holds an exception nobody retrieves.
            future: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
            request.waiters.append(future)
            if timeout is None:
                await future
                done = True
            else:
                done = bool((await asyncio.wait({future}, timeout=timeout))[0])
            if not done:
                future.cancel()
                if cancel_on_timeout and self._transport is not None:
                    self._transport.cancel(request_id)
                raise TimeoutError(f"no answer within {timeout}s", request_id=request_id)
        outcome = request.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is None:  # pragma: no cover - waiters are only woken with an outcome
            raise ConnectionError("the request ended without an answer", request_id=request_id)
        return outcome

    def _detach(self, transport: Any) -> None:
        if self._transport is transport:
            self._transport = None
            self._pump_task = None

    def _settle(self, request: _Request, outcome: Union[CompletionResponse, BaseException]) -> None:
        request.outcome = outcome
        self._requests.pop(request.request_id, None)
        self._finished[request.request_id] = request
        if len(self._finished) > _FINISHED_KEPT:
            self._finished.popitem(last=False)
        for future in request.waiters:
            if not future.done():
                future.set_result(None)
        request.waiters.clear()

    async def _dispatch(self, transport: Any) -> None:
        """The one consumer of the backend's events, for the life of one connection."""
        requests = self._requests
        try:
            while True:
                batch = await transport.next_events()
                if batch is None:
                    break
                for event in batch:
                    try:
                        if event[0] == EV_CHUNK:
                            # The hot path: kept inline and small.
                            request = requests.get(event[1])
                            if request is None:
                                continue
                            chunk = event[2]
                            text = chunk.chunk
                            if text:
                                request.parts.append(text)
                            if request.model is None and chunk.model is not None:
                                request.model, request.provider = chunk.model, chunk.provider
                            callback = request.callback
                            if callback is not None:
                                try:
                                    result = callback(chunk)
                                    if result is not None and inspect.isawaitable(result):
                                        await result
                                except Exception as exc:  # noqa: BLE001 - reported, socket lives on
                                    await self._callback_failed("chunk callback", exc, request.request_id)
                            if chunk.done:
                                self._settle(
                                    request,
                                    CompletionResponse(
                                        "".join(request.parts),
                                        chunk.model or request.model or "",
                                        chunk.provider or request.provider or "",
                                        chunk.finish_reason,
                                        chunk.usage,
                                        chunk.context_id,
                                        chunk.fallback,
                                        chunk.timestamp,
                                        None,
                                        request.request_id,
                                    ),
                                )
                        else:
                            await self._on_event(event)
                    except Exception:  # noqa: BLE001 - a bug here must not stop the dispatcher
                        logger.exception("error while dispatching a WebSocket event")
        finally:
            # The backend has failed every request it knew; anything left never reached it.
            for request in list(requests.values()):
                self._settle(request, ConnectionError("the WebSocket client is closed", request_id=request.request_id))
            self._detach(transport)

    async def _on_event(self, event: Sequence[Any]) -> None:
        tag = event[0]
        if tag == EV_RESPONSE:
            (_, request_id, content, model, provider, finish_reason, usage, context_id, fallback, timestamp) = event
            request = self._requests.get(request_id)
            if request is not None:
                self._settle(
                    request,
                    CompletionResponse(
                        content,
                        model or "",
                        provider or "",
                        finish_reason,
                        Usage(*usage) if usage else None,
                        context_id,
                        fallback,
                        timestamp,
                        None,
                        request_id,
                    ),
                )
        elif tag == EV_REQUEST_FAILED:
            _, request_id, kind, message, code, status, retry_after = event
            request = self._requests.get(request_id)
            if request is None:
                return
            partial = "".join(request.parts)
            if kind == "connection" and partial:
                kind = "stream_interrupted"
            error = error_from_kind(
                kind,
                message,
                status_code=status,
                request_id=request_id,
                code=code,
                retry_after=retry_after,
                partial=partial,
            )
            await self._final_chunk(
                request, StreamingChunk("", True, message, request.model, request.provider, False, "error")
            )
            self._settle(request, error)
        elif tag == EV_CANCELLED:
            request = self._requests.get(event[1])
            if request is None:
                return
            await self._final_chunk(
                request, StreamingChunk("", True, None, request.model, request.provider, False, "cancelled")
            )
            self._settle(
                request,
                CompletionResponse(
                    "".join(request.parts),
                    request.model or "",
                    request.provider or "",
                    "cancelled",
                    request_id=request.request_id,
                ),
            )
        elif tag == EV_MESSAGE:
            if self.on_message is not None:
                try:
                    message = json.loads(event[1])
                    await _call(self.on_message, message)
                except Exception as exc:  # noqa: BLE001
                    await self._callback_failed("on_message", exc, None)
        elif tag == EV_ERROR:
            _, kind, message, code, status, retry_after = event
            error = error_from_kind(kind, message, status_code=status, code=code, retry_after=retry_after)
            logger.debug("WebSocket error for on_error: %s", error)  # the backend logged it
            await self._report(error)
        elif tag == EV_CONNECTED:
            self._session_id = event[1]
            logger.info("WebSocket registered with Rhetor (session %s)", event[1])
        elif tag == EV_CLOSED:
            logger.info("WebSocket closed: %s", event[1])
            if self.on_close is not None:
                try:
                    await _call(self.on_close)
                except Exception as exc:  # noqa: BLE001
                    await self._callback_failed("on_close", exc, None)

    async def _final_chunk(self, request: _Request, chunk: StreamingChunk) -> None:
        if request.callback is None:
            return
        try:
            await _call(request.callback, chunk)
        except Exception as exc:  # noqa: BLE001
            await self._callback_failed("chunk callback", exc, request.request_id)

    async def _callback_failed(self, where: str, exc: Exception, request_id: Optional[str]) -> None:
        logger.error("%s raised%s: %r", where, f" (request {request_id})" if request_id else "", exc, exc_info=exc)
        await self._report(exc)

    async def _report(self, error: BaseException) -> None:
        if self.on_error is None:
            return
        try:
            await _call(self.on_error, error)
        except Exception:  # noqa: BLE001 - nowhere left to report it
            logger.exception("on_error raised")


async def _call(fn: Callable[..., Any], *args: Any) -> None:
    """Call a plain or coroutine function, awaiting what it returns when that is awaitable."""
    result = fn(*args)
    if result is not None and inspect.isawaitable(result):
        await result


def _message_dict(m: MessageLike) -> Dict[str, Any]:
    if isinstance(m, Message):
        return m.to_dict()
    if isinstance(m, Mapping):
        if "role" not in m or "content" not in m:
            raise ValueError(f"a message needs 'role' and 'content': {dict(m)!r}")
        return dict(m)
    raise TypeError(f"a message is a Message or a mapping, not {type(m).__name__}")
