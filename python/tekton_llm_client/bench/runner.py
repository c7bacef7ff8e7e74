"""The load generators: open loop (requests due on a seeded schedule, latencies measured from
the time each was due, whatever the client or the concurrency cap made it wait) and closed loop
(N workers, each sending as soon as its previous request ended). Warm-up requests go first and
are not recorded. Scheduling runs on the asyncio loop; how late each send was is measured and
reported (schedule_lag_ms), and so is the loop's own lag."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional, Protocol, Sequence

from .arrivals import arrival_offsets
from .full_gc_hold import full_gc_held
from .record import RequestRecord
from .workload import Prompt

# The loop-lag probe's period: short enough to see stalls of a few ms, cheap enough to ignore.
PROBE_PERIOD_S = 0.005
# The first request is due this long after the run starts, so setting up is not counted as lag.
START_DELAY_NS = 20_000_000
# A target that sends at the scheduled time itself (Rust timer) is handed each request this
# long before it is due, so a late event loop does not make the send late.
HANDOVER_LEAD_NS = 20_000_000


class Sends(Protocol):
    # True when send() waits for record.scheduled_ns itself (precisely, off the event loop).
    sends_at_schedule: bool

    async def send(self, record: RequestRecord, prompt: Prompt) -> None: ...


class Target(Sends, Protocol):
    # Opens up to `count` idle connections for the run (where the backend can); how many.
    async def preconnect(self, count: int) -> int: ...


@dataclass
class LoadSpec:
    mode: str  # "open" | "closed"
    rate: Optional[float] = None
    arrival: str = "constant"
    burstiness: float = 1.0
    seed: int = 0
    max_concurrency: Optional[int] = None
    concurrency: Optional[int] = None
    requests: Optional[int] = None
    duration_s: Optional[float] = None
    warmup: int = 0


@dataclass
class RunOutcome:
    records: List[RequestRecord]
    started_ns: int
    ended_ns: int
    cpu_s: float
    loop_lag_ns: List[int] = field(default_factory=list)
    interrupted: bool = False
    # Connections opened before the measured requests (`connections_ahead`).
    preconnected: int = 0

    @property
    def elapsed_s(self) -> float:
        return max(0.0, (self.ended_ns - self.started_ns) / 1e9)


class LoopLagProbe:
    """Sleeps PROBE_PERIOD_S again and again and records how late each wake-up was."""

    def __init__(self) -> None:
        self.lags: List[int] = []
        self._task: Optional["asyncio.Task[None]"] = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            due = time.monotonic_ns() + int(PROBE_PERIOD_S * 1e9)
            await asyncio.sleep(PROBE_PERIOD_S)
            self.lags.append(max(0, time.monotonic_ns() - due))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def warm_up(target: Sends, prompts: Sequence[Prompt], count: int, parallel: int) -> List[RequestRecord]:
    """`count` requests (at most `parallel` at once), not recorded in the run: opens
    connections, wakes the server's caches. Returns them, for how long a request takes."""
    if count <= 0:
        return []
    gate = asyncio.Semaphore(max(1, parallel))
    done: List[RequestRecord] = []

    async def one(i: int) -> None:
        async with gate:
            record = RequestRecord(-1, time.monotonic_ns())
            await target.send(record, prompts[i % len(prompts)])
            done.append(record)

    await asyncio.gather(*(one(i) for i in range(count)))
    return done


def connections_ahead(spec: LoadSpec, warmed: Sequence[RequestRecord]) -> int:
    """How many connections the run will hold at once: its concurrency (closed loop), or for an
    open loop the rate times the longest warm-up request, a quarter more for the arrivals'
    bunching, within `--max-concurrency`. Opened before the run, so its first second does not
    measure a connect per request (what a client that has been running a while never pays)."""
    if spec.mode != "open":
        return spec.concurrency or 0
    longest_s = max([(r.end_ns - r.scheduled_ns) / 1e9 for r in warmed if r.finished] + [0.0])
    count = int((spec.rate or 0.0) * longest_s * 1.25) + 1
    return min(count, spec.max_concurrency) if spec.max_concurrency else count


async def run_load(
    target: Target,
    prompts: Sequence[Prompt],
    spec: LoadSpec,
    records: List[RequestRecord],
    on_progress: Optional[Callable[[List[RequestRecord]], None]] = None,
    on_done: Optional[Callable[[RequestRecord], None]] = None,
) -> RunOutcome:
    """Runs one measured load. `records` is filled as requests are scheduled, so a caller that
    is interrupted still has everything measured so far; `on_done` gets each request as it ends
    (the run's figures fold it in)."""
    warmed = await warm_up(target, prompts, spec.warmup, spec.max_concurrency or spec.concurrency or spec.warmup)
    preconnected = await target.preconnect(connections_ahead(spec, warmed))
    with full_gc_held():
        outcome = await _measured(target, prompts, spec, records, on_progress, on_done)
    outcome.preconnected = preconnected
    return outcome


async def _measured(
    target: Target,
    prompts: Sequence[Prompt],
    spec: LoadSpec,
    records: List[RequestRecord],
    on_progress: Optional[Callable[[List[RequestRecord]], None]],
    on_done: Optional[Callable[[RequestRecord], None]],
) -> RunOutcome:
    probe = LoopLagProbe()
    probe.start()
    cpu0 = time.process_time()
    started = time.monotonic_ns() + START_DELAY_NS
    outcome = RunOutcome(records, started, started, 0.0)
    progress = asyncio.get_running_loop().create_task(_report_progress(records, on_progress)) if on_progress else None
    try:
        if spec.mode == "open":
            await _open_loop(_Sender(target, on_done), prompts, spec, records, started)
        else:
            await _closed_loop(_Sender(target, on_done), prompts, spec, records, started)
    except asyncio.CancelledError:
        outcome.interrupted = True
        raise
    finally:
        if progress is not None:
            progress.cancel()
        outcome.ended_ns = max([started] + [r.end_ns for r in records if r.finished])
        outcome.cpu_s = time.process_time() - cpu0
        await probe.stop()
        outcome.loop_lag_ns = probe.lags
    return outcome


class _Sender:
    """The target, and what to do with each request once it ended."""

    def __init__(self, target: Target, on_done: Optional[Callable[[RequestRecord], None]]) -> None:
        self.sends_at_schedule = target.sends_at_schedule
        self._target = target
        self._on_done = on_done

    async def send(self, record: RequestRecord, prompt: Prompt) -> None:
        await self._target.send(record, prompt)
        if self._on_done is not None:
            self._on_done(record)


async def _report_progress(records: List[RequestRecord], on_progress: Callable[[List[RequestRecord]], None]) -> None:
    while True:
        await asyncio.sleep(1.0)
        on_progress(records)


async def _sleep_until(deadline_ns: int) -> None:
    delay = (deadline_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)


async def _open_loop(
    target: Sends, prompts: Sequence[Prompt], spec: LoadSpec, records: List[RequestRecord], started: int
) -> None:
    if spec.rate is None:
        raise ValueError("an open-loop run needs a rate")
    gate = asyncio.Semaphore(spec.max_concurrency) if spec.max_concurrency else None
    tasks: List["asyncio.Task[None]"] = []

    async def one(record: RequestRecord, prompt: Prompt) -> None:
        if gate is None:
            await target.send(record, prompt)
            return
        async with gate:  # the wait here counts in the latency (it is measured from scheduled_ns)
            await target.send(record, prompt)

    offsets: Iterable[int] = arrival_offsets(
        spec.rate, spec.arrival, spec.burstiness, spec.seed, spec.requests, spec.duration_s
    )
    try:
        lead = HANDOVER_LEAD_NS if target.sends_at_schedule else 0
        for i, offset in enumerate(offsets):
            due = started + offset
            await _sleep_until(due - lead)
            record = RequestRecord(i, due)
            records.append(record)
            tasks.append(asyncio.ensure_future(one(record, prompts[i % len(prompts)])))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def _closed_loop(
    target: Sends, prompts: Sequence[Prompt], spec: LoadSpec, records: List[RequestRecord], started: int
) -> None:
    if spec.concurrency is None:
        raise ValueError("a closed-loop run needs a concurrency")
    deadline = started + int(spec.duration_s * 1e9) if spec.duration_s is not None else None
    await _sleep_until(started)

    def next_record() -> Optional[RequestRecord]:
        now = time.monotonic_ns()
        if spec.requests is not None and len(records) >= spec.requests:
            return None
        if deadline is not None and now >= deadline:
            return None
        record = RequestRecord(len(records), now)
        records.append(record)
        return record

    async def worker() -> None:
        while True:
            record = next_record()
            if record is None:
                return
            await target.send(record, prompts[record.index % len(prompts)])

    workers = [asyncio.ensure_future(worker()) for _ in range(spec.concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()


def progress_line(records: List[RequestRecord], started_ns: int) -> str:
    done = sum(1 for r in records if r.finished)
    failed = sum(1 for r in records if r.finished and r.error_kind is not None)
    elapsed = max(1e-9, (time.monotonic_ns() - started_ns) / 1e9)
    return (
        f"\r  {elapsed:6.1f} s  sent {len(records):6d}  done {done:6d}  failed {failed:5d}  "
        f"in flight {len(records) - done:5d}  ({done / elapsed:7.1f} req/s)"
    )
