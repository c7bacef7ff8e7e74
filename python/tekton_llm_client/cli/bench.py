"""`tekton-llm bench`: stream answers through the client and report latency and throughput.

With no `--url` it starts the embedded Rhetor simulator (in this process, on its own threads) and
drives it through each backend at a few concurrency levels. Two kinds of run per level:
- paced: the simulator sends a chunk every `--chunk-delay-ms`; time to first chunk and the gaps
  between chunks show what the client adds to what the server does;
- unpaced: chunks as fast as the simulator writes them; chunks/s and client CPU per chunk.
CPU is this process's CPU time (with the embedded simulator it includes the simulator's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from .._backend import native


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure streaming latency and throughput (embedded simulator by default)")
    p.add_argument("--url", help="a real Rhetor to measure instead of the embedded simulator")
    p.add_argument("--backend", choices=["rust", "python", "both"], default="both",
                   help="which client path to measure (default: both, side by side with ratios)")
    p.add_argument("--concurrency", default="1,8,32", help="comma-separated concurrency levels (default 1,8,32)")
    p.add_argument("--streams", type=int, default=16, help="streams per level and run kind (default 16)")
    p.add_argument("--chunks", type=int, default=2000, help="chunks per unpaced stream (default 2000)")
    p.add_argument("--paced-chunks", type=int, default=50, help="chunks per paced stream (default 50)")
    p.add_argument("--chunk-delay-ms", type=float, default=2.0, help="pacing of the paced runs (default 2 ms)")
    p.add_argument("--runs", type=int, default=3, help="repetitions of each measurement; the median is shown")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="print machine-readable figures (with --url: write them to FILE)")
    from ..bench.command import add_arguments

    add_arguments(p)


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[k]


async def _one_stream(client: Any, sim_opts: Optional[Dict[str, Any]], ttfc: List[float],
                      gaps: List[float]) -> int:
    t0 = time.perf_counter()
    last = None
    n = 0
    opts = {"sim": sim_opts} if sim_opts is not None else None
    async for chunk in client.generate_text("benchmark prompt", streaming=True, options=opts):
        now = time.perf_counter()
        if chunk.error:
            raise RuntimeError(f"stream failed: {chunk.error}")
        if chunk.chunk:
            if last is None:
                ttfc.append(now - t0)
            else:
                gaps.append(now - last)
            last = now
            n += 1
    return n


async def _measure(url: str, backend: str, concurrency: int, streams: int,
                   sim_opts: Optional[Dict[str, Any]]) -> Dict[str, float]:
    from ..client import TektonLLMClient

    client = TektonLLMClient("tekton-llm-bench", rhetor_url=url, backend=backend, timeout=60)
    ttfc: List[float] = []
    gaps: List[float] = []
    sem = asyncio.Semaphore(concurrency)

    async def guarded() -> int:
        async with sem:
            return await _one_stream(client, sim_opts, ttfc, gaps)

    # warm the connection pool
    await asyncio.gather(*(_one_stream(client, {**(sim_opts or {}), "chunks": 2, "chunk_delay_ms": 0}
                                       if sim_opts is not None else None, [], [])
                           for _ in range(concurrency)))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    counts = await asyncio.gather(*(guarded() for _ in range(streams)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
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


async def _bench(args: argparse.Namespace, url: str, simulated: bool) -> List[Dict[str, Any]]:
    backends = ["rust", "python"] if args.backend == "both" else [args.backend]
    levels = [int(x) for x in str(args.concurrency).split(",") if x.strip()]
    rows: List[Dict[str, Any]] = []
    for kind in ("paced", "unpaced"):
        if not simulated and kind == "unpaced":
            continue
        for level in levels:
            for backend in backends:
                sim_opts = None
                if simulated:
                    paced = kind == "paced"
                    sim_opts = {"chunks": args.paced_chunks if paced else args.chunks, "chunk_size": 8,
                                "chunk_delay_ms": args.chunk_delay_ms if paced else 0}
                runs = [await _measure(url, backend, level, args.streams, sim_opts) for _ in range(args.runs)]
                rows.append({"kind": kind, "concurrency": level, "backend": backend, **_median_of(runs)})
    return rows


def _print_table(rows: List[Dict[str, Any]], simulated: bool) -> None:
    cols = [("kind", "{}"), ("concurrency", "{}"), ("backend", "{}"), ("chunks_per_s", "{:,.0f}"),
            ("cpu_us_per_chunk", "{:.1f}"), ("ttfc_p50_ms", "{:.2f}"), ("ttfc_p95_ms", "{:.2f}"),
            ("ttfc_p99_ms", "{:.2f}"), ("gap_p50_ms", "{:.3f}"), ("gap_p95_ms", "{:.3f}"),
            ("gap_p99_ms", "{:.3f}")]
    header = ["kind", "conc", "backend", "chunks/s", "cpu µs/chunk", "ttfc p50", "p95", "p99",
              "gap p50", "p95", "p99"]
    table = [[fmt.format(r[c]) for c, fmt in cols] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for t in table:
        print("  ".join(v.rjust(w) for v, w in zip(t, widths)))
    print("(times in ms; cpu is this process's CPU time per chunk"
          + (", embedded simulator included)" if simulated else ")"))
    by = {(r["kind"], r["concurrency"], r["backend"]): r for r in rows}
    ratios = []
    for (kind, level, backend), r in by.items():
        other = by.get((kind, level, "python"))
        if backend == "rust" and other:
            ratios.append(f"  {kind:8s} conc {level:3d}: chunks/s rust/python = "
                          f"{r['chunks_per_s'] / other['chunks_per_s']:.2f}x, cpu per chunk python/rust = "
                          f"{other['cpu_us_per_chunk'] / r['cpu_us_per_chunk']:.2f}x")
    if ratios:
        print("ratios:")
        print("\n".join(ratios))


def run(args: argparse.Namespace) -> int:
    if getattr(args, "url", None) is not None:  # measuring a server: tekton_llm_client.bench
        from ..bench.command import run as run_url

        return run_url(args)
    if args.backend in ("rust", "both") and native() is None:
        print("tekton-llm bench: the native core is not available; use --backend python", file=sys.stderr)
        return 1
    simulated = args.url is None
    if simulated:
        from ..testing import RhetorSimulator

        with RhetorSimulator() as sim:
            rows = asyncio.run(_bench(args, sim.url, True))
    else:
        rows = asyncio.run(_bench(args, args.url, False))
    if args.json:
        print(json.dumps({"simulated": simulated, "cpu_count": os.cpu_count(), "rows": rows}, indent=2))
    else:
        _print_table(rows, simulated)
    return 0
