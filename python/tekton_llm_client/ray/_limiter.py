"""`shared_limiter()`: one small Ray actor holding a job's `SlotBook`, for every `RhetorChat`."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ._slots import SlotBook


class _LimiterActor:
    """The Ray actor's class (made remote in `shared_limiter`): a `SlotBook` behind three calls."""

    def __init__(self, requests_per_s: Optional[float]) -> None:
        self._book = SlotBook(requests_per_s)

    def grant(self, n: int) -> Any:
        return self._book.grant(n)

    def cool_down(self, until: float) -> float:
        return self._book.cool_down(until)

    def stats(self) -> Dict[str, Any]:
        return self._book.stats()


def shared_limiter(requests_per_s: Optional[float] = None, *, name: Optional[str] = None) -> Any:
    """Start the job's limiter actor and return its handle; pass it to every actor as
    `fn_constructor_kwargs={"limiter": handle, ...}`. `requests_per_s` is the whole job's rate
    (None: no rate, only the shared 429 cool-down). The actor takes no CPU (`num_cpus=0`) and does
    nothing but bookkeeping, so one per job is enough."""
    import ray

    if requests_per_s is not None:
        SlotBook(requests_per_s)  # validate here, in the caller, not later in the actor
    actor_cls = ray.remote(num_cpus=0, max_restarts=-1)(_LimiterActor)
    options: Dict[str, Any] = {"name": name} if name is not None else {}
    return actor_cls.options(**options).remote(requests_per_s)
