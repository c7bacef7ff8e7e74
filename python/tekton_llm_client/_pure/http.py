"""`HttpClient`: the pure-Python backend of `TektonLLMClient`'s HTTP calls, on our own HTTP/1.1
(`h1/`) or httpx (`httpx_transport.py`, for https:// and proxies).

It behaves as the Rust backend (`_core.HttpClient`) does: the same headers and request fields,
status → exception mapping, retries with backoff and Retry-After, per-attempt timeouts, size
limits and redirect rules. Streams are in `stream.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, Iterable, Mapping, Optional, Sequence, Set, Tuple, TypeVar

import httpx

from .. import config
from ..exceptions import TektonLLMError, error_from_kind
from ..models import CompletionResponse
from . import USER_AGENT, exchange
from .aio import in_loop, within
from .answer import Answer, Transport
from .errors import Failure, closed_failure, internal_failure
from .h1 import Http1
from .httpx_transport import HttpxTransport
from .responses import completion_fields
from .retry import delay_before_retry
from .stream import PureChunkStream
from .tls import ssl_context

__all__ = ["HttpClient", "PureChunkStream"]

logger = logging.getLogger("tekton_llm_client")

T = TypeVar("T")

_HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name or a method (RFC 9110)


if sys.version_info >= (3, 11):

    def _cancel_requests(task: "asyncio.Task[Any]") -> int:
        return task.cancelling()
else:  # pragma: no cover - Python 3.10 cannot tell: close() is taken to be the only one

    def _cancel_requests(task: "asyncio.Task[Any]") -> int:
        return 1


def _seconds(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(v).__name__}")
    if not 0.0 < float(v) < float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {v}")
    return float(v)


def _count(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    if v < 0:
        raise OverflowError(f"{name} must not be negative, got {v}")
    return v


def _header_value(v: Any) -> str:
    """`v` when HTTP allows it as a header value (no control characters but tab)."""
    if not isinstance(v, str) or any((c < " " and c != "\t") or c == "\x7f" for c in v):
        raise error_from_kind("invalid_request", "header value has characters HTTP does not allow")
    return v


def _opt_str(name: str, v: Any) -> Optional[str]:
    if v is not None and not isinstance(v, str):
        raise TypeError(f"{name} must be a str or None, not {type(v).__name__}")
    return v


def _json_default(o: Any) -> Any:
    to_dict = getattr(o, "to_dict", None)  # Message and the other models
    if to_dict is not None:
        return to_dict()
    raise TypeError(f"object of type {type(o).__name__} cannot be sent as JSON")


# compact; NaN and infinities are refused: they are not JSON
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default)


def _to_json(value: Any) -> bytes:
    return _JSON.encode(value).encode("utf-8")


class HttpClient:
    """The pure-Python `HttpClient` (the interface of `tekton_llm_client._core.HttpClient`)."""

    def __init__(
        self,
        base_url: str,
        component_id: str,
        *,
        auth_token: Optional[str] = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        stream_idle_timeout: Optional[float] = None,
        max_retries: int = 3,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 60.0,
        pool_max_idle_per_host: int = 100,
        max_response_bytes: int = 64 << 20,
        max_event_bytes: int = 8 << 20,
        headers: Optional[Iterable[Tuple[str, str]]] = None,
        ca_bundle: Optional[str] = None,
    ) -> None:
        if not isinstance(base_url, str):
            raise TypeError(f"base_url must be a str, not {type(base_url).__name__}")
        if not isinstance(component_id, str):
            raise TypeError(f"component_id must be a str, not {type(component_id).__name__}")
        config.check_url(base_url, ("http", "https"), "Rhetor URL")
        if isinstance(max_retry_after, bool) or not isinstance(max_retry_after, (int, float)):
            raise TypeError("max_retry_after must be a number of seconds")
        self._base_url = base_url
        self._component_id = component_id
        self._token = auth_token or None  # for `redact`
        self._auth = auth_token is not None
        self._timeout = _seconds("timeout", timeout)
        self._connect_timeout = _seconds("connect_timeout", connect_timeout)
        self.stream_idle_timeout = (
            self._timeout if stream_idle_timeout is None else _seconds("stream_idle_timeout", stream_idle_timeout)
        )
        self._max_retries = _count("max_retries", max_retries)
        self._backoff_initial = _seconds("backoff_initial", backoff_initial)
        self._backoff_max = _seconds("backoff_max", backoff_max)
        self._max_retry_after = max(float(max_retry_after), 0.0)
        pool_max_idle = _count("pool_max_idle_per_host", pool_max_idle_per_host)
        self._max_response_bytes = _count("max_response_bytes", max_response_bytes)
        self.max_event_bytes = _count("max_event_bytes", max_event_bytes)
        default_headers = self._default_headers(component_id, auth_token, headers)
        self._transport: Transport = Http1.for_url(
            base_url, default_headers.raw, self._connect_timeout, pool_max_idle
        ) or HttpxTransport(default_headers, ssl_context(ca_bundle), self._connect_timeout, pool_max_idle)
        self._stream_url = base_url.rstrip("/") + "/api/v1/chat/stream"
        self._closed = False
        self._tasks: Set["asyncio.Task[Any]"] = set()  # calls and stream readers, for close()

    @staticmethod
    def _default_headers(
        component_id: str, auth_token: Optional[str], extra: Optional[Iterable[Tuple[str, str]]]
    ) -> httpx.Headers:
        headers = httpx.Headers(
            {
                "accept": "*/*",
                "user-agent": USER_AGENT,
                "content-type": "application/json",
                "x-tekton-component": _header_value(component_id),
            }
        )
        if auth_token is not None:
            try:
                headers["authorization"] = _header_value(f"Bearer {auth_token}")
            except TektonLLMError:
                raise error_from_kind("invalid_request", "auth token is not a valid header value") from None
        for name, value in extra or ():
            if not isinstance(name, str) or not _HTTP_TOKEN.fullmatch(name):
                raise error_from_kind("invalid_request", f"invalid header name {name!r}")
            headers[name] = _header_value(value)
        return headers

    # -- the interface (as _core.pyi's HttpClient) -----------------------------------------------

    def chat(
        self,
        messages: Sequence[Any],
        *,
        system_prompt: Optional[str] = None,
        context_id: str = "",
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        request_id: Optional[str] = None,
    ) -> "asyncio.Task[CompletionResponse]":
        """Awaitable → CompletionResponse (POST /api/v1/chat, with retries)."""
        body = self._chat_body(messages, system_prompt, context_id, provider_id, model_id, options, False)
        rid = str(uuid.uuid4()) if request_id is None else request_id
        return self._spawn(self._chat, body, rid)

    def stream_chat(
        self,
        messages: Sequence[Any],
        *,
        system_prompt: Optional[str] = None,
        context_id: str = "",
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        request_id: Optional[str] = None,
    ) -> PureChunkStream:
        """Start a streamed chat (POST /api/v1/chat/stream); nothing is sent until the first
        `next_batch()`."""
        body = self._chat_body(messages, system_prompt, context_id, provider_id, model_id, options, True)
        rid = str(uuid.uuid4()) if request_id is None else request_id
        return PureChunkStream(self, self._stream_url, body, rid)

    def get_json(self, path: str, request_id: Optional[str] = None) -> "asyncio.Task[Any]":
        """Awaitable → the decoded JSON document at `path` (health, providers)."""
        return self.request_json("GET", path, None, request_id)

    def request_json(
        self, method: str, path: str, body: Any = None, request_id: Optional[str] = None
    ) -> "asyncio.Task[Any]":
        """Awaitable → the decoded JSON answer of `method path` with an optional JSON `body`
        (retries, status mapping and limits as for chat). The older dialects use this."""
        if not isinstance(method, str) or not _HTTP_TOKEN.fullmatch(method):
            raise ValueError(f"invalid HTTP method {method!r}")
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {type(path).__name__}")
        raw = None if body is None else _to_json(body)
        rid = str(uuid.uuid4()) if request_id is None else request_id
        return self._spawn(self._request_json, method, path, raw, rid)

    async def preconnect(self, count: int) -> int:
        """Open up to `count` connections ahead, so the next requests do not each pay a connect
        (no more than the pool keeps; none on https:// or through a proxy). How many were opened;
        ConnectionError only when none could be."""
        n = _count("count", count)
        if self._closed:
            raise closed_failure(None).to_exception()
        try:
            return await self._transport.preconnect(n)
        except Failure as f:
            raise f.to_exception() from None

    def redact(self, text: str) -> str:
        """`text` with the auth token blanked out: servers may echo what we sent (a 401 body
        repeating the Authorization header), and their messages are shown to the caller."""
        token = self._token
        return text.replace(token, "***") if token and token in text else text

    def close(self) -> None:
        """Stop every call and stream of this client (they end with ConnectionError "the client was
        shut down") and release its connections. Callable from any thread."""
        if self._closed:
            return
        self._closed = True
        for task in _snapshot(self._tasks):
            if not task.done():
                in_loop(task.get_loop(), task.cancel)
        self._transport.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        # The auth token is never shown.
        return (
            f"HttpClient(base_url={self._base_url!r}, component_id={self._component_id!r}, "
            f"auth={'set' if self._auth else 'none'})"
        )

    # -- calls -----------------------------------------------------------------------------------

    def _chat_body(
        self,
        messages: Any,
        system_prompt: Any,
        context_id: Any,
        provider_id: Any,
        model_id: Any,
        options: Any,
        streaming: bool,
    ) -> bytes:
        """The v1 request body; provider_id, model_id and system_prompt only when given."""
        if not isinstance(messages, (list, tuple)):
            raise ValueError("messages must be a list")
        if not isinstance(context_id, str):
            raise TypeError(f"context_id must be a str, not {type(context_id).__name__}")
        if options is None:
            options = {}
        elif hasattr(options, "to_dict") and not isinstance(options, Mapping):
            options = options.to_dict()
        if not isinstance(options, Mapping):
            raise TypeError("options must be a dict")
        body: Dict[str, Any] = {"messages": messages, "context_id": context_id, "component_id": self._component_id}
        for name, value in (("provider_id", provider_id), ("model_id", model_id), ("system_prompt", system_prompt)):
            if _opt_str(name, value) is not None:
                body[name] = value
        body["streaming"] = streaming
        body["options"] = options if isinstance(options, dict) else dict(options)
        return _to_json(body)

    def _spawn(self, work: Callable[..., Awaitable[T]], *args: Any) -> "asyncio.Task[T]":
        """Run a call as a task (as the Rust binding runs its future): it starts now, `close()` can
        stop it, and cancelling whoever awaits it cancels the request. The last arg is the request id."""
        loop = asyncio.get_running_loop()  # RuntimeError outside a loop, as the Rust binding
        # The coroutine is made inside the guard: a task cancelled before it starts then leaves no
        # never-awaited coroutine behind.
        task = loop.create_task(self._guard(work, args))
        self._tasks.add(task)
        task.add_done_callback(self._call_done)
        return task

    def track(self, task: "asyncio.Task[Any]") -> None:
        """Let `close()` stop `task` (a stream's reader)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, work: Callable[..., Awaitable[T]], args: Tuple[Any, ...]) -> T:
        request_id = args[-1]
        try:
            if self._closed:
                raise closed_failure(request_id)
            return await work(*args)
        except Failure as f:
            raise f.to_exception() from None
        except asyncio.CancelledError:
            # close() cancelled the call: its caller gets ConnectionError. A call cancelled by
            # anyone else as well (its awaiter, asyncio.run's teardown) ends cancelled: an error
            # there would reach nobody and be reported as an unhandled exception.
            task = asyncio.current_task()
            if self._closed and task is not None and _cancel_requests(task) <= 1:
                raise closed_failure(request_id).to_exception() from None
            raise
        except TektonLLMError:
            raise
        except Exception as e:
            logger.exception("request %s: unexpected error", request_id)
            raise internal_failure("a call", e, request_id).to_exception() from e

    def _call_done(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if self._closed and not task.cancelled():
            task.exception()  # "the client was shut down" is no news to an awaitable its caller dropped

    def retry_delay(self, f: Failure, attempt: int) -> Optional[float]:
        """Seconds to wait before attempt `attempt + 1` after `f`, or None when `f` is final."""
        return delay_before_retry(
            f.kind,
            f.retry_after,
            attempt,
            max_retries=self._max_retries,
            backoff_initial=self._backoff_initial,
            backoff_max=self._backoff_max,
            max_retry_after=self._max_retry_after,
        )

    async def _with_retries(self, request_id: str, attempt: Callable[[], Awaitable[T]]) -> T:
        n = 0
        while True:
            if self._closed:
                raise closed_failure(request_id)
            try:
                return await attempt()
            except Failure as e:
                delay = self.retry_delay(e, n)
                if delay is None:
                    raise
                logger.warning("request %s: attempt %d failed (%s); retrying in %.2fs", request_id, n + 1, e, delay)
                await asyncio.sleep(delay)
                n += 1

    async def _fetch(self, method: str, url: str, body: Optional[bytes], request_id: str) -> bytes:
        """One attempt: send, check the status, read the whole body under the size limit, all
        within `timeout` (a trickling body cannot outlast it)."""

        async def fetch() -> bytes:
            resp = await self.send(method, url, body, request_id)
            try:
                return await exchange.read_body(resp, self._max_response_bytes, request_id)
            finally:
                await resp.aclose()

        try:
            return await within(self._timeout, fetch())
        except asyncio.TimeoutError:
            raise Failure("timeout", f"no complete answer within {self._timeout}s", request_id) from None

    async def _chat(self, body: bytes, request_id: str) -> CompletionResponse:
        started = time.perf_counter()
        url = self._base_url.rstrip("/") + "/api/v1/chat"
        data = await self._with_retries(request_id, lambda: self._fetch("POST", url, body, request_id))
        try:
            c = completion_fields(json.loads(data))
        except (ValueError, RecursionError) as e:
            raise Failure("protocol", f"Rhetor answered with invalid JSON: {e}", request_id) from None
        if c["content"] is None:
            if c["error"] is not None:
                raise Failure("service_unavailable", self.redact(c["error"]), request_id, status=200)
            raise Failure("protocol", "Rhetor's answer has no `content`", request_id)
        return CompletionResponse(
            c["content"],
            c["model"] or "",
            c["provider"] or "",
            c["finish_reason"],
            c["usage"],
            c["context_id"],
            c["fallback"],
            c["timestamp"],
            time.perf_counter() - started,
            request_id,
        )

    async def _request_json(self, method: str, path: str, body: Optional[bytes], request_id: str) -> Any:
        url = self._base_url.rstrip("/") + "/" + path.lstrip("/")
        data = await self._with_retries(request_id, lambda: self._fetch(method, url, body, request_id))
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as e:
            raise Failure("protocol", f"{path} answered with invalid JSON: {e}", request_id) from None

    # -- one exchange ----------------------------------------------------------------------------

    async def send(self, method: str, url: str, body: Optional[bytes], request_id: str) -> Answer:
        """Send one request; the answer when its status is 2xx, else the Failure it means. Close
        the answer with `aclose()`."""
        if self._closed:
            raise closed_failure(request_id)
        try:
            return await exchange.send(self._transport, method, url, body, request_id, self._max_response_bytes)
        except Failure as e:
            e.message = self.redact(e.message)
            e.args = (e.message,)  # the public exception's __context__ shows them
            raise


def _snapshot(tasks: Set["asyncio.Task[Any]"]) -> "list[asyncio.Task[Any]]":
    """A copy of `tasks`, a set that other threads may change while we copy it."""
    while True:
        try:
            return list(tasks)
        except RuntimeError:  # changed size meanwhile: copy again
            continue
