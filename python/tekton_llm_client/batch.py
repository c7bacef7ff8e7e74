"""High-throughput batches: `client.generate_batch(requests)`.

    async with client.generate_batch(prompts, concurrency=64, rate_limit=50) as results:
        async for r in results:
            print(r.id, r.content if r.ok else r.error)

Requests are prompts (str) or dicts with `prompt` or `messages` and optionally `id`,
`system_prompt`, `options`, `provider_id`, `model_id`, `context_id`, `temperature`,
`max_tokens` and `request_id` (the item's X-Request-ID, kept by every retry; a new one when
absent). Results arrive as they complete, each with the item's `id` (given, or its index as a
str) and `index`, and either a `CompletionResponse` or the error; a failed item never stops the
batch. The input (any iterable or async iterable) is read lazily: at most `window` items
(default `2 * concurrency`) are submitted and not yet handed out at any time.

On the Rust backend (talking to a v1 Rhetor) the concurrency limit, the rate limiter and the HTTP
calls run in Rust (`_core.BatchRunner`); finished items cross into Python in batches. The pure backend does the same
with asyncio (`_pure/batch.py`). The client's retry policy applies to every item, and so does its
fallback policy (a retryable failure asks the fallback provider/model once, `fallback=True`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import (
    Any,
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    Mapping,
    Optional,
    Tuple,
    Type,
    Union,
)

from ._backend_interface import BatchRunner, Messages, Options
from ._call_args import CallArgs, CallDefaults, call_args, checked_messages, fallback_args
from .exceptions import TektonLLMError
from .models import CompletionResponse

__all__ = ["BatchResult", "BatchIterator", "BatchRequest", "REQUEST_FIELDS", "prepare_item"]

BatchRequest = Union[str, Mapping[str, Any]]

# What a request is made of, as keys of a request dict (and columns of a Ray batch).
REQUEST_FIELDS = (
    "prompt",
    "messages",
    "system_prompt",
    "options",
    "provider_id",
    "model_id",
    "context_id",
    "temperature",
    "max_tokens",
)
# Keys of a request dict the batch understands; others are the caller's own and are ignored.
_ITEM_KEYS = frozenset({"id", "request_id", *REQUEST_FIELDS})


@dataclass
class BatchResult:
    """One finished item: `response` when it succeeded, else `error` (a TektonLLMError, or a
    ValueError/TypeError for an item that could not be sent)."""

    id: str
    index: int
    response: Optional[CompletionResponse] = None
    error: Optional[BaseException] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def content(self) -> str:
        """The answer's text ("" for a failed item)."""
        return self.response.content if self.response is not None else ""


@dataclass
class _Prepared:
    messages: Messages
    kw: CallArgs
    fallback: Optional[Tuple[Optional[str], Optional[str], Options]] = field(default=None)
    request_id: Optional[str] = None


# Opens the runner a batch goes through: (concurrency, rate, burst) → (runner, native?).
RunnerOpener = Callable[[int, Optional[float], int], Awaitable[Tuple[BatchRunner, bool]]]


def _optional_str(item: Mapping[str, Any], key: str) -> Optional[str]:
    v = item.get(key)
    if v is not None and not isinstance(v, str):
        raise TypeError(f"{key} must be a string, not {type(v).__name__}")
    return v


def prepare_item(defaults: CallDefaults, raw: object, index: int) -> Tuple[str, Union[_Prepared, BaseException]]:
    """(id, prepared request) for one input item, or (id, the error) when it cannot be sent."""
    item_id = str(index)
    try:
        if isinstance(raw, str):
            item: Mapping[str, Any] = {"prompt": raw}
        elif isinstance(raw, Mapping):
            item = raw
            if item.get("id") is not None:
                item_id = str(item["id"])
        else:
            raise TypeError(f"a batch item is a prompt (str) or a dict, not {type(raw).__name__}")
        prompt, messages = item.get("prompt"), item.get("messages")
        if prompt is not None and messages is not None:
            raise ValueError("give either 'prompt' or 'messages', not both")
        if prompt is not None:
            if not isinstance(prompt, str):
                raise TypeError(f"prompt must be a str, not {type(prompt).__name__}")
            msgs: Messages = [{"role": "user", "content": prompt}]
        elif messages is not None:
            msgs = checked_messages(messages)
        else:
            raise ValueError("the item has neither 'prompt' nor 'messages'")
        options = item.get("options")
        if options is not None and not isinstance(options, Mapping):
            raise TypeError("options must be a dict")
        kw = call_args(
            defaults,
            _optional_str(item, "system_prompt"),
            options,
            _optional_str(item, "context_id"),
            _optional_str(item, "provider_id"),
            _optional_str(item, "model_id"),
            item.get("temperature"),
            item.get("max_tokens"),
        )
        fb = fallback_args(defaults, kw)
        fallback = (fb["provider_id"], fb["model_id"], fb["options"]) if fb is not None else None
        return item_id, _Prepared(msgs, kw, fallback, _optional_str(item, "request_id"))
    except (TypeError, ValueError) as exc:
        return item_id, exc


async def _as_async(
    requests: Union[Iterable[BatchRequest], AsyncIterable[BatchRequest]],
) -> AsyncGenerator[BatchRequest, None]:
    if hasattr(requests, "__aiter__"):
        async for r in requests:
            yield r
    else:
        for r in requests:
            yield r


class BatchIterator:
    """What `generate_batch` returns: an async iterator of BatchResult in completion order.

    Leaving the loop early does not stop items already submitted until the iterator is closed:
    use `async with` or call `aclose()` (it stops everything still waiting or running).
    """

    def __init__(
        self,
        defaults: CallDefaults,
        open_runner: RunnerOpener,
        requests: Union[Iterable[BatchRequest], AsyncIterable[BatchRequest]],
        concurrency: int = 32,
        rate_limit: Optional[float] = None,
        *,
        burst: int = 1,
        window: Optional[int] = None,
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        if rate_limit is not None and not (isinstance(rate_limit, (int, float)) and 0 < rate_limit < float("inf")):
            raise ValueError(f"rate_limit must be a positive number of requests per second, got {rate_limit!r}")
        if not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be a positive int, got {burst!r}")
        self.concurrency = concurrency
        self.burst = burst
        self.rate_limit = None if rate_limit is None else float(rate_limit)
        self.window = max(window if window is not None else 2 * concurrency, concurrency)
        self._defaults = defaults
        self._open_runner = open_runner
        self._requests = requests
        self._runner: Optional[BatchRunner] = None
        self.native = False
        self.pulled = 0
        """Items read from the input so far."""
        self.completed = 0
        """Results handed out so far (failed ones included)."""
        self.failed = 0
        self._gen = self._run()

    def __aiter__(self) -> "BatchIterator":
        return self

    async def __anext__(self) -> BatchResult:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop now: items still waiting or running are dropped."""
        await self._gen.aclose()
        if self._runner is not None:
            self._runner.close()

    async def __aenter__(self) -> "BatchIterator":
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aclose()

    @property
    def in_flight(self) -> int:
        """Items whose HTTP call is running now."""
        return int(self._runner.in_flight) if self._runner is not None else 0

    @property
    def peak_in_flight(self) -> int:
        """The most items that ran at once so far (never above `concurrency`)."""
        return int(self._runner.peak_in_flight) if self._runner is not None else 0

    def _result(self, item_id: str, index: int, value: Union[CompletionResponse, BaseException]) -> BatchResult:
        self.completed += 1
        if isinstance(value, CompletionResponse):
            return BatchResult(item_id, index, response=value)
        self.failed += 1
        return BatchResult(item_id, index, error=value)

    async def _run(self) -> AsyncGenerator[BatchResult, None]:
        runner, native = await self._open_runner(self.concurrency, self.rate_limit, self.burst)
        self._runner, self.native = runner, native
        source = _as_async(self._requests)
        ids: Dict[int, str] = {}  # key (= index) → id, for items submitted and not yet handed out
        exhausted = False
        try:
            while True:
                # Fill: pull from the input only while there is room, so memory stays bounded.
                while not exhausted and len(ids) < self.window:
                    try:
                        raw = await source.__anext__()
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    index = self.pulled
                    self.pulled += 1
                    item_id, prep = prepare_item(self._defaults, raw, index)
                    if isinstance(prep, BaseException):
                        yield self._result(item_id, index, prep)
                        continue
                    try:
                        runner.submit(
                            index, prep.messages, fallback=prep.fallback, request_id=prep.request_id, **prep.kw
                        )
                    except (TypeError, ValueError, OverflowError, TektonLLMError) as exc:
                        # e.g. options that cannot be encoded as JSON
                        yield self._result(item_id, index, exc)
                        continue
                    ids[index] = item_id
                if not ids:
                    return
                finished = runner.take_ready()
                if not finished:
                    finished = await runner.next_results()
                    if not finished:
                        return  # closed under us
                for key, _ok, value in finished:
                    yield self._result(ids.pop(key), key, value)
        finally:
            runner.close()
            await source.aclose()
