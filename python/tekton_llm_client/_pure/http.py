"""`HttpClient` and `PureChunkStream`: the pure-Python backend of `TektonLLMClient`, on httpx.

The same interface and behaviour as the Rust backend (`src/py_http.rs` over `tekton-core`'s
`http.rs` and `stream.rs`): headers, request body, status → exception mapping, retries with
backoff and Retry-After, per-attempt timeouts, size limits, and the streaming rules (retry only
before the first content chunk; after it, a failure is the stream's last chunk). Internally an
error is a `_Failure` (the twin of the Rust `CoreError`), turned into the public exception at the
edge by `exceptions.error_from_kind`, exactly as the Rust binding does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import ssl
import sys
import time
import uuid
import weakref
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import httpx

from .. import config
from ..exceptions import TektonLLMError, error_from_kind
from ..models import CompletionResponse, StreamingChunk, Usage
from .retry import delay_before_retry, parse_retry_after
from .sse import SseDecoder, SseEvent, SseLimitExceeded

__all__ = ["HttpClient", "PureChunkStream"]

logger = logging.getLogger("tekton_llm_client")

MAX_BATCH = 4096  # chunks handed over in one next_batch / take_ready (as the Rust binding)
STREAM_BUFFER_EVENTS = 4096  # decoded events buffered for a slow consumer before reading pauses
POOL_IDLE_TIMEOUT = 90.0
ERROR_BODY_LIMIT = 1 << 20
MAX_REDIRECTS = 5  # same-origin 307/308 followed per request (as tekton-core's http.rs)

# -- errors ---------------------------------------------------------------------------------------


class _Failure(Exception):
    """What went wrong, in the Rust core's terms (kind name, message, status, code, Retry-After).
    `str()` is the Rust `Display`: the message, plus ` (status N)` when there is a status."""

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
        # streaming only: False for failures that are final whatever their kind (bad JSON, an
        # error event, a limit); the kind decides otherwise
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


def _internal_failure(what: str, e: BaseException, request_id: Optional[str]) -> _Failure:
    """A bug in this library (the Rust side's `panic_error`): never a hang, never a clean end."""
    return _Failure(
        "error",
        f"internal error: {what} panicked ({type(e).__name__}: {e}); this is a bug in "
        "tekton-llm-client, please report it",
        request_id,
        retryable=False,
    )


def _closed_failure(request_id: str) -> _Failure:
    return _Failure("connection", "the client was shut down", request_id, retryable=False)


def _kind_for_status(status: int) -> str:
    """PROTOCOL.md's status table (ErrorKind::from_status)."""
    if status in (400, 404, 413, 422):
        return "invalid_request"
    if status in (401, 403):
        return "authentication"
    if status in (408, 504):
        return "timeout"
    if status == 429:
        return "rate_limit"
    if status in (500, 502, 503):
        return "service_unavailable"
    return "error"


# The reason phrases of the Rust `http` crate (`StatusCode::canonical_reason`), so that messages
# read the same on both backends (Python's own table differs for a few codes).
_REASONS: Dict[int, str] = {
    100: "Continue",
    101: "Switching Protocols",
    102: "Processing",
    103: "Early Hints",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    207: "Multi-Status",
    208: "Already Reported",
    226: "IM Used",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Payload Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    418: "I'm a teapot",
    421: "Misdirected Request",
    422: "Unprocessable Entity",
    423: "Locked",
    424: "Failed Dependency",
    425: "Too Early",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates",
    507: "Insufficient Storage",
    508: "Loop Detected",
    510: "Not Extended",
    511: "Network Authentication Required",
}


def _status_text(status: int) -> str:
    reason = _REASONS.get(status)
    return f"{status} {reason}" if reason else str(status)


def _compact(value: Any) -> str:
    # serde_json's compact form; its maps are sorted by key
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


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
            if isinstance(v, dict):
                inner = v.get("message")
                return (inner if isinstance(inner, str) else _compact(v)), code
            if isinstance(v, list):
                return _compact(v), code
        return _compact(doc), code
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return "(empty body)", None
    return text[:300], None


def _deepest_detail(e: BaseException) -> str:
    """The innermost cause's text (as the Rust side reports the deepest `source()`); the
    cancellations anyio uses to implement timeouts are not causes worth showing."""
    detail = str(e)
    seen = {id(e)}
    cur: Optional[BaseException] = e.__cause__ or e.__context__
    while cur is not None and id(cur) not in seen and isinstance(cur, Exception):
        seen.add(id(cur))
        text = str(cur)
        if text:
            detail = text
        cur = cur.__cause__ or cur.__context__
    if not detail and isinstance(e, httpx.TimeoutException):
        detail = "deadline has elapsed"  # what the Rust side says
    return detail


def _transport_failure(e: BaseException, request_id: str, reading_body: bool) -> _Failure:
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
    detail = _deepest_detail(e)
    return _Failure(kind, f"{what}: {detail}" if detail else what, request_id)


def _limit_failure(limit: int, request_id: str) -> _Failure:
    return _Failure("limit_exceeded", f"response body larger than the limit of {limit} bytes", request_id)


def _origin(url: httpx.URL) -> Tuple[str, str, Optional[int]]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def _redirect_target(resp: httpx.Response) -> Optional[httpx.URL]:
    location = resp.headers.get("location")
    if location is None:
        return None
    try:
        return resp.url.join(location)
    except (httpx.InvalidURL, ValueError):
        return None


def _redirect_failure(resp: httpx.Response, target: Optional[httpx.URL], request_id: str) -> _Failure:
    """A 3xx we did not follow: which status, where it pointed, and why not (http.rs's
    `redirect_error`)."""
    status = resp.status_code
    location = resp.headers.get("location")
    shown = config.without_userinfo(str(target) if target is not None else location or "(no Location)")
    if target is not None and _origin(target) != _origin(resp.url):
        why = (
            "it leads to another origin (host, port or scheme), and the request would carry the prompt "
            "and the token there"
        )
    elif status not in (307, 308):
        why = "only 307/308 keep the method and body"
    else:
        why = "too many redirects"
    return _Failure(
        "redirect",
        f"Rhetor answered {_status_text(status)} redirecting to {shown}: not followed, {why}",
        request_id,
        status=status,
    )


async def _read_body(resp: httpx.Response, limit: int, request_id: str) -> bytes:
    """The whole body, refused as soon as it is known to be larger than `limit`."""
    length = resp.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _limit_failure(limit, request_id)
    chunks: List[bytes] = []
    total = 0
    it = resp.aiter_raw()
    try:
        async for chunk in it:
            total += len(chunk)
            if total > limit:
                raise _limit_failure(limit, request_id)
            chunks.append(chunk)
    except httpx.HTTPError as e:
        raise _transport_failure(e, request_id, True) from None
    finally:
        await it.aclose()  # type: ignore[attr-defined]  # an async generator
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


# -- small helpers --------------------------------------------------------------------------------

if sys.version_info >= (3, 11):

    async def _within(seconds: float, aw: Awaitable[Any]) -> Any:
        async with asyncio.timeout(seconds):
            return await aw
else:  # pragma: no cover - Python 3.10

    async def _within(seconds: float, aw: Awaitable[Any]) -> Any:
        return await asyncio.wait_for(aw, seconds)


def _rust_float(v: float) -> str:
    """An f64 as Rust's `Display` writes it (1.0 → "1", inf → "inf")."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _rust_debug(s: str) -> str:
    """A str as Rust's `{:?}` writes it: in double quotes, with \\ and " escaped."""
    return (
        '"'
        + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        + '"'
    )


def _seconds(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(v).__name__}")
    f = float(v)
    if not (f == f and f not in (float("inf"), float("-inf"))) or f <= 0.0:
        raise ValueError(f"{name} must be a positive number of seconds, got {_rust_float(f)}")
    return f


def _unsigned(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    if v < 0:
        raise OverflowError(f"can't convert negative int to unsigned ({name})")
    return v


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _header_value(v: str) -> bytes:
    """A header value as bytes; the characters HTTP allows (as the `http` crate checks them)."""
    if not isinstance(v, str) or any((c < " " and c != "\t") or c == "\x7f" for c in v):
        raise error_from_kind("invalid_request", "header value has characters HTTP does not allow")
    return v.encode("utf-8")


_user_agent: Optional[str] = None
_ssl_ctxs: Dict[Tuple[Optional[str], Optional[str], Optional[str]], ssl.SSLContext] = {}


def _ssl_context(ca_bundle: Optional[str] = None) -> ssl.SSLContext:
    """One TLS context per (ca_bundle, SSL_CERT_FILE, SSL_CERT_DIR) (httpx would load the CA
    bundle again for every client, ~50 ms each). `ca_bundle` adds its CAs to the default roots."""
    key = (ca_bundle, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    ctx = _ssl_ctxs.get(key)
    if ctx is None:
        make = getattr(httpx, "create_ssl_context", None)
        if make is not None:
            ctx = make()  # honours SSL_CERT_FILE / SSL_CERT_DIR
        else:  # pragma: no cover - httpx < 0.28
            try:
                import certifi

                ctx = ssl.create_default_context(cafile=certifi.where())
            except ImportError:
                ctx = ssl.create_default_context()
        if ca_bundle is not None:
            try:
                ctx.load_verify_locations(cafile=ca_bundle)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise error_from_kind("invalid_request", f"cannot read ca_bundle {ca_bundle}: {exc}") from None
        _ssl_ctxs[key] = ctx
    return ctx


def _ua() -> str:
    global _user_agent
    if _user_agent is None:
        try:
            from .._version import __version__ as version
        except ImportError:  # pragma: no cover - half-imported package
            from importlib.metadata import version as _v

            version = _v("tekton-llm-client")
        _user_agent = f"tekton-llm-client/{version}"
    return _user_agent


def _json_default(o: Any) -> Any:
    to_dict = getattr(o, "to_dict", None)
    if to_dict is not None:
        return to_dict()
    raise TypeError(f"object of type {type(o).__name__} cannot be sent as JSON")


# serde_json's output for the request fields: compact, maps sorted by key, NaN refused
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), default=_json_default
)
_encode = _ENCODER.encode


def _opt_str_arg(name: str, v: Any) -> Optional[str]:
    if v is not None and not isinstance(v, str):
        raise TypeError(f"{name} must be a str or None, not {type(v).__name__}")
    return v  # type: ignore[no-any-return]


# -- reading answers (serde's rules: typed fields, snake_case or camelCase, no duplicates) ---------


def _field(d: Dict[str, Any], snake: str, camel: str) -> Any:
    if camel in d:
        if snake in d:
            raise ValueError(f"duplicate field `{snake}`")
        return d[camel]
    return d.get(snake)


def _str_or_none(name: str, v: Any) -> Optional[str]:
    if v is None or type(v) is str:
        return v
    raise ValueError(f"invalid type for `{name}`: expected a string")


def _u64(name: str, v: Any) -> int:
    if type(v) is int and v >= 0:
        return v
    raise ValueError(f"invalid type for `{name}`: expected u64")


def _usage(v: Any) -> Optional[Usage]:
    if v is None:
        return None
    if type(v) is not dict:
        raise ValueError("invalid type for `usage`: expected a map")
    counts: List[Optional[int]] = []
    for names in (
        ("prompt_tokens", "promptTokens", "input_tokens"),
        ("completion_tokens", "completionTokens", "output_tokens"),
        ("total_tokens", "totalTokens"),
    ):
        present = [n for n in names if n in v]
        if len(present) > 1:
            raise ValueError(f"duplicate field `{names[0]}`")
        if not present:
            counts.append(None)
        elif names[0] == "total_tokens" and v[present[0]] is None:
            counts.append(None)
        else:
            counts.append(_u64(names[0], v[present[0]]))
    return Usage(counts[0] or 0, counts[1] or 0, counts[2])


def _completion_fields(doc: Any) -> Dict[str, Any]:
    if type(doc) is not dict:
        raise ValueError("invalid type: expected a JSON object")
    fb = doc.get("fallback")
    if fb is not None and type(fb) is not bool:
        raise ValueError("invalid type for `fallback`: expected a boolean")
    return {
        "content": _str_or_none("content", doc.get("content")),
        "model": _str_or_none("model", doc.get("model")),
        "provider": _str_or_none("provider", doc.get("provider")),
        "finish_reason": _str_or_none("finish_reason", _field(doc, "finish_reason", "finishReason")),
        "usage": _usage(doc.get("usage")),
        "context_id": _str_or_none("context_id", _field(doc, "context_id", "contextId")),
        "fallback": bool(fb),
        "timestamp": _str_or_none("timestamp", doc.get("timestamp")),
        "error": _str_or_none("error", doc.get("error")),
    }


_STR_OR_NONE = frozenset((str, type(None)))
_BOOL_OR_NONE = frozenset((bool, type(None)))


def _event_chunk(ev: Any) -> Tuple[StreamingChunk, Optional[str], Optional[str]]:
    """A decoded stream event → (chunk, error, code). Raises ValueError for a wrong shape (the
    fields are typed as the Rust `StreamEvent`: strings, `done` a boolean, `usage` a map)."""
    if type(ev) is not dict:
        raise ValueError("invalid type: expected a JSON object")
    get = ev.get
    text = get("chunk")
    done = get("done", False)
    model = get("model")
    provider = get("provider")
    timestamp = get("timestamp")
    error = get("error")
    code = get("code")
    fb = get("fallback")
    if "contextId" in ev or "finishReason" in ev:
        context_id = _field(ev, "context_id", "contextId")
        finish_reason = _field(ev, "finish_reason", "finishReason")
    else:
        context_id = get("context_id")
        finish_reason = get("finish_reason")
    if not (
        {
            type(text),
            type(model),
            type(provider),
            type(timestamp),
            type(error),
            type(code),
            type(context_id),
            type(finish_reason),
        }
        <= _STR_OR_NONE
    ):
        for name, v in (
            ("chunk", text),
            ("model", model),
            ("provider", provider),
            ("timestamp", timestamp),
            ("error", error),
            ("code", code),
            ("context_id", context_id),
            ("finish_reason", finish_reason),
        ):
            _str_or_none(name, v)
    if type(done) is not bool:
        raise ValueError("invalid type for `done`: expected a boolean")
    if type(fb) not in _BOOL_OR_NONE:
        raise ValueError("invalid type for `fallback`: expected a boolean")
    usage = get("usage")
    chunk = StreamingChunk(
        text or "",
        done,
        None,
        model,
        provider,
        fb is True,
        finish_reason,
        None if usage is None else _usage(usage),
        context_id,
        timestamp,
    )
    return chunk, error, code


# -- the client -----------------------------------------------------------------------------------

_background: Set["asyncio.Task[Any]"] = set()


def _in_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], Any]) -> None:
    """Run `fn` in `loop`'s thread: now if we are in it, else as soon as it runs."""
    try:
        running: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn()
    elif not loop.is_closed():
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # closed meanwhile
            pass


def _spawn_aclose(client: httpx.AsyncClient) -> None:
    """Close a pooled client in the background (called in its loop's thread)."""
    task = asyncio.get_running_loop().create_task(client.aclose())
    _background.add(task)
    task.add_done_callback(_forget_background)


def _forget_background(task: "asyncio.Task[Any]") -> None:
    _background.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failing close is not worth a warning


class HttpClient:
    """The pure-Python twin of the Rust `HttpClient` (`tekton_llm_client._core`)."""

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
        self._base_url = base_url
        self._component_id = component_id
        self._timeout = _seconds("timeout", timeout)
        self._connect_timeout = _seconds("connect_timeout", connect_timeout)
        self._idle = (
            _seconds("stream_idle_timeout", stream_idle_timeout) if stream_idle_timeout is not None else self._timeout
        )
        self._max_retries = _unsigned("max_retries", max_retries)
        self._backoff_initial = _seconds("backoff_initial", backoff_initial)
        self._backoff_max = _seconds("backoff_max", backoff_max)
        if isinstance(max_retry_after, bool) or not isinstance(max_retry_after, (int, float)):
            raise TypeError("max_retry_after must be a number of seconds")
        self._max_retry_after = max(float(max_retry_after), 0.0)
        self._pool = _unsigned("pool_max_idle_per_host", pool_max_idle_per_host)
        self._max_response_bytes = _unsigned("max_response_bytes", max_response_bytes)
        self._max_event_bytes = _unsigned("max_event_bytes", max_event_bytes)

        # Default headers, built as reqwest builds them: accept and user-agent first, then ours;
        # an extra header replaces one of the same name.
        hdrs: Dict[str, Tuple[bytes, bytes]] = {}

        def put(name: str, value: bytes) -> None:
            hdrs[name.lower()] = (name.lower().encode("ascii"), value)

        put("accept", b"*/*")
        put("user-agent", _ua().encode("ascii"))
        put("content-type", b"application/json")
        put("x-tekton-component", _header_value(component_id))
        self._has_token = auth_token is not None
        self._token = auth_token or None  # for `redact`
        if auth_token is not None:
            try:
                put("authorization", _header_value(f"Bearer {auth_token}"))
            except TektonLLMError:
                raise error_from_kind("invalid_request", "auth token is not a valid header value") from None
        for k, v in headers or ():
            if not isinstance(k, str) or not _TOKEN.fullmatch(k):
                raise error_from_kind("invalid_request", f"invalid header name {_rust_debug(str(k))}")
            put(k, _header_value(v))
        self._headers: List[Tuple[bytes, bytes]] = list(hdrs.values())

        base = base_url.rstrip("/")
        self._chat_url = base + "/api/v1/chat"
        self._stream_url = base + "/api/v1/chat/stream"
        self._ssl = _ssl_context(ca_bundle)
        # One pool per event loop: httpx's connections belong to the loop that opened them, and
        # one client may be used from several loops (threads each running their own).
        self._pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, List[_Shard]]" = weakref.WeakKeyDictionary()
        self._closed = False
        self._tasks: Set["asyncio.Task[Any]"] = set()

    # -- plumbing --------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self._base_url.rstrip("/") + "/" + path.lstrip("/")

    def _http(self, request_id: str) -> "_Shard":
        """The least busy of this loop's pooled clients (HTTP/1.1, keep-alive); a new one when
        every client has SHARD_REQUESTS in flight.

        httpcore's pool scans every connection it holds on each request and each response end,
        so one client holding a thousand streams spends quadratic time in that scan (100 s for
        1,000 streams that last 1 s). Clients of at most SHARD_REQUESTS requests keep the scan
        short; a lone caller always gets the first client, so sequential calls share connections."""
        loop = asyncio.get_running_loop()
        if self._closed:
            raise _closed_failure(request_id)
        shards = self._pools.get(loop)
        if shards is None:
            shards = self._pools[loop] = []
        best = min(shards, key=_Shard.load, default=None)
        if best is not None and best.in_flight < SHARD_REQUESTS:
            return best
        shard = _Shard(self._new_client())
        shards.append(shard)
        return shard

    def _new_client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=self._connect_timeout),
            limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=self._pool, keepalive_expiry=POOL_IDLE_TIMEOUT
            ),
            verify=self._ssl,
            follow_redirects=False,  # `_send` decides which redirects are followed
            trust_env=True,  # HTTP(S)_PROXY / NO_PROXY, as reqwest reads them
            http1=True,
            http2=False,
        )
        client.headers = httpx.Headers(self._headers)
        # httpx's own defaults that reqwest does not send
        for name in ("accept-encoding", "connection"):
            if name.encode() not in (k for k, _ in self._headers):
                del client.headers[name]
        return client

    def redact(self, text: str) -> str:
        """`text` with the configured auth token blanked out: servers may echo what we sent (a
        401 body repeating the Authorization header), and their messages are shown to the caller."""
        token = self._token
        return text.replace(token, "***") if token and token in text else text

    def _redacted(self, f: _Failure) -> _Failure:
        f.message = self.redact(f.message)
        f.args = (f.message,)  # the public exception's __context__ shows them
        return f

    def _spawn(self, work: Callable[..., Awaitable[Any]], *args: Any) -> "asyncio.Task[Any]":
        """Run a call as a task (like the Rust binding's future): it starts now, `close()` can stop
        it, and cancelling whoever awaits it cancels the request. The last arg is the request id."""
        loop = asyncio.get_running_loop()  # RuntimeError outside a loop, as the Rust binding
        # The call's coroutine is made inside the guard: a task cancelled before it starts then
        # leaves no never-awaited coroutine behind.
        task = loop.create_task(self._guard(work, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, work: Callable[..., Awaitable[Any]], args: Tuple[Any, ...]) -> Any:
        request_id = args[-1]
        try:
            if self._closed:
                raise _closed_failure(request_id)
            return await work(*args)
        except _Failure as f:
            raise f.to_exception() from None
        except asyncio.CancelledError:
            if self._closed:
                raise _closed_failure(request_id).to_exception() from None
            raise
        except Exception as e:
            if isinstance(e, TektonLLMError):
                raise
            logger.exception("request %s: unexpected error", request_id)
            raise _internal_failure("an awaitable's task", e, request_id).to_exception() from e

    def _retry_delay(self, f: _Failure, attempt: int) -> Optional[float]:
        return delay_before_retry(
            f.kind,
            f.retry_after,
            attempt,
            max_retries=self._max_retries,
            backoff_initial=self._backoff_initial,
            backoff_max=self._backoff_max,
            max_retry_after=self._max_retry_after,
        )

    async def _with_retries(self, request_id: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        n = 0
        while True:
            if self._closed:
                raise _closed_failure(request_id)
            try:
                return await attempt()
            except _Failure as e:
                delay = self._retry_delay(e, n)
                if delay is None:
                    raise
                logger.log(30, f"request {request_id}: attempt {n + 1} failed ({e}); retrying in {delay:.2f}s")
                await asyncio.sleep(delay)
                n += 1

    async def _send(self, method: str, url: str, body: Optional[bytes], request_id: str) -> httpx.Response:
        """Send one request; return the response if its status is 2xx, else raise the mapped error.
        The caller closes the response with `_done`."""
        shard = self._http(request_id)
        shard.in_flight += 1
        try:
            resp = await self._send_on(shard.client, method, url, body, request_id)
        except BaseException:
            shard.in_flight -= 1
            raise
        resp.extensions["tekton_shard"] = shard
        return resp

    @staticmethod
    async def _done(resp: httpx.Response) -> None:
        """Close a response from `_send` and give its slot back."""
        try:
            await resp.aclose()
        finally:
            shard = resp.extensions.pop("tekton_shard", None)
            if shard is not None:
                shard.in_flight -= 1

    async def _send_on(
        self, client: httpx.AsyncClient, method: str, url: str, body: Optional[bytes], request_id: str
    ) -> httpx.Response:
        first: Optional[httpx.URL] = None
        for hop in range(MAX_REDIRECTS + 1):
            try:
                req = client.build_request(method, url, content=body, headers={"x-request-id": request_id})
                resp = await client.send(req, stream=True)
            except httpx.HTTPError as e:
                raise self._redacted(_transport_failure(e, request_id, False)) from None
            except httpx.InvalidURL as e:
                raise _Failure("connection", f"HTTP request to Rhetor failed: {e}", request_id) from None
            status = resp.status_code
            if 200 <= status < 300:
                return resp
            first = first or resp.url
            if 300 <= status < 400:
                # Followed: 307/308 (method and body kept) within the first URL's origin.
                target = _redirect_target(resp)
                await resp.aclose()
                if (
                    target is not None
                    and status in (307, 308)
                    and hop < MAX_REDIRECTS
                    and _origin(target) == _origin(first)
                ):
                    url = str(target)
                    continue
                raise _redirect_failure(resp, target, request_id)
            try:
                failure = await self._status_failure(resp, request_id)
            finally:
                await resp.aclose()
            raise self._redacted(failure)
        raise AssertionError("unreachable: the last hop returns or raises")  # pragma: no cover

    async def _status_failure(self, resp: httpx.Response, request_id: str) -> _Failure:
        status = resp.status_code
        values = resp.headers.get_list("retry-after")
        retry_after = parse_retry_after(values[0]) if values else None
        try:
            body = await _read_body(resp, min(self._max_response_bytes, ERROR_BODY_LIMIT), request_id)
        except _Failure:
            body = b""
        message, code = error_message(body)
        return _Failure(
            _kind_for_status(status),
            f"Rhetor answered {_status_text(status)}: {message}",
            request_id,
            status=status,
            code=code,
            retry_after=retry_after,
        )

    async def _fetch_bytes(self, method: str, url: str, body: Optional[bytes], request_id: str) -> bytes:
        """One attempt: send, check the status, read the whole body under the size limit, all
        within `timeout` (a trickling body cannot outlast it)."""
        try:
            return await _within(self._timeout, self._fetch_once(method, url, body, request_id))  # type: ignore[no-any-return]
        except asyncio.TimeoutError:
            raise _Failure("timeout", f"no complete answer within {self._timeout:.1f}s", request_id) from None

    async def _fetch_once(self, method: str, url: str, body: Optional[bytes], request_id: str) -> bytes:
        resp = await self._send(method, url, body, request_id)
        try:
            return await _read_body(resp, self._max_response_bytes, request_id)
        finally:
            await self._done(resp)

    def _body(
        self,
        messages: Any,
        system_prompt: Any,
        context_id: Any,
        provider_id: Any,
        model_id: Any,
        options: Any,
        streaming: bool,
    ) -> bytes:
        """ChatRequest::to_v1_body: fixed field order; provider_id, model_id and system_prompt
        only when given; 0 and 0.0 are values and are sent."""
        if not isinstance(messages, (list, tuple)):
            raise ValueError("messages must be a list")
        if not isinstance(context_id, str):
            raise TypeError(f"context_id must be a str, not {type(context_id).__name__}")
        _opt_str_arg("system_prompt", system_prompt)
        _opt_str_arg("provider_id", provider_id)
        _opt_str_arg("model_id", model_id)
        if options is None:
            opts: Any = {}
        elif isinstance(options, Mapping):
            opts = options if isinstance(options, dict) else dict(options)
        elif hasattr(options, "to_dict"):
            opts = options.to_dict()
            if not isinstance(opts, dict):
                raise TypeError("options must be a dict")
        else:
            raise TypeError("options must be a dict")
        parts = [
            '{"messages":',
            _encode(messages),
            ',"context_id":',
            _encode(context_id),
            ',"component_id":',
            _encode(self._component_id),
        ]
        if provider_id is not None:
            parts += [',"provider_id":', _encode(provider_id)]
        if model_id is not None:
            parts += [',"model_id":', _encode(model_id)]
        if system_prompt is not None:
            parts += [',"system_prompt":', _encode(system_prompt)]
        parts += [',"streaming":true,"options":' if streaming else ',"streaming":false,"options":', _encode(opts), "}"]
        return "".join(parts).encode("utf-8")

    # -- the interface ---------------------------------------------------------------------------

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
        body = self._body(messages, system_prompt, context_id, provider_id, model_id, options, False)
        rid = str(uuid.uuid4()) if request_id is None else request_id
        return self._spawn(self._chat, body, rid)

    async def _chat(self, body: bytes, request_id: str) -> CompletionResponse:
        started = time.perf_counter()
        url = self._chat_url
        data = await self._with_retries(request_id, lambda: self._fetch_bytes("POST", url, body, request_id))
        try:
            c = _completion_fields(json.loads(data))
        except (ValueError, RecursionError) as e:
            raise _Failure("protocol", f"Rhetor answered with invalid JSON: {e}", request_id) from None
        content = c["content"]
        if content is None:
            if c["error"] is not None:
                raise _Failure("service_unavailable", self.redact(c["error"]), request_id, status=200)
            raise _Failure("protocol", "Rhetor's answer has no `content`", request_id)
        return CompletionResponse(
            content,
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
    ) -> "PureChunkStream":
        """Start a streamed chat (POST /api/v1/chat/stream); nothing is sent until the first
        `next_batch()`."""
        body = self._body(messages, system_prompt, context_id, provider_id, model_id, options, True)
        rid = str(uuid.uuid4()) if request_id is None else request_id
        return PureChunkStream(self, body, rid)

    def get_json(self, path: str, request_id: Optional[str] = None) -> "asyncio.Task[Any]":
        """Awaitable → the decoded JSON document at `path` (health, providers)."""
        return self.request_json("GET", path, None, request_id)

    def request_json(
        self, method: str, path: str, body: Any = None, request_id: Optional[str] = None
    ) -> "asyncio.Task[Any]":
        """Awaitable → the decoded JSON answer of `method path` with an optional JSON `body`
        (retries, status mapping and limits as for chat). The older dialects use this."""
        if not isinstance(method, str) or not _TOKEN.fullmatch(method):
            raise ValueError(f"invalid HTTP method {_rust_debug(str(method))}")
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {type(path).__name__}")
        raw = None if body is None else _encode(body).encode("utf-8")
        rid = str(uuid.uuid4()) if request_id is None else request_id
        return self._spawn(self._request_json, method, path, raw, rid)

    async def _request_json(self, method: str, path: str, body: Optional[bytes], request_id: str) -> Any:
        url = self._url(path)
        data = await self._with_retries(request_id, lambda: self._fetch_bytes(method, url, body, request_id))
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as e:
            raise _Failure("protocol", f"{path} answered with invalid JSON: {e}", request_id) from None

    def close(self) -> None:
        """Stop every call and stream of this client (they end with ConnectionError "the client was
        shut down") and release its connections."""
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                tasks = list(self._tasks)
                break
            except RuntimeError:  # changed size: another thread finished a task meanwhile
                continue
        for t in tasks:
            if not t.done():
                _in_loop(t.get_loop(), t.cancel)
        while True:
            try:
                pools = list(self._pools.items())
                break
            except RuntimeError:  # changed size: another loop's thread added its pool meanwhile
                continue
        self._pools.clear()
        for loop, shards in pools:
            for shard in shards:
                _in_loop(loop, lambda c=shard.client: _spawn_aclose(c))  # type: ignore[misc]

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        # The auth token is never shown.
        return (
            f"HttpClient(base_url={_rust_debug(self._base_url)}, "
            f"component_id={_rust_debug(self._component_id)}, auth={'set' if self._has_token else 'none'})"
        )

    # -- streaming -------------------------------------------------------------------------------

    async def _run_stream(self, body: bytes, request_id: str, sink: "_Sink") -> None:
        """Attempts until the stream is done; a failure before the first content chunk is retried,
        after it the failure is the stream's last item."""
        attempt = 0
        while True:
            if self._closed:
                failure, retryable = _closed_failure(request_id), False
            else:
                try:
                    await self._stream_attempt(body, request_id, sink)
                    return
                except _Failure as f:
                    failure, retryable = f, f.retryable
            if retryable and not sink.delivered:
                delay = self._retry_delay(failure, attempt)
                if delay is not None:
                    logger.log(
                        30,
                        f"stream {request_id}: attempt {attempt + 1} failed before its first "
                        f"chunk ({failure}); retrying in {delay:.2f}s",
                    )
                    await asyncio.sleep(delay)
                    attempt += 1
                    continue
            sink.fail(failure)
            return

    async def _stream_attempt(self, body: bytes, request_id: str, sink: "_Sink") -> None:
        idle = self._idle
        loop = asyncio.get_running_loop()
        try:
            resp = await _within(idle, self._send("POST", self._stream_url, body, request_id))
        except asyncio.TimeoutError:
            raise _Failure("timeout", f"no answer within {idle:.1f}s", request_id) from None
        it = resp.aiter_raw()
        try:
            decoder = SseDecoder(self._max_event_bytes)
            events: List[SseEvent] = []
            saw_done = False
            last_event = loop.time()
            while True:
                try:
                    data = await _within(idle - (loop.time() - last_event), anext(it, None))
                except asyncio.TimeoutError:
                    if saw_done:
                        return
                    raise _Failure("timeout", f"no stream event within {idle:.1f}s", request_id) from None
                except httpx.HTTPError as e:
                    if saw_done:
                        return
                    f = _transport_failure(e, request_id, True)
                    f.message = f"the stream was cut before its end: {f.message}"
                    raise f from None
                try:
                    if data is None:
                        decoder.finish(events)
                    else:
                        decoder.feed(data, events)
                except SseLimitExceeded:
                    raise _Failure(
                        "limit_exceeded",
                        f"a stream event is larger than the limit of {self._max_event_bytes} bytes",
                        request_id,
                        retryable=False,
                    ) from None
                if events:
                    last_event = loop.time()
                    received = time.monotonic_ns()
                    for sse in events:
                        if saw_done:
                            continue  # events after the done event are ignored
                        if sse.data == "[DONE]":
                            chunk = StreamingChunk("", True)
                        else:
                            try:
                                chunk, error, code = _event_chunk(json.loads(sse.data))
                            except (ValueError, RecursionError) as e:
                                raise _Failure(
                                    "protocol",
                                    f"Rhetor sent an event that is not valid JSON ({e})",
                                    request_id,
                                    retryable=False,
                                ) from None
                            if error is not None:
                                raise _Failure(
                                    "service_unavailable",
                                    self.redact(f"Rhetor reported an error in the stream: {error}"),
                                    request_id,
                                    code=code,
                                    retryable=False,
                                )
                        saw_done = chunk.done
                        chunk.received_ns = received
                        if chunk.chunk:
                            sink.delivered = True
                        sink.items.append(chunk)
                        if len(sink.items) >= STREAM_BUFFER_EVENTS:
                            sink.wake()
                            await sink.wait_for_space()
                    events.clear()
                    sink.wake()
                if data is None:
                    if saw_done:
                        return
                    raise _Failure(
                        "stream_interrupted" if sink.delivered else "connection",
                        "the stream ended before its done event",
                        request_id,
                    )
        finally:
            await it.aclose()  # type: ignore[attr-defined]  # an async generator
            await self._done(resp)


# Requests in flight on one httpx client before another is opened (see HttpClient._http).
SHARD_REQUESTS = 32


class _Shard:
    """One httpx client of a loop's pool and how many requests it has in flight."""

    __slots__ = ("client", "in_flight")

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.in_flight = 0

    def load(self) -> int:
        return self.in_flight


class _Sink:
    """Between the reader task and the consumer: decoded chunks, the terminal failure, wakeups."""

    __slots__ = ("items", "error", "finished", "delivered", "stopped", "_waiter", "_space")

    def __init__(self) -> None:
        self.items: List[StreamingChunk] = []
        self.error: Optional[Tuple[_Failure, bool]] = None
        self.finished = False
        self.delivered = False  # a non-empty content chunk has been handed over
        self.stopped = False  # the consumer closed the stream
        self._waiter: Optional[asyncio.Future[None]] = None
        self._space: Optional[asyncio.Future[None]] = None

    def fail(self, failure: _Failure) -> None:
        self.error = (failure, self.delivered)
        self.wake()

    def wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    async def wait(self) -> None:
        w = self._waiter
        if w is None or w.done():
            w = self._waiter = asyncio.get_running_loop().create_future()
        await w

    def space(self) -> None:
        s = self._space
        if s is not None:
            self._space = None
            if not s.done():
                s.set_result(None)

    async def wait_for_space(self) -> None:
        while len(self.items) >= STREAM_BUFFER_EVENTS and not self.stopped:
            s = self._space = asyncio.get_running_loop().create_future()
            await s


async def _produce(http: HttpClient, body: bytes, request_id: str, sink: _Sink) -> None:
    try:
        await http._run_stream(body, request_id, sink)
    except asyncio.CancelledError:
        if http._closed and not sink.stopped and sink.error is None:
            sink.fail(_closed_failure(request_id))
        # otherwise the consumer closed or dropped the stream: end quietly
    except Exception as e:  # a bug must not leave the consumer waiting forever
        logger.exception("stream %s: unexpected error", request_id)
        sink.error = (_internal_failure("the stream reader", e, request_id), False)
    finally:
        sink.finished = True
        sink.wake()


class PureChunkStream:
    """A streamed chat. `take_ready()` hands over the chunks already decoded, without waiting;
    `next_batch()` waits for at least one. Both return None once the stream is over. An error
    before any content is raised; after content it is the last chunk (`error` set)."""

    __slots__ = ("request_id", "_http", "_body", "_sink", "_task", "_ended", "__weakref__")

    def __init__(self, http: HttpClient, body: bytes, request_id: str) -> None:
        self.request_id = request_id
        self._http = http
        self._body = body
        self._sink = _Sink()
        self._task: Optional[asyncio.Task[None]] = None
        self._ended = False

    def _start(self) -> None:
        task = asyncio.get_running_loop().create_task(_produce(self._http, self._body, self.request_id, self._sink))
        self._task = task
        tasks = self._http._tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _batch(self) -> List[StreamingChunk]:
        sink = self._sink
        items = sink.items
        if len(items) <= MAX_BATCH:
            batch, sink.items = items, []
        else:
            batch, sink.items = items[:MAX_BATCH], items[MAX_BATCH:]
        sink.space()
        if not sink.items and sink.error is not None:
            failure, delivered = sink.error
            sink.error = None
            self._ended = True
            if not delivered and not batch:
                raise failure.to_exception()
            batch.append(StreamingChunk("", True, str(failure)))
        return batch

    def take_ready(self) -> Optional[List[StreamingChunk]]:
        """The chunks ready now (maybe []), or None once the stream is over."""
        if self._ended:
            return None
        sink = self._sink
        if not sink.items and sink.error is None:
            if sink.finished:
                self._ended = True
                return None
            return []
        return self._batch()

    async def next_batch(self) -> Optional[List[StreamingChunk]]:
        """The next non-empty list of chunks, or None once the stream is over."""
        if self._ended:
            return None
        if self._task is None:
            self._start()
        sink = self._sink
        while not sink.items and sink.error is None and not sink.finished:
            await sink.wait()
            if self._ended:
                return None
        if not sink.items and sink.error is None:
            self._ended = True
            return None
        return self._batch()

    def close(self) -> None:
        """Stop now; the HTTP exchange is closed."""
        self._ended = True
        self._sink.stopped = True
        self._sink.space()
        self._sink.wake()
        task = self._task
        if task is not None and not task.done():
            _in_loop(task.get_loop(), task.cancel)

    def __del__(self) -> None:
        # Dropping the stream stops its reader, which closes the connection.
        task = getattr(self, "_task", None)
        if task is not None and not task.done():
            try:
                self._sink.stopped = True
                _in_loop(task.get_loop(), task.cancel)
            except Exception:  # pragma: no cover - interpreter shutdown
                pass

    def __repr__(self) -> str:
        return f"PureChunkStream(request_id={self.request_id!r})"
