"""`TektonLLMClient`: the async client for Rhetor.

Every call goes through a backend (`_backend.py`): the Rust core by default, the pure-Python path
with `TEKTON_LLM_BACKEND=python`. This module owns argument checking, the call objects that are
both awaitable and async-iterable, and the fallback policy; no byte of a stream passes through
Python on the way except the chunks themselves.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import (
    Any,
    AsyncIterable,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from . import _backend, config
from . import dialects as _dialects
from ._backend_interface import BatchRunner, CallTransport, ChunkStream, HttpTransport, Messages
from ._call_args import CallArgs, call_args, checked_messages, fallback_args
from .batch import BatchIterator, BatchRequest
from .exceptions import RETRYABLE, ProtocolError, StreamInterruptedError, TektonLLMError
from .models import (
    CompletionResponse,
    HealthStatus,
    MessageLike,
    ProvidersResponse,
    StreamingChunk,
)

__all__ = ["TektonLLMClient", "ChatCall", "ChunkIterator"]

logger = logging.getLogger("tekton_llm_client")

# Failures that the fallback provider may cure: the first choice is down or overloaded.
_FALLBACK_ON = RETRYABLE

T = TypeVar("T")


def _again(e: TektonLLMError) -> TektonLLMError:
    """A fresh copy of a remembered error (raising one instance again and again would grow its
    traceback), chained to it."""
    copy = e.__reduce__()
    fresh: TektonLLMError = copy[0](*copy[1])
    for attr in ("retry_after", "partial"):
        if hasattr(e, attr):
            setattr(fresh, attr, getattr(e, attr))
    fresh.__cause__ = e
    return fresh


class TektonLLMClient:
    """Client for Rhetor's HTTP API.

    Arguments left as None come from the environment (see `tekton_llm_client.config`), then from
    the defaults: timeout 30 s, 3 retries, `http://localhost:8003`.

    `timeout` bounds each attempt of a non-streaming call (headers and whole body) and, for a
    stream, the wait for each event (unless `stream_idle_timeout` is given). Retries use
    exponential backoff (`backoff_initial` doubling up to `backoff_max`, with jitter) and honour
    `Retry-After` up to `max_retry_after` seconds.

    `use_fallback=True`: when a call fails with a retryable error after its retries and a
    fallback provider/model is named (in `options` or here), the client asks once more naming the
    fallback and marks the answer `fallback=True`. No answer is ever invented.

    `ca_bundle`: a PEM file of extra CAs to trust for an https:// Rhetor, on top of the
    system's (which honour SSL_CERT_FILE / SSL_CERT_DIR).

    `dialect`: which Rhetor this is — "v1", "gen_a" or "gen_b" (the older servers that shipped;
    see `tekton_llm_client.dialects`). None (and env RHETOR_DIALECT unset) means detect: once per
    client, in `initialize()` or else before the first call; `client.dialect` then says which.
    """

    def __init__(
        self,
        component_id: str,
        rhetor_url: Optional[str] = None,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        use_fallback: bool = True,
        auth_token: Optional[str] = None,
        *,
        fallback_provider: Optional[str] = None,
        fallback_model: Optional[str] = None,
        connect_timeout: float = config.DEFAULT_CONNECT_TIMEOUT,
        stream_idle_timeout: Optional[float] = None,
        backoff_initial: float = config.DEFAULT_BACKOFF_INITIAL,
        backoff_max: float = config.DEFAULT_BACKOFF_MAX,
        max_retry_after: float = config.DEFAULT_MAX_RETRY_AFTER,
        pool_size: int = config.DEFAULT_POOL_SIZE,
        max_response_bytes: int = config.DEFAULT_MAX_RESPONSE_BYTES,
        max_event_bytes: int = config.DEFAULT_MAX_EVENT_BYTES,
        headers: Optional[Mapping[str, str]] = None,
        backend: Optional[str] = None,
        dialect: Optional[str] = None,
        ca_bundle: Optional[str] = None,
    ) -> None:
        if not isinstance(component_id, str) or not component_id:
            raise ValueError("component_id must be a non-empty string")
        self.component_id = component_id
        self.rhetor_url = config.rhetor_url(rhetor_url)
        self.provider_id = config.optional_setting(provider_id, "RHETOR_DEFAULT_PROVIDER")
        self.model_id = config.optional_setting(model_id, "RHETOR_DEFAULT_MODEL")
        self.timeout = config.timeout(timeout)
        self.max_retries = config.max_retries(max_retries)
        self.use_fallback = use_fallback
        self.fallback_provider = fallback_provider
        self.fallback_model = fallback_model
        self.backend = _backend.backend_name(backend)
        token = config.optional_setting(auth_token, "RHETOR_AUTH_TOKEN")
        self._http: HttpTransport = _backend.http_transport(
            self.backend,
            self.rhetor_url,
            component_id,
            dict(
                auth_token=token,
                timeout=self.timeout,
                connect_timeout=config.check_seconds("connect_timeout", connect_timeout),
                stream_idle_timeout=(
                    None
                    if stream_idle_timeout is None
                    else config.check_seconds("stream_idle_timeout", stream_idle_timeout)
                ),
                max_retries=self.max_retries,
                backoff_initial=config.check_seconds("backoff_initial", backoff_initial),
                backoff_max=config.check_seconds("backoff_max", backoff_max),
                max_retry_after=config.check_seconds("max_retry_after", max_retry_after),
                pool_max_idle_per_host=config.check_count("pool_size", pool_size),
                max_response_bytes=config.check_count("max_response_bytes", max_response_bytes),
                max_event_bytes=config.check_count("max_event_bytes", max_event_bytes),
                headers=list((headers or {}).items()),
                ca_bundle=ca_bundle,
            ),
        )
        self._has_token = token is not None
        self.initialized = False
        self.health_status: Optional[HealthStatus] = None
        # The dialect decides what calls go through: the backend itself for v1, a translator for the
        # older servers. None until known; detection runs once, under a lock per event loop.
        self.dialect: Optional[str] = None
        self._call_via: Optional[CallTransport] = None
        # The translator of an older dialect (also `_call_via`); None for v1.
        self._older: Optional[_dialects.Translator] = None
        self._detect_lock: Optional[Tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = None
        # Detection that failed on an answer (not for want of one) is not repeated by every call.
        self._detect_failure: Optional[TektonLLMError] = None
        self._forced_dialect = _dialects.setting(dialect)
        if self._forced_dialect is not None:
            self._use_dialect(self._forced_dialect)

    def __repr__(self) -> str:
        return (
            f"TektonLLMClient(component_id={self.component_id!r}, rhetor_url={self.rhetor_url!r}, "
            f"provider_id={self.provider_id!r}, model_id={self.model_id!r}, backend={self.backend!r}, "
            f"auth={'set' if self._has_token else 'none'})"
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def initialize(self, raise_on_error: bool = True) -> bool:
        """Check that Rhetor answers its health endpoint.

        Returns True when it does. When it does not, raises the error (ConnectionError,
        TimeoutError, …) or, with `raise_on_error=False`, returns False. Never claims success for
        a server it could not reach. A dialect that was forced (`dialect=` / RHETOR_DIALECT) is
        checked against the server's health answer (ProtocolError when it is plainly another);
        a failed detection is tried again. Logs a warning when the configured provider is
        reported unavailable.
        """
        try:
            if self._forced_dialect is not None:
                self.health_status = await _dialects.verify(self._http, self._forced_dialect)
            else:
                self._detect_failure = None
                self.health_status = await self.health()
        except TektonLLMError:
            self.initialized = False
            if raise_on_error:
                raise
            logger.warning("Rhetor at %s is not reachable", self.rhetor_url)
            return False
        self._warn_if_provider_unavailable(self.health_status)
        self.initialized = True
        return True

    def _warn_if_provider_unavailable(self, status: HealthStatus) -> None:
        provider = self.provider_id
        if provider and status.providers and not status.providers.get(provider, False):
            state = "reports it unavailable" if provider in status.providers else "does not list it"
            logger.warning(
                "the configured provider %r may not answer: Rhetor at %s %s (providers: %s)",
                provider,
                self.rhetor_url,
                state,
                ", ".join(sorted(status.providers)),
            )

    async def shutdown(self) -> None:
        """Close every connection; calls and streams still running end with ConnectionError."""
        self._http.close()
        self.initialized = False

    close = shutdown

    async def __aenter__(self) -> "TektonLLMClient":
        await self.initialize()
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.shutdown()

    # -- dialect -----------------------------------------------------------------------------

    def _use_dialect(self, name: str) -> None:
        if name == _dialects.V1:
            self._call_via = self._http
        else:
            self._older = _dialects.translator(name, self._http, self.component_id)
            self._call_via = self._older
        self.dialect = name

    async def _detect(self) -> Optional[HealthStatus]:
        """Find out which Rhetor this is (once per client); the health it reported, or None when
        another call had already found out."""
        loop = asyncio.get_running_loop()
        if self._detect_lock is None or self._detect_lock[0] is not loop:
            self._detect_lock = (loop, asyncio.Lock())
        async with self._detect_lock[1]:
            if self._call_via is not None:
                return None
            if self._detect_failure is not None:
                raise _again(self._detect_failure)
            try:
                name, status = await _dialects.detect(self._http)
            except TektonLLMError as e:
                if e.status_code is not None or isinstance(e, ProtocolError):
                    self._detect_failure = e  # the server answered: asking again will not help
                raise
            self._use_dialect(name)
            if name != _dialects.V1:
                logger.info("Rhetor at %s speaks the older dialect %s", self.rhetor_url, name)
            return status

    async def _call_transport(self) -> CallTransport:
        """The transport for calls: detects the dialect first when it is not known yet."""
        if self._call_via is None:
            await self._detect()
        if self._call_via is None:  # pragma: no cover - _detect sets it or raises
            raise ProtocolError("the Rhetor dialect is not known")
        return self._call_via

    # -- information -------------------------------------------------------------------------

    async def health(self) -> HealthStatus:
        """GET /api/v1/health (or the older dialect's health) → HealthStatus, whose `dialect`
        says which Rhetor answered. Raises on failure."""
        if self._call_via is None:
            found = await self._detect()
            if found is not None:
                return found
        if self._older is not None:
            return await self._older.health()
        d = await self._http.get_json("/api/v1/health")
        if not isinstance(d, dict) or "status" not in d:
            raise ProtocolError(self._http.redact(f"health answer has no status: {str(d)[:200]}"))
        providers = d.get("providers") or {}
        return HealthStatus(
            str(d["status"]),
            d.get("version"),
            {k: bool(v) for k, v in providers.items()} if isinstance(providers, dict) else {},
        )

    async def get_providers(self) -> ProvidersResponse:
        """GET /api/v1/providers (or the older dialect's list) → ProvidersResponse. Raises on
        failure, never invents a list."""
        await self._call_transport()
        if self._older is not None:
            return await self._older.providers()
        d = await self._http.get_json("/api/v1/providers")
        if not isinstance(d, dict) or "providers" not in d:
            raise ProtocolError(self._http.redact(f"providers answer has no providers: {str(d)[:200]}"))
        return ProvidersResponse.from_json(d)

    # -- generation ----------------------------------------------------------------------------

    def generate_text(
        self,
        prompt: str,
        system_prompt: Optional[str] = None,
        streaming: bool = False,
        options: Optional[Mapping[str, Any]] = None,
        context_id: Optional[str] = None,
        *,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        temperature: Optional[float] = None,
        max_tokens: Optional[int] = None,
    ) -> "ChatCall":
        """Generate text for one prompt.

        `await` it for a CompletionResponse; with `streaming=True`, `async for` over it (or over
        `await` of it) for StreamingChunk objects.
        """
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, not {type(prompt).__name__}")
        return self._call(
            [{"role": "user", "content": prompt}],
            system_prompt,
            streaming,
            options,
            context_id,
            provider_id,
            model_id,
            temperature,
            max_tokens,
        )

    def generate_chat_response(
        self,
        messages: Sequence[MessageLike],
        system_prompt: Optional[str] = None,
        streaming: bool = False,
        options: Optional[Mapping[str, Any]] = None,
        context_id: Optional[str] = None,
        *,
        provider_id: Optional[str] = None,
        model_id: Optional[str] = None,
        temperature: Optional[float] = None,
        max_tokens: Optional[int] = None,
    ) -> "ChatCall":
        """Answer a conversation (dicts or Message objects). Awaitable and, when streaming,
        async-iterable, like `generate_text`."""
        return self._call(
            checked_messages(messages),
            system_prompt,
            streaming,
            options,
            context_id,
            provider_id,
            model_id,
            temperature,
            max_tokens,
        )

    def generate_batch(
        self,
        requests: Union[Iterable[BatchRequest], AsyncIterable[BatchRequest]],
        concurrency: int = 32,
        rate_limit: Optional[float] = None,
        *,
        burst: int = 1,
        window: Optional[int] = None,
    ) -> BatchIterator:
        """Run many requests (prompts or dicts); an async iterator of `BatchResult` in completion
        order. See `tekton_llm_client.batch` (keywords: `burst`, `window`)."""
        return BatchIterator(
            self, self._open_batch_runner, requests, concurrency, rate_limit, burst=burst, window=window
        )

    async def _open_batch_runner(self, concurrency: int, rate: Optional[float], burst: int) -> Tuple[BatchRunner, bool]:
        """(runner, native?) for `generate_batch`: the Rust runner on the Rust backend talking to
        a v1 Rhetor; the asyncio one otherwise (the older dialects go through the translator)."""
        await self._call_transport()  # detects the dialect once per client, as any call does
        native = self.backend == "rust" and self.dialect == _dialects.V1
        return _backend.batch_runner(native, self._http, self._complete, concurrency, rate, burst), native

    def _call(
        self,
        messages: Messages,
        system_prompt: Optional[str],
        streaming: bool,
        options: Optional[Mapping[str, Any]],
        context_id: Optional[str],
        provider_id: Optional[str],
        model_id: Optional[str],
        temperature: Optional[float],
        max_tokens: Optional[int],
    ) -> "ChatCall":
        args = call_args(self, system_prompt, options, context_id, provider_id, model_id, temperature, max_tokens)
        return ChatCall(self, messages, args, bool(streaming))

    async def _with_fallback(
        self,
        kw: CallArgs,
        attempt: Callable[[CallArgs, Optional[str]], Awaitable[T]],
        request_id: Optional[str] = None,
    ) -> Tuple[T, bool]:
        """Run `attempt(kw, request_id)`; when it fails in a way the fallback may cure and a
        fallback is named, run it once more with the fallback's arguments and the first attempt's
        X-Request-ID (one logical call, one id). Returns (result, fallback used)."""
        try:
            return await attempt(kw, request_id), False
        except _FALLBACK_ON as first:
            fb = fallback_args(self, kw)
            if fb is None:
                raise
            logger.warning(
                "%s failed (%s); asking the fallback %s/%s",
                kw["provider_id"] or "default provider",
                first,
                fb["provider_id"],
                fb["model_id"],
            )
            try:
                return await attempt(fb, first.request_id), True
            except TektonLLMError as second:
                raise second from first

    async def _complete(self, messages: Messages, kw: CallArgs, request_id: Optional[str] = None) -> CompletionResponse:
        http = self._call_via or await self._call_transport()

        async def attempt(k: CallArgs, request_id: Optional[str]) -> CompletionResponse:
            return await http.chat(messages, request_id=request_id, **k)

        resp, used_fallback = await self._with_fallback(kw, attempt, request_id)
        if used_fallback:
            resp.fallback = True
        return resp


class ChatCall:
    """What `generate_text` / `generate_chat_response` return: awaitable (→ CompletionResponse,
    or, when streaming, the chunk iterator itself), and async-iterable when streaming."""

    __slots__ = ("_client", "_messages", "_kw", "streaming")

    def __init__(self, client: TektonLLMClient, messages: Messages, kw: CallArgs, streaming: bool) -> None:
        self._client = client
        self._messages = messages
        self._kw = kw
        self.streaming = streaming

    def __await__(self) -> Generator[Any, None, Any]:
        if self.streaming:
            return self._as_iterator().__await__()
        return self._client._complete(self._messages, self._kw).__await__()

    async def _as_iterator(self) -> "ChunkIterator":
        return self.__aiter__()

    def __aiter__(self) -> "ChunkIterator":
        if not self.streaming:
            raise TypeError("this call is not streaming: pass streaming=True to iterate over chunks")
        native_iter = _NativeChunkIterator if self._client.backend == "rust" else None
        return (native_iter or _PyChunkIterator)(self._client, self._messages, self._kw)


class ChunkIterator:
    """Async iterator over StreamingChunk objects. The backend hands chunks over several at a
    time (`ChunkStream`); leaving the loop early (or `aclose()`) closes the HTTP exchange.

    Two concrete classes share this logic: on the Rust path `__anext__` is native (a buffered
    chunk is handed out without a coroutine), on the pure path it is the Python method below.
    Who calls what on which thread between this class and the native stream: docs/handoff.md."""

    def __init__(self, client: TektonLLMClient, messages: Messages, kw: CallArgs) -> None:
        self._client = client
        self._messages = messages
        self._kw = kw
        self._stream: Optional[ChunkStream] = None
        self._fallback = False
        self._clear_buffer()

    def __aiter__(self) -> "ChunkIterator":
        return self

    def __anext__(self) -> Awaitable[StreamingChunk]:
        raise NotImplementedError

    @property
    def request_id(self) -> Optional[str]:
        return self._stream.request_id if self._stream is not None else None

    def _set_buffer(self, chunks: List[StreamingChunk], start: int) -> None:
        raise NotImplementedError

    def _clear_buffer(self) -> None:
        raise NotImplementedError

    def _attach(self, stream: ChunkStream) -> None:
        """Let `__anext__` read later batches from `stream` itself (the Rust path does)."""

    async def _refill(self) -> StreamingChunk:
        """The next chunks (waiting for them if need be); returns the first, buffers the rest."""
        stream = self._stream
        if stream is None:
            return await self._first()
        chunks = stream.take_ready()
        while not chunks:
            if chunks is None:
                raise StopAsyncIteration
            chunks = await stream.next_batch()
        if self._fallback:
            for c in chunks:
                c.fallback = True
        self._set_buffer(chunks, 1)
        return chunks[0]

    async def _first(self) -> StreamingChunk:
        """Open the stream; a failure before the first chunk may go to the fallback provider."""
        client = self._client
        http = client._call_via or await client._call_transport()

        async def attempt(k: CallArgs, request_id: Optional[str]) -> Tuple[ChunkStream, Optional[List[StreamingChunk]]]:
            stream = self._stream = http.stream_chat(self._messages, request_id=request_id, **k)
            return stream, await stream.next_batch()

        (stream, chunks), self._fallback = await client._with_fallback(self._kw, attempt)
        if chunks is None:
            raise StopAsyncIteration
        if self._fallback:
            for c in chunks:
                c.fallback = True
        else:
            self._attach(stream)
        self._set_buffer(chunks, 1)
        return chunks[0]

    async def aclose(self) -> None:
        """Stop the stream now and close its HTTP exchange."""
        if self._stream is not None:
            self._stream.close()
        self._clear_buffer()

    async def __aenter__(self) -> "ChunkIterator":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def collect(self) -> str:
        """Read the whole stream and return its text; raises if the stream ended in an error."""
        parts: List[str] = []
        async for c in self:
            if c.error:
                raise StreamInterruptedError(c.error, partial="".join(parts), request_id=self.request_id)
            parts.append(c.chunk)
        return "".join(parts)


class _PyChunkIterator(ChunkIterator):
    """The pure path's iterator: everything in Python."""

    __slots__ = ("_buf", "_i")

    def _set_buffer(self, batch: List[StreamingChunk], start: int) -> None:
        self._buf = batch
        self._i = start

    def _clear_buffer(self) -> None:
        self._buf = []
        self._i = 0

    async def __anext__(self) -> StreamingChunk:
        i = self._i
        buf = self._buf
        if i < len(buf):
            self._i = i + 1
            return buf[i]
        return await self._refill()


_NativeChunkIterator: Optional[Type[ChunkIterator]] = None
try:
    from ._core import ChunkBuffer
except ImportError:  # no native module: the pure path serves every client
    pass
else:

    class _RustChunkIterator(ChunkBuffer, ChunkIterator):
        """The Rust path's iterator. The native `ChunkBuffer` (first in the MRO,
        src/py_chunk_iter.rs) gives `__anext__`, `_set_buffer`, `_clear_buffer` and `_attach`: a
        buffered chunk is handed out without a coroutine, and once a stream is attached the
        stream refills the buffer from Rust; only the opening refill runs `_refill`
        (docs/handoff.md)."""

    _NativeChunkIterator = _RustChunkIterator
