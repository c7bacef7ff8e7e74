"""The servers a run can measure. Each target sends one request and fills its RequestRecord;
it never raises for a failed request: the failure is recorded by kind and the run goes on."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

from .._backend import http_transport, native, scheduled_openai_stream, scheduled_stream
from ..client import TektonLLMClient
from ..exceptions import TektonLLMError
from .record import RequestRecord
from .workload import Prompt


async def drain_native(record: RequestRecord, open_stream: Callable[[], Any]) -> None:
    """Reads a native stream sent by the I/O thread at record.scheduled_ns into the record:
    chunk times are `received_ns` (socket), the send time is the stream's `started_ns`."""
    record.timestamps = "socket"
    stream: Any = None
    try:
        stream = open_stream()
        while True:
            batch = await stream.next_batch()
            if batch is None:
                break
            for chunk in batch:
                if not record.add_chunk(chunk, chunk.error and _error_class(stream.failure_kind)):
                    return
        record.end_ns = record.end_ns or time.monotonic_ns()
        record.finished = True
    except Exception as exc:  # every failure is data: counted by its type
        record.fail(type(exc).__name__, str(exc), time.monotonic_ns())
    finally:
        if stream is not None:
            record.sent_ns = stream.started_ns or record.sent_ns or time.monotonic_ns()
            stream.close()


def kernel_receive_times(url: str) -> bool:
    """Whether the Rust core stamps `url`'s chunks with the kernel's receive time (it decides:
    http:// with no proxy) rather than when its reader got the bytes."""
    core = native()
    if core is None:
        return False
    try:
        return bool(core.HttpClient(url, "tekton-llm-bench").kernel_receive_times)
    except (ValueError, RuntimeError):  # a URL the client refuses: the run will say why
        return False


def _error_class(kind: Optional[str]) -> Optional[str]:
    """The exception class name of a core error kind (what a failure before output raises)."""
    from ..exceptions import error_from_kind

    return type(error_from_kind(kind, "")).__name__ if kind else None


async def _preconnect(http: Any, count: int) -> int:
    """`http.preconnect(count)` (either backend's HttpClient); 0 without one, or when the server
    cannot be reached (then the run's requests fail, and are counted, one by one)."""
    if http is None or count <= 0:
        return 0
    try:
        return int(await http.preconnect(count))
    except TektonLLMError:
        return 0


class RhetorTarget:
    """Rhetor (v1 or an older dialect) through this package's client. On the Rust backend each
    chunk carries `received_ns`, taken when the reader got its bytes from the socket, and (v1)
    the request is sent by the I/O thread itself at its scheduled time (`stream_chat_at`, a
    timerfd deadline): Python's event loop only has to hand it over a little ahead."""

    # Set by prepare(): whether send() starts requests at record.scheduled_ns on its own.
    sends_at_schedule = False

    def __init__(
        self,
        url: str,
        backend: str,
        *,
        model: Optional[str],
        timeout: float,
        headers: Mapping[str, str],
        sim_knobs: Optional[Dict[str, Any]],
        dialect: Optional[str],
        pool_size: int,
    ) -> None:
        self.client = TektonLLMClient(
            "tekton-llm-bench",
            rhetor_url=url,
            backend=backend,
            model_id=model,
            timeout=timeout,
            max_retries=0,
            use_fallback=False,
            headers=dict(headers),
            dialect=dialect,
            pool_size=pool_size,
        )
        self._options = {"sim": sim_knobs} if sim_knobs else None
        self.timestamps = "socket" if backend == "rust" else "delivery"
        self._backend = backend
        self._model = model
        self._v1 = False  # set by prepare()

    async def prepare(self) -> Dict[str, Any]:
        """Detects the dialect (one request, before the run). Returns what the report says of it."""
        await self.client.initialize(raise_on_error=False)
        dialect = self.client.dialect or "unknown"
        self.sends_at_schedule = self._backend == "rust" and dialect == "v1"
        self._v1 = dialect == "v1"
        info: Dict[str, Any] = {"dialect": dialect, "streams": dialect == "v1"}
        if dialect not in ("v1", "unknown"):
            info["note"] = (
                f"the {dialect} dialect cannot stream: each answer arrives whole, "
                "so TTFT equals E2E and there are no inter-token gaps"
            )
        return info

    async def send(self, record: RequestRecord, prompt: Prompt) -> None:
        if self.sends_at_schedule:
            await self._send_scheduled(record, prompt)
            return
        record.timestamps = self.timestamps
        try:
            call = self.client.generate_chat_response(
                prompt.messages, streaming=True, options=self._options, max_tokens=prompt.max_tokens
            )
            record.sent_ns = time.monotonic_ns()
            async for chunk in call:
                if not record.add_chunk(chunk):
                    return
            record.end_ns = record.end_ns or time.monotonic_ns()
            record.finished = True
        except Exception as exc:  # every failure is data: counted by its type
            record.fail(type(exc).__name__, str(exc), time.monotonic_ns())

    async def _send_scheduled(self, record: RequestRecord, prompt: Prompt) -> None:
        """The native stream, sent by the I/O thread at record.scheduled_ns."""
        options: Dict[str, Any] = dict(self._options or {})
        if prompt.max_tokens is not None:
            options["max_tokens"] = prompt.max_tokens
        await drain_native(
            record,
            lambda: scheduled_stream(
                self.client._http,
                prompt.messages,
                record.scheduled_ns,
                context_id="tekton-llm-bench",
                model_id=self._model,
                options=options or None,
            ),
        )

    async def preconnect(self, count: int) -> int:
        """Opens up to `count` idle connections for the v1 requests of either backend; how many."""
        return await _preconnect(self.client._http if self._v1 else None, count)

    async def close(self) -> None:
        await self.client.shutdown()


class OpenAiTarget:
    """An OpenAI-compatible server (`POST /v1/chat/completions`, `stream: true`). On the Rust
    backend the I/O thread sends each request at its scheduled time and times each chunk at the
    socket (`HttpClient.stream_openai_at`), as for Rhetor v1; with `--backend python` it is
    httpx on the event loop, chunk times taken when Python reads the bytes (delivery)."""

    def __init__(
        self,
        url: str,
        backend: str,
        *,
        model: Optional[str],
        timeout: float,
        headers: Mapping[str, str],
        sim_knobs: Optional[Dict[str, Any]],
        pool_size: int,
    ) -> None:
        import httpx

        self._httpx = httpx
        self.base = url.rstrip("/")
        if self.base.endswith("/v1"):
            self.base = self.base[:-3]
        self.model = model
        self._sim = sim_knobs
        # /v1/models (and the python backend's requests) go through httpx.
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers=dict(headers),
            limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
        )
        # On the Rust backend, the native HttpClient sends and times each stream.
        self.native: Any = None
        if backend == "rust" and native() is not None:
            self.native = http_transport(
                "rust",
                self.base,
                "tekton-llm-bench",
                {
                    "timeout": timeout,
                    "connect_timeout": min(timeout, 10.0),
                    "stream_idle_timeout": timeout,
                    "max_retries": 0,
                    "pool_max_idle_per_host": pool_size,
                    "headers": list(headers.items()),
                },
            )
        self.sends_at_schedule = self.native is not None
        self.timestamps = "socket" if self.native is not None else "delivery"

    async def prepare(self) -> Dict[str, Any]:
        """Asks `/v1/models` for a model when none was named."""
        if self.model is None:
            try:
                answer = await self.http.get(self.base + "/v1/models")
                answer.raise_for_status()
                self.model = str(answer.json()["data"][0]["id"])
            except Exception as exc:
                raise RuntimeError(f"no --model given and {self.base}/v1/models did not name one ({exc})") from None
        return {"dialect": "openai", "streams": True, "model": self.model}

    def _body(self, prompt: Prompt) -> Dict[str, Any]:
        body: Dict[str, Any] = {
            "model": self.model,
            "messages": prompt.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if prompt.max_tokens is not None:
            body["max_tokens"] = prompt.max_tokens
        if self._sim:
            body["sim"] = self._sim
        return body

    async def send(self, record: RequestRecord, prompt: Prompt) -> None:
        if self.native is not None:
            body = self._body(prompt)
            await drain_native(
                record,
                lambda: scheduled_openai_stream(self.native, "/v1/chat/completions", body, record.scheduled_ns),
            )
            return
        record.timestamps = self.timestamps
        httpx = self._httpx
        try:
            record.sent_ns = time.monotonic_ns()
            async with self.http.stream(
                "POST", self.base + "/v1/chat/completions", json=self._body(prompt)
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    record.fail(f"HTTP {response.status_code}", response.text[:300], time.monotonic_ns())
                    return
                parser = _SseEvents()
                async for raw in response.aiter_raw():
                    at = time.monotonic_ns()
                    for data in parser.feed(raw):
                        if self._event(record, data, at):
                            record.end_ns = at
                            record.finished = True
                            return
            record.fail("StreamInterruptedError", "the stream ended without data: [DONE]", time.monotonic_ns())
        except _Stop:
            return
        except _BadEvent as exc:
            record.fail("ProtocolError", str(exc), time.monotonic_ns())
        except httpx.TimeoutException as exc:
            record.fail("TimeoutError", str(exc) or type(exc).__name__, time.monotonic_ns())
        except httpx.ConnectError as exc:
            record.fail("ConnectionError", str(exc) or type(exc).__name__, time.monotonic_ns())
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            record.fail("StreamInterruptedError", str(exc) or type(exc).__name__, time.monotonic_ns())
        except Exception as exc:
            record.fail(type(exc).__name__, str(exc), time.monotonic_ns())

    @staticmethod
    def _event(record: RequestRecord, data: str, at: int) -> bool:
        """Applies one `data:` payload; True at `[DONE]`."""
        if data.strip() == "[DONE]":
            return True
        try:
            event = json.loads(data)
        except ValueError:
            raise _BadEvent(f"an event is not JSON: {data[:100]!r}") from None
        if not isinstance(event, dict):
            raise _BadEvent(f"an event is not a JSON object: {data[:100]!r}")
        if "error" in event:
            error = event["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            # what the Rust path raises for it (ServiceUnavailableError), so both paths agree
            record.fail("ServiceUnavailableError", f"the server reported an error in the stream: {message}", at)
            raise _Stop()
        for choice in event.get("choices") or []:
            content = ((choice or {}).get("delta") or {}).get("content")
            if content:
                record.chunk_ns.append(at)
                record.text_parts.append(str(content))
        usage = event.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            record.usage_output_tokens = usage["completion_tokens"]
        return False

    async def preconnect(self, count: int) -> int:
        """Opens up to `count` idle connections for the Rust reader (httpx: none); how many."""
        return await _preconnect(self.native, count)

    async def close(self) -> None:
        await self.http.aclose()
        if self.native is not None:
            self.native.close()


class _BadEvent(Exception):
    """A malformed event from the server (counted as ProtocolError)."""


class _Stop(Exception):
    """The record already holds the failure."""


class _SseEvents:
    """Incremental SSE framing: bytes in, the `data` of each complete event out. Bounded: an
    event larger than MAX_EVENT bytes is an error, not unbounded memory."""

    MAX_EVENT = 8 << 20

    def __init__(self) -> None:
        self._buf = b""
        self._after_cr = False

    def feed(self, raw: bytes) -> List[str]:
        # Line ends (CR LF, CR, LF) all become LF. A CR that ends a read is a line end whatever
        # follows; an LF that then starts the next read is its other half and is dropped.
        if self._after_cr and raw.startswith(b"\n"):
            raw = raw[1:]
        self._after_cr = raw.endswith(b"\r")
        self._buf += raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out: List[str] = []
        while True:
            end = self._buf.find(b"\n\n")
            if end < 0:
                break
            block, self._buf = self._buf[:end], self._buf[end + 2 :]
            lines = [ln[5:].lstrip(b" ") for ln in block.split(b"\n") if ln.startswith(b"data:")]
            if lines:
                out.append(b"\n".join(lines).decode("utf-8", "replace"))
        if len(self._buf) > self.MAX_EVENT:
            raise _BadEvent(f"an event is larger than {self.MAX_EVENT} bytes")
        return out
