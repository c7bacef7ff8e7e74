"""Ray Data batch job: rows/s and CPU per row of `tekton_llm_client.ray.RhetorChat` against
`ray.data.llm`'s HTTP processor (`HttpRequestProcessorConfig`: aiohttp in Ray actors), same
simulator endpoint (`/api/v1/chat` takes the payload as is), same actors, same batch size, in one
run; 1 then 2 actors; and the cost of the shared limiter actor.

    .venv/bin/python benches/bench_ray.py [--rows 20000] [--batch-size 256] [--in-flight 64]

`ray.data.llm` needs `pydantic` besides `ray[data]` (`pip install pydantic`); without it only
RhetorChat is measured. CPU is user+system time of every Ray worker process (`ray::*`, read from
/proc; Linux only), so it counts the whole job's work in the workers — Ray Data's own included —
and not the driver's or the simulator's (its own process).
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import ray
from tekton_llm_client.ray import RhetorChat, shared_limiter

TICK = os.sysconf("SC_CLK_TCK")


def _worker_cpu() -> Dict[int, float]:
    """CPU seconds (user + system) of each Ray worker process now."""
    out: Dict[int, float] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if not f.read(5).startswith(b"ray::"):
                    continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(pid)] = (int(fields[11]) + int(fields[12])) / TICK
        except OSError:
            continue
    return out


class CpuMeter:
    """Samples the workers' CPU during a run (actors exit at its end, taking their counters
    with them: the last sample, at most `every` seconds old, stands for them)."""

    def __init__(self, every: float = 0.1) -> None:
        self._every = every
        self._base = _worker_cpu()
        self._last: Dict[int, float] = dict(self._base)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self._last.update(_worker_cpu())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._last.update(_worker_cpu())
        return sum(v - self._base.get(pid, 0.0) for pid, v in self._last.items())


def _simulator() -> Tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tekton_llm_client", "simulate", "--port", "0", "--workers", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("RHETOR_SIMULATOR_URL="):
        proc.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return proc, line.split("=", 1)[1]


def _prompts(batch: Any) -> Any:
    """Rows of `range` → id and prompt, a whole batch at once (pyarrow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = batch.column("id")
    return pa.table({"id": ids, "prompt": pc.binary_join_element_wise("question", pc.cast(ids, pa.string()), " ")})


def run_rhetor_chat(
    url: str, rows: int, actors: int, batch_size: int, in_flight: int, limiter: Any = None
) -> Tuple[int, int]:
    ds = ray.data.range(rows).map_batches(_prompts, batch_format="pyarrow", batch_size=batch_size)
    kwargs: Dict[str, Any] = {"rhetor_url": url, "concurrency": in_flight, "dialect": "v1"}
    if limiter is not None:
        kwargs["limiter"] = limiter
    out = ds.map_batches(
        RhetorChat, fn_constructor_kwargs=kwargs, concurrency=actors, batch_size=batch_size, batch_format="pyarrow"
    )
    done = failed = 0
    batch: Any
    for batch in out.iter_batches(batch_size=4096, batch_format="pyarrow"):
        done += batch.num_rows
        failed += batch.num_rows - batch.column("error").null_count
    return done, failed


def run_ray_llm(url: str, rows: int, actors: int, batch_size: int, in_flight: int) -> Tuple[int, int]:
    from ray.data.llm import HttpRequestProcessorConfig, build_processor

    config = HttpRequestProcessorConfig(
        url=f"{url}/api/v1/chat",
        batch_size=batch_size,
        concurrency=actors,
        headers={"Content-Type": "application/json"},
    )
    processor = build_processor(
        config,
        preprocess=lambda r: {"payload": {"messages": [{"role": "user", "content": f"question {r['id']}"}]}},
        postprocess=lambda r: {"id": r["id"], "content": r["http_response"].get("content")},
    )
    done = failed = 0
    batch: Any
    for batch in processor(ray.data.range(rows)).iter_batches(batch_size=4096, batch_format="pyarrow"):
        done += batch.num_rows
        failed += batch.column("content").null_count
    return done, failed


def measure(name: str, job: Callable[[], Tuple[int, int]]) -> Dict[str, float]:
    meter, t0 = CpuMeter(), time.perf_counter()
    done, failed = job()
    wall, cpu = time.perf_counter() - t0, meter.stop()
    result = {
        "rows": done,
        "failed": failed,
        "rows_per_s": done / wall,
        "cpu_us_per_row": cpu / done * 1e6,
        "rows_per_cpu_s": done / cpu if cpu else float("nan"),
        "wall_s": wall,
    }
    print(
        f"{name:34s} {done:7d} rows ({failed} failed)  {result['rows_per_s']:8,.0f} rows/s  "
        f"{result['cpu_us_per_row']:7,.0f} us CPU/row  {result['rows_per_cpu_s']:8,.0f} rows/CPU-s",
        flush=True,
    )
    return result


def limiter_cost(calls: int = 2000) -> None:
    """Round trip of one `grant` call to the limiter actor, from the driver (an actor's `await`
    costs the same round trip); per request it is divided by the grant size."""
    limiter = shared_limiter()
    ray.get(limiter.grant.remote(1))
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(calls):
        ray.get(limiter.grant.remote(64))
    wall, cpu = (time.perf_counter() - t0) / calls, (time.process_time() - cpu0) / calls
    print(
        f"limiter grant round trip: {wall * 1e6:,.0f} us wall, {cpu * 1e6:,.0f} us caller CPU per call "
        f"(per request: /64 without a job rate; /ceil(0.05 s x rate) with one)",
        flush=True,
    )


def rate_check(rate: float, seconds: float, actors: int = 2) -> None:
    """The whole job's request rate under `shared_limiter(rate)`, as the server saw it: requests
    over the time from the first to the last (a simulator in this process, recording)."""
    from tekton_llm_client.testing import RhetorSimulator

    rows = int(rate * seconds)
    with RhetorSimulator(worker_threads=1) as sim:
        limiter = shared_limiter(requests_per_s=rate)
        ds = ray.data.range(rows).map_batches(_prompts, batch_format="pyarrow", batch_size=256)
        out = ds.map_batches(
            RhetorChat,
            fn_constructor_kwargs={"rhetor_url": sim.url, "concurrency": 64, "limiter": limiter, "dialect": "v1"},
            concurrency=actors,
            batch_size=256,
            batch_format="pyarrow",
        )
        done = sum(len(b["id"]) for b in out.iter_batches(batch_size=4096, batch_format="pyarrow"))
        times = sorted(r["time"] for r in sim.requests if r["path"] == "/api/v1/chat")
    measured = (len(times) - 1) / (times[-1] - times[0])
    print(
        f"shared rate {rate:g}/s over {times[-1] - times[0]:.1f} s, {actors} actors: {done} rows, "
        f"server saw {measured:,.1f} requests/s ({(measured / rate - 1) * 100:+.2f} %)",
        flush=True,
    )


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--in-flight", type=int, default=64, help="RhetorChat's concurrency per actor")
    ap.add_argument("--cpus", type=int, default=4, help="logical CPUs for ray.init (tokens, not cores)")
    ap.add_argument(
        "--rate-check",
        type=float,
        default=None,
        metavar="RATE",
        help="only measure the shared rate limit: RATE requests/s for 30 s",
    )
    args = ap.parse_args(argv)
    proc, url = _simulator()
    try:
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            importlib.import_module("ray.data.llm")
            have_llm = True
        except ImportError as exc:
            print(f"ray.data.llm unavailable ({exc}); measuring RhetorChat only")
            have_llm = False
        if args.rate_check is not None:
            rate_check(args.rate_check, 30.0)
            return
        limiter_cost()
        for actors in (1, 2):
            measure(
                f"RhetorChat, {actors} actor(s)",
                lambda actors=actors: run_rhetor_chat(url, args.rows, actors, args.batch_size, args.in_flight),
            )
            measure(
                f"RhetorChat + shared limiter, {actors}",
                lambda actors=actors: run_rhetor_chat(
                    url, args.rows, actors, args.batch_size, args.in_flight, limiter=shared_limiter()
                ),
            )
            if have_llm:
                measure(
                    f"ray.data.llm HTTP, {actors} actor(s)",
                    lambda actors=actors: run_ray_llm(url, args.rows, actors, args.batch_size, args.in_flight),
                )
    finally:
        ray.shutdown()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
