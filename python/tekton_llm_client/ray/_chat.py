"""`RhetorChat`: a callable class for `ray.data.Dataset.map_batches`.

    ds.map_batches(RhetorChat, fn_constructor_kwargs={"rhetor_url": url, "concurrency": 64},
                   concurrency=4, batch_size=256)

One `TektonLLMClient` and one asyncio event loop per actor; each batch of rows runs through
`client.generate_batch` on that loop. Retries are made here (the client itself is built with
`max_retries=0`), so every attempt passes the job's rate limit and 429 cool-down (`limiter`, see
`shared_limiter`) and is counted in the row's `attempts`; like the client's own retries, every
attempt of a row carries the same X-Request-ID.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from typing import Any, AsyncGenerator, Dict, List, Optional, Sequence, Tuple

from .. import config
from ..batch import REQUEST_FIELDS, BatchResult
from ..client import TektonLLMClient
from ..exceptions import RateLimitError
from ._gate import Gate
from ._retry import retry_delay

# Columns a row may carry that the request is made of (`id` is the caller's and is not sent).
REQUEST_COLUMNS = REQUEST_FIELDS
OUTPUT_COLUMNS = (
    "content",
    "model",
    "provider",
    "finish_reason",
    "fallback",
    "usage_prompt_tokens",
    "usage_completion_tokens",
    "latency_s",
    "attempts",
    "error",
    "error_kind",
    "status_code",
)


# Arrow types of the output columns (pyarrow type factory names): typed even when a batch holds
# only nulls in one, so every block has the same schema.
OUTPUT_TYPES = {
    "content": "string",
    "model": "string",
    "provider": "string",
    "finish_reason": "string",
    "fallback": "bool_",
    "usage_prompt_tokens": "int64",
    "usage_completion_tokens": "int64",
    "latency_s": "float64",
    "attempts": "int64",
    "error": "string",
    "error_kind": "string",
    "status_code": "int64",
}


def _plain(value: Any) -> Any:
    """A column value as plain Python: Ray hands out numpy scalars and arrays (a list column is
    an array, a list of dicts an array of dicts), pandas NaN for a missing number."""
    if value is None or type(value) is str:  # the common case first: one check per value
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if tolist is not None:
        return _plain(tolist())
    return value


def _as_list(column: Any) -> List[Any]:
    """A column as a Python list: numpy arrays and pandas Series convert in one call."""
    if isinstance(column, list):
        return column
    tolist = getattr(column, "tolist", None)
    return tolist() if tolist is not None else list(column)


def _columns(batch: Any) -> Tuple[Dict[str, Sequence[Any]], int]:
    """The batch's request columns (only those: the rest is passed through untouched) and its
    number of rows."""
    if isinstance(batch, dict):
        names = list(batch)
        n = len(batch[names[0]]) if names else 0
        return {c: batch[c] for c in REQUEST_COLUMNS if c in batch}, n
    if hasattr(batch, "column_names") and hasattr(batch, "num_rows"):  # pyarrow.Table
        names = batch.column_names
        return {c: batch.column(c).to_pylist() for c in REQUEST_COLUMNS if c in names}, batch.num_rows
    if hasattr(batch, "columns") and hasattr(batch, "__getitem__"):  # pandas.DataFrame
        return {str(c): batch[c].tolist() for c in batch.columns if c in REQUEST_COLUMNS}, len(batch)
    raise TypeError(
        f"RhetorChat takes a batch as a dict of columns, a pyarrow Table or a pandas DataFrame, "
        f"not {type(batch).__name__}"
    )


class RhetorChat:
    """Answers each row's `prompt` (or `messages`), with its optional `system_prompt`, `options`
    (and `provider_id`, `model_id`, `context_id`, `temperature`, `max_tokens`).

    Returns the input columns plus `content`, `model`, `provider`, `finish_reason`, `fallback`,
    `usage_prompt_tokens`, `usage_completion_tokens`, `latency_s`, `attempts`, `error` (None or
    the message), `error_kind` (None or the exception's class name) and `status_code` (the HTTP
    status of a failed row's last answer, if any). A failed row is data (empty `content`)
    unless `raise_on_error=True`: then the batch raises the first row's error once every row of it
    is done.

    `concurrency`: requests in flight at most, per actor. `requests_per_s`: starts per second,
    per actor. `limiter`: the job's shared limiter (`shared_limiter(...)`): its rate is the whole
    job's, and a 429 with Retry-After seen by one actor holds new requests in every actor.
    `max_retries`, `backoff_initial`, `backoff_max`, `max_retry_after`: the retry policy (as the
    client's). Other keywords go to `TektonLLMClient` (`timeout`, `auth_token`, `backend`, ...).
    """

    def __init__(
        self,
        rhetor_url: Optional[str] = None,
        *,
        component_id: str = "ray-data",
        concurrency: int = 32,
        requests_per_s: Optional[float] = None,
        limiter: Any = None,
        max_retries: int = config.DEFAULT_MAX_RETRIES,
        backoff_initial: float = config.DEFAULT_BACKOFF_INITIAL,
        backoff_max: float = config.DEFAULT_BACKOFF_MAX,
        max_retry_after: float = config.DEFAULT_MAX_RETRY_AFTER,
        raise_on_error: bool = False,
        **client_kw: Any,
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if "max_retries" in client_kw:
            raise TypeError("max_retries is RhetorChat's own (retries pass the shared limiter)")
        self.concurrency = concurrency
        self.requests_per_s = requests_per_s
        self.max_retries = max_retries
        self._backoff = (float(backoff_initial), float(backoff_max), float(max_retry_after))
        self.raise_on_error = raise_on_error
        self._client = TektonLLMClient(
            component_id,
            rhetor_url,
            max_retries=0,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
            **client_kw,
        )
        self._gate = Gate(limiter, max_grant=concurrency)
        self._loop = asyncio.new_event_loop()  # the actor's: every batch runs on it

    def __call__(self, batch: Any) -> Any:
        columns, _ = _columns(batch)
        if "prompt" not in columns and "messages" not in columns:
            raise ValueError("RhetorChat needs a 'prompt' or a 'messages' column")
        names = list(columns)
        rows = zip(*[[_plain(v) for v in _as_list(columns[c])] for c in names], strict=True)
        requests = [dict(zip(names, values, strict=True)) for values in rows]
        refused = (
            {i: err for i, err in ((i, _parse_options(r)) for i, r in enumerate(requests)) if err}
            if "options" in columns
            else {}
        )
        sent = [r for i, r in enumerate(requests) if i not in refused] if refused else requests
        outcomes = self._loop.run_until_complete(self._answer(sent))
        for i in sorted(refused):
            outcomes.insert(i, (refused[i], 0))
        if self.raise_on_error:
            for outcome, _ in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
        added = _output_columns(outcomes)
        if isinstance(batch, dict):
            return {**batch, **added}
        if hasattr(batch, "append_column"):  # pyarrow: the input columns as they are, typed additions
            import pyarrow as pa

            for name, values in added.items():
                batch = batch.append_column(name, pa.array(values, type=getattr(pa, OUTPUT_TYPES[name])()))
            return batch
        out = batch.copy()
        for name, values in added.items():
            out[name] = values
        return out

    async def _answer(self, requests: List[Dict[str, Any]]) -> List[Tuple[Any, int]]:
        """(response or error, attempts) per request, in order. Rounds: every row due is sent
        through one `generate_batch`; the retryable failures go again in the next round."""
        for i, request in enumerate(requests):
            request["id"] = str(i)  # the runner's key for the row (the caller's `id` column is not sent)
            request["request_id"] = str(uuid.uuid4())  # one per row, for every attempt: as the client's retries
        outcomes: List[Any] = [None] * len(requests)
        attempts = [0] * len(requests)
        due: List[Tuple[float, int]] = [(0.0, i) for i in range(len(requests))]
        while due:
            due.sort()
            again: List[Tuple[float, int]] = []
            async with self._client.generate_batch(
                self._paced(requests, due), concurrency=self.concurrency, rate_limit=self.requests_per_s
            ) as results:
                async for r in results:
                    i = int(r.id)
                    attempts[i] += 1
                    delay = self._settle(r, attempts[i])
                    if delay is None:
                        outcomes[i] = r.response if r.ok else r.error
                    else:
                        again.append((time.time() + delay, i))
            due = again
        return list(zip(outcomes, attempts, strict=True))

    def _settle(self, r: BatchResult, attempts: int) -> Optional[float]:
        """None when the row is done, else the seconds to wait before asking again."""
        if r.ok or r.error is None:
            return None
        if isinstance(r.error, RateLimitError) and r.error.retry_after is not None:
            self._gate.note_cool_down(time.time() + min(max(0.0, r.error.retry_after), self._backoff[2]))
        return retry_delay(r.error, attempts, self.max_retries, *self._backoff)

    async def _paced(
        self, requests: List[Dict[str, Any]], due: List[Tuple[float, int]]
    ) -> AsyncGenerator[Dict[str, Any], None]:
        for not_before, i in due:
            wait = not_before - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._gate.wait_turn()
            yield requests[i]


def _parse_options(request: Dict[str, Any]) -> Optional[ValueError]:
    """`options` given as a JSON string (recommended when rows' options differ: Arrow turns dicts
    into one struct type with the union of every row's keys) becomes a dict; an error when it is
    not valid JSON (the row is then not sent)."""
    options = request.get("options")
    if isinstance(options, str):
        try:
            request["options"] = json.loads(options)
        except ValueError as exc:
            return ValueError(f"options is not valid JSON: {exc}")
    return None


def _output_columns(outcomes: List[Tuple[Any, int]]) -> Dict[str, List[Any]]:
    cols: Dict[str, List[Any]] = {name: [] for name in OUTPUT_COLUMNS}
    for outcome, attempts in outcomes:
        failed = isinstance(outcome, BaseException)
        usage = None if failed else outcome.usage
        cols["content"].append("" if failed else outcome.content)
        cols["model"].append(None if failed else outcome.model)
        cols["provider"].append(None if failed else outcome.provider)
        cols["finish_reason"].append(None if failed else outcome.finish_reason)
        cols["fallback"].append(None if failed else bool(outcome.fallback))
        cols["usage_prompt_tokens"].append(None if usage is None else usage.prompt_tokens)
        cols["usage_completion_tokens"].append(None if usage is None else usage.completion_tokens)
        cols["latency_s"].append(None if failed else outcome.latency)
        cols["attempts"].append(attempts)
        cols["error"].append(str(outcome) if failed else None)
        cols["error_kind"].append(type(outcome).__name__ if failed else None)
        cols["status_code"].append(getattr(outcome, "status_code", None) if failed else None)
    return cols
