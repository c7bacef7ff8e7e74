"""`tekton-llm bench`: stream answers through the client and report latency and throughput.

With no `--url` it starts the Rhetor simulator in a process of its own (`tekton-llm simulate` on
a free port, stopped on the way out whatever happens) and drives it through each backend at a
few concurrency levels. Two kinds of run per level:
- paced: the simulator sends a chunk every `--chunk-delay-ms`; time to first chunk and the gaps
  between chunks show what the client adds to what the server does;
- unpaced: chunks as fast as the simulator writes them; chunks/s and client CPU per chunk.
CPU is this process's CPU time: the client's alone (the simulator's is in its own process).

With `--url` the server decides pacing and chunking: rows are "served" (v1: its chunks) or, for an
older Rhetor that cannot stream (Gen A/B: one chunk per answer), "one-shot" with answers/s.
What is measured is printed above the table, progress goes to stderr, and a failed stream ends
the command in one line (exit 1), like every other command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .._backend import native
from ..exceptions import StreamInterruptedError
from . import _exit
from ._client import make_client


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench", help="measure streaming latency and throughput (a simulator in its own process by default)"
    )
    p.add_argument(
        "--url", help="a server to measure (Rhetor or, with --api openai, OpenAI-compatible) instead of the simulator"
    )
    p.add_argument(
        "--backend",
        choices=["rust", "python", "both"],
        default="both",
        help="which client path to measure (default: both, side by side with ratios)",
    )
    p.add_argument("--concurrency", default="1,8,32", help="comma-separated concurrency levels (default 1,8,32)")
    p.add_argument("--streams", type=int, default=16, help="streams per level and run kind (default 16)")
    p.add_argument("--chunks", type=int, default=2000, help="chunks per unpaced stream (default 2000)")
    p.add_argument("--paced-chunks", type=int, default=50, help="chunks per paced stream (default 50)")
    p.add_argument("--chunk-delay-ms", type=float, default=2.0, help="pacing of the paced runs (default 2 ms)")
    p.add_argument("--runs", type=int, default=3, help="repetitions of each measurement; the median is shown")
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="print machine-readable figures (with --url: write them to FILE)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also log retries and reconnects")
    from ..bench.command import add_arguments

    add_arguments(p)


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[k]


async def _one_stream(client: Any, sim_opts: Optional[Dict[str, Any]], ttfc: List[float], gaps: List[float]) -> int:
    t0 = time.perf_counter()
    last = None
    n = 0
    opts = {"sim": sim_opts} if sim_opts is not None else None
    async for chunk in client.generate_text("benchmark prompt", streaming=True, options=opts):
        now = time.perf_counter()
        if chunk.error:
            raise StreamInterruptedError(f"a benchmark stream failed: {chunk.error}")
        if chunk.chunk:
            if last is None:
                ttfc.append(now - t0)
            else:
                gaps.append(now - last)
            last = now
            n += 1
    return n


async def _measure(
    url: str, backend: str, concurrency: int, streams: int, sim_opts: Optional[Dict[str, Any]]
) -> Dict[str, float]:
    client = make_client("tekton-llm-bench", rhetor_url=url, backend=backend, timeout=60)
    ttfc: List[float] = []
    gaps: List[float] = []
    sem = asyncio.Semaphore(concurrency)

    async def guarded() -> int:
        async with sem:
            return await _one_stream(client, sim_opts, ttfc, gaps)

    try:
        # warm the connection pool
        await asyncio.gather(
            *(
                _one_stream(
                    client,
                    {**(sim_opts or {}), "chunks": 2, "chunk_delay_ms": 0} if sim_opts is not None else None,
                    [],
                    [],
                )
                for _ in range(concurrency)
            )
        )
        cpu0, wall0 = time.process_time(), time.perf_counter()
        counts = await asyncio.gather(*(guarded() for _ in range(streams)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await client.shutdown()
    total = sum(counts)
    return {
        "chunks": float(total),
        "wall_s": wall,
        "chunks_per_s": total / wall if wall > 0 else float("nan"),
        "cpu_us_per_chunk": cpu / total * 1e6 if total else float("nan"),
        "ttfc_p50_ms": _pct(ttfc, 50) * 1e3,
        "ttfc_p95_ms": _pct(ttfc, 95) * 1e3,
        "ttfc_p99_ms": _pct(ttfc, 99) * 1e3,
        "gap_p50_ms": _pct(gaps, 50) * 1e3,
        "gap_p95_ms": _pct(gaps, 95) * 1e3,
        "gap_p99_ms": _pct(gaps, 99) * 1e3,
    }


def _median_of(runs: List[Dict[str, float]]) -> Dict[str, float]:
    return {k: _pct([r[k] for r in runs], 50) for k in runs[0]}


def _kinds(dialect: Optional[str]) -> List[str]:
    """The run kinds: paced and unpaced against the simulator; against a server, what it serves."""
    if dialect is None:
        return ["paced", "unpaced"]
    return ["served"] if dialect == "v1" else ["one-shot"]


def _what(
    args: argparse.Namespace,
    url: str,
    dialect: Optional[str],
    backends: List[str],
    levels: List[int],
    sim_pid: Optional[int] = None,
) -> str:
    """What the table measures, said before the first measurement."""
    head = (
        f"Measuring {args.streams} streams per row at concurrency {', '.join(map(str, levels))} "
        f"through the {' and '.join(backends)} backend{'s' if len(backends) > 1 else ''}, "
        f"median of {args.runs} run{'s' if args.runs != 1 else ''}, against "
    )
    if dialect is None:
        return (
            head + f"the embedded simulator, in a process of its own (pid {sim_pid}, {url}).\n"
            f"  paced rows: {args.paced_chunks} chunks of 8 bytes per stream, one every {args.chunk_delay_ms:g} ms "
            "(time to first chunk and the gaps between chunks: what the client adds);\n"
            f"  unpaced rows: {args.chunks} chunks per stream as fast as the simulator writes them "
            "(chunks/s and CPU per chunk)."
        )
    if dialect == "v1":
        return (
            head + f"{url} (Rhetor v1).\n  served rows: the server's own pacing and chunking; "
            "chunks/s, time to first chunk and gaps are as it serves them."
        )
    return (
        head + f"{url}, an older Rhetor ({dialect}) that cannot stream.\n  one-shot rows: each stream is "
        "one whole answer, so the rate is answers/s and there are no gaps between chunks."
    )


async def _dialect_of(url: str, backend: str) -> str:
    """Which Rhetor answers at `url` (this also checks that it answers)."""
    client = make_client("tekton-llm-bench", rhetor_url=url, backend=backend, timeout=60)
    try:
        await client.initialize()
        return client.dialect or "v1"
    finally:
        await client.shutdown()


async def _bench(
    args: argparse.Namespace,
    url: str,
    simulated: bool,
    backends: List[str],
    levels: List[int],
    sim_pid: Optional[int] = None,
) -> Tuple[Optional[str], List[Dict[str, Any]]]:
    for backend in backends:  # a bad setting stops the run before anything is printed
        await make_client("tekton-llm-bench", rhetor_url=url, backend=backend, timeout=60).shutdown()
    dialect = None if simulated else await _dialect_of(url, backends[0])
    print(
        _what(args, url, dialect, backends, levels, sim_pid), file=sys.stderr if args.json else sys.stdout, flush=True
    )
    rows: List[Dict[str, Any]] = []
    plan = [(kind, level, backend) for kind in _kinds(dialect) for level in levels for backend in backends]
    for step, (kind, level, backend) in enumerate(plan, 1):
        print(
            f"tekton-llm bench: [{step}/{len(plan)}] {kind}, concurrency {level}, {backend}: "
            f"{args.runs} x {args.streams} streams",
            file=sys.stderr,
            flush=True,
        )
        sim_opts = None
        if simulated:
            paced = kind == "paced"
            sim_opts = {
                "chunks": args.paced_chunks if paced else args.chunks,
                "chunk_size": 8,
                "chunk_delay_ms": args.chunk_delay_ms if paced else 0,
            }
        runs = [await _measure(url, backend, level, args.streams, sim_opts) for _ in range(args.runs)]
        rows.append({"kind": kind, "concurrency": level, "backend": backend, **_median_of(runs)})
    return dialect, rows


def _print_table(rows: List[Dict[str, Any]], simulated: bool, one_shot: bool) -> None:
    cols = [
        ("kind", "{}"),
        ("concurrency", "{}"),
        ("backend", "{}"),
        ("chunks_per_s", "{:,.0f}"),
        ("cpu_us_per_chunk", "{:.1f}"),
        ("ttfc_p50_ms", "{:.2f}"),
        ("ttfc_p95_ms", "{:.2f}"),
        ("ttfc_p99_ms", "{:.2f}"),
        ("gap_p50_ms", "{:.3f}"),
        ("gap_p95_ms", "{:.3f}"),
        ("gap_p99_ms", "{:.3f}"),
    ]
    unit = "answer" if one_shot else "chunk"
    header = [
        "kind",
        "conc",
        "backend",
        f"{unit}s/s",
        f"cpu µs/{unit}",
        "ttfc p50",
        "p95",
        "p99",
        "gap p50",
        "p95",
        "p99",
    ]
    table = [[_cell(fmt, r[c]) for c, fmt in cols] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for t in table:
        print("  ".join(v.rjust(w) for v, w in zip(t, widths, strict=True)))
    print(
        "(times in ms; cpu is this process's CPU time per chunk"
        + (", the simulator's not included: it runs in its own process)" if simulated else ")")
    )
    by = {(r["kind"], r["concurrency"], r["backend"]): r for r in rows}
    ratios = []
    for (kind, level, backend), r in by.items():
        other = by.get((kind, level, "python"))
        if backend == "rust" and other:
            ratios.append(
                f"  {kind:8s} conc {level:3d}: {unit}s/s rust/python = "
                f"{r['chunks_per_s'] / other['chunks_per_s']:.2f}x, cpu per {unit} python/rust = "
                f"{other['cpu_us_per_chunk'] / r['cpu_us_per_chunk']:.2f}x"
            )
    if ratios:
        print("ratios:")
        print("\n".join(ratios))


def _cell(fmt: str, value: Any) -> str:
    return "-" if isinstance(value, float) and math.isnan(value) else fmt.format(value)


def _levels(text: str) -> List[int]:
    try:
        levels = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1:
        raise _exit.CommandError(
            "usage", f"--concurrency takes positive whole numbers separated by commas, got {text!r}", _exit.USAGE
        )
    return levels


def run(args: argparse.Namespace) -> int:
    """Entry point of ``tekton-llm bench``."""
    if getattr(args, "url", None) is not None:  # measuring a server: tekton_llm_client.bench
        from ..bench.command import run as run_url

        return run_url(args)
    levels = _levels(args.concurrency)
    for name in ("streams", "runs", "chunks", "paced_chunks"):
        if getattr(args, name) < 1:
            raise _exit.CommandError("usage", f"--{name.replace('_', '-')} must be at least 1", _exit.USAGE)
    if not args.chunk_delay_ms >= 0:
        raise _exit.CommandError("usage", "--chunk-delay-ms must be 0 or more", _exit.USAGE)
    if args.backend in ("rust", "both") and native() is None:
        raise _exit.CommandError("usage", "the native core is not available; use --backend python", _exit.USAGE)
    backends = ["rust", "python"] if args.backend == "both" else [args.backend]
    simulated = args.url is None
    if simulated:
        from ..bench.sim_process import SimulatorStartError, simulator_process

        try:
            with simulator_process() as sim:
                dialect, rows = _exit.run_async(_bench(args, sim.url, True, backends, levels, sim.pid))
        except SimulatorStartError as exc:
            raise _exit.CommandError("simulator", str(exc), _exit.FAILED) from None
    else:
        dialect, rows = _exit.run_async(_bench(args, args.url, False, backends, levels))
    if args.json:
        rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in rows]
        print(
            json.dumps(
                {"simulated": simulated, "dialect": dialect, "cpu_count": os.cpu_count(), "rows": rows}, indent=2
            )
        )
    else:
        _print_table(rows, simulated, one_shot=dialect not in (None, "v1"))
    return 0
