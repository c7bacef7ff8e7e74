"""Response and message models.

Plain classes with `__slots__`: a streamed chunk is built thousands of times a second, so no
validation runs on construction (the Rust core has already decoded and checked the JSON).
Each has `to_dict()`, value equality and a readable repr.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

__all__ = [
    "Message",
    "Usage",
    "CompletionResponse",
    "StreamingChunk",
    "ModelInfo",
    "ProviderInfo",
    "ProvidersResponse",
    "HealthStatus",
    "MessageLike",
]


class _Model:
    __slots__: Tuple[str, ...] = ()
    # What the value is made of (compared, shown, serialised): the slots, unless a class leaves
    # out a measurement such as a chunk's arrival time.
    _fields: Tuple[str, ...] = ()

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "_fields" not in cls.__dict__:
            cls._fields = cls.__slots__

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for name in self._fields:
            value = getattr(self, name)
            if isinstance(value, _Model):
                value = value.to_dict()
            elif isinstance(value, list):
                value = [v.to_dict() if isinstance(v, _Model) else v for v in value]
            elif isinstance(value, dict):
                value = {k: v.to_dict() if isinstance(v, _Model) else v for k, v in value.items()}
            out[name] = value
        return out

    # pydantic-style alias, for code written against the earlier library.
    def model_dump(self) -> Dict[str, Any]:
        return self.to_dict()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields)

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({fields})"

    __hash__ = None  # type: ignore[assignment]


class Message(_Model):
    """One chat message. `role` is system, user, assistant or tool."""

    __slots__ = ("role", "content", "name")

    def __init__(self, role: str, content: str, name: Optional[str] = None) -> None:
        self.role = role
        self.content = content
        self.name = name

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name is not None:
            d["name"] = self.name
        return d


MessageLike = Union[Message, Mapping[str, Any]]


class Usage(_Model):
    """Token usage. Also readable as a mapping (`usage["total_tokens"]`)."""

    __slots__ = ("prompt_tokens", "completion_tokens", "total_tokens")

    def __init__(self, prompt_tokens: int = 0, completion_tokens: int = 0, total_tokens: Optional[int] = None) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.total_tokens = (prompt_tokens + completion_tokens) if total_tokens is None else total_tokens

    def __getitem__(self, key: str) -> int:
        if key not in self.__slots__:
            raise KeyError(key)
        return int(getattr(self, key))

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default) if key in self.__slots__ else default

    def keys(self) -> List[str]:
        return list(self.__slots__)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__slots__)

    @classmethod
    def from_mapping(cls, m: Optional[Mapping[str, Any]]) -> Optional["Usage"]:
        if not m:
            return None
        p = int(m.get("prompt_tokens", m.get("promptTokens", m.get("input_tokens", 0))) or 0)
        c = int(m.get("completion_tokens", m.get("completionTokens", m.get("output_tokens", 0))) or 0)
        t = m.get("total_tokens", m.get("totalTokens"))
        return cls(p, c, int(t) if t is not None else None)


class CompletionResponse(_Model):
    """A whole answer. `fallback` is True only when a fallback provider/model really answered;
    `provider` and `model` then name what answered. `latency` is seconds from call to answer."""

    __slots__ = (
        "content",
        "model",
        "provider",
        "finish_reason",
        "usage",
        "context_id",
        "fallback",
        "timestamp",
        "latency",
        "request_id",
    )

    def __init__(
        self,
        content: str,
        model: str = "",
        provider: str = "",
        finish_reason: Optional[str] = None,
        usage: Optional[Usage] = None,
        context_id: Optional[str] = None,
        fallback: bool = False,
        timestamp: Optional[str] = None,
        latency: Optional[float] = None,
        request_id: Optional[str] = None,
    ) -> None:
        self.content = content
        self.model = model
        self.provider = provider
        self.finish_reason = finish_reason
        self.usage = usage
        self.context_id = context_id
        self.fallback = fallback
        self.timestamp = timestamp
        self.latency = latency
        self.request_id = request_id

    def __str__(self) -> str:
        return self.content


class StreamingChunk(_Model):
    """One piece of a streamed answer. The last chunk has `done=True`; a stream that failed after
    it started ends with a chunk whose `error` is set (and `done=True`).

    `received_ns` is when the chunk's bytes arrived, on the clock of `time.monotonic_ns()`: on
    the Rust backend over http:// and on its WebSocket client the kernel's receive time (when
    they reached the socket), otherwise when the client read them from it (None where the
    transport cannot tell). Measure latency with it, not
    with the time the loop handed the chunk over. It is a measurement, not part of the value:
    equality, `repr` and `to_dict` leave it out."""

    __slots__ = (
        "chunk",
        "done",
        "error",
        "model",
        "provider",
        "fallback",
        "finish_reason",
        "usage",
        "context_id",
        "timestamp",
        "received_ns",
    )
    _fields = __slots__[:-1]

    def __init__(
        self,
        chunk: str = "",
        done: bool = False,
        error: Optional[str] = None,
        model: Optional[str] = None,
        provider: Optional[str] = None,
        fallback: bool = False,
        finish_reason: Optional[str] = None,
        usage: Optional[Usage] = None,
        context_id: Optional[str] = None,
        timestamp: Optional[str] = None,
        received_ns: Optional[int] = None,
    ) -> None:
        self.chunk = chunk
        self.done = done
        self.error = error
        self.model = model
        self.provider = provider
        self.fallback = fallback
        self.finish_reason = finish_reason
        self.usage = usage
        self.context_id = context_id
        self.timestamp = timestamp
        self.received_ns = received_ns

    # the old client's name for the text
    @property
    def content(self) -> str:
        return self.chunk


class ModelInfo(_Model):
    __slots__ = ("id", "name", "context_length")

    def __init__(self, id: str, name: str = "", context_length: Optional[int] = None) -> None:  # noqa: A002
        self.id = id
        self.name = name or id
        self.context_length = context_length


class ProviderInfo(_Model):
    __slots__ = ("id", "name", "available", "models")

    def __init__(
        self,
        id: str,
        name: str = "",
        available: bool = False,  # noqa: A002
        models: Optional[List[ModelInfo]] = None,
    ) -> None:
        self.id = id
        self.name = name or id
        self.available = available
        self.models = models or []


class ProvidersResponse(_Model):
    __slots__ = ("providers", "default_provider", "default_model")

    def __init__(
        self,
        providers: Dict[str, ProviderInfo],
        default_provider: Optional[str] = None,
        default_model: Optional[str] = None,
    ) -> None:
        self.providers = providers
        self.default_provider = default_provider
        self.default_model = default_model

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ProvidersResponse":
        providers: Dict[str, ProviderInfo] = {}
        raw = d.get("providers") or {}
        if isinstance(raw, list):  # tolerate a list of {id, ...}
            raw = {p.get("id", str(i)): p for i, p in enumerate(raw)}
        for pid, p in raw.items():
            models = [
                ModelInfo(m, m)
                if isinstance(m, str)
                else ModelInfo(
                    str(m.get("id", "")), str(m.get("name", "")), m.get("context_length", m.get("contextLength"))
                )
                for m in (p.get("models") or [])
            ]
            providers[pid] = ProviderInfo(pid, str(p.get("name", pid)), bool(p.get("available", False)), models)
        return cls(
            providers,
            d.get("default_provider", d.get("defaultProvider")),
            d.get("default_model", d.get("defaultModel")),
        )


class HealthStatus(_Model):
    """`status` is "healthy" or "degraded"; `dialect` is what the client detected (v1, gen_a, gen_b)."""

    __slots__ = ("status", "version", "providers", "dialect")

    def __init__(
        self,
        status: str,
        version: Optional[str] = None,
        providers: Optional[Dict[str, bool]] = None,
        dialect: str = "v1",
    ) -> None:
        self.status = status
        self.version = version
        self.providers = providers or {}
        self.dialect = dialect

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"
