"""Ray Data batch job: rows/s and CPU per row of `tekton_llm_client.ray.RhetorChat` against
`ray.data.llm`'s HTTP processor (`HttpRequestProcessorConfig`: aiohttp in Ray actors), same
simulator endpoint (`/api/v1/chat` takes the payload as is), same actors, same batch size, in one
run; 1 then 2 actors; and the cost of the shared limiter actor.

    .venv/bin/python benches/bench_ray.py [--rows 20000] [--batch-size 256] [--in-flight 64] [--repeat 3]
        [--actors 1 2] [--no-limiter] [--sim-latency-ms 50] [--rate-check RATE]

`ray.data.llm` needs `pydantic` besides `ray[data]` (`pip install pydantic`); without it only
RhetorChat is measured. CPU is user+system time read from /proc (Linux only) for every Ray
process, by role: the contender's actors, Ray Data's other workers, Ray's daemons, and the
simulator (its own process); rows per CPU-second count the actors and the other workers. Each run
is reported whole (start-up included) and in its steady state (between the first and the last
block of answers reaching the driver). RhetorChat is also timed alone, outside Ray (the same
batches in one process): our own floor per row. See docs/scale-out.md for the figures.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import ray
from tekton_llm_client.ray import RhetorChat, shared_limiter

TICK = os.sysconf("SC_CLK_TCK")
INFRA = ("raylet", "gcs_server")  # Ray's own daemons (the dashboard is off)


def _cpu_of(pid: str) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _ray_cpu() -> Dict[int, Tuple[str, float]]:
    """(name, CPU seconds user + system) of each Ray process now: workers by their title
    (`ray::MapWorker(MapBatches(RhetorChat))`, `ray::IDLE`, ...), and the raylet and GCS."""
    out: Dict[int, Tuple[str, float]] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                head = f.read(200).split(b"\0", 1)[0].decode(errors="replace")
            if head.startswith("ray::"):
                name = head.split(" ", 1)[0]
            else:
                name = next((d for d in INFRA if head.endswith("/" + d) or head == d), "")
                if not name:
                    continue
            out[int(pid)] = (name, _cpu_of(pid))
        except (OSError, IndexError, ValueError):
            continue
    return out


def _role(name: str) -> str:
    """The role of a Ray process in a run: the contender's actors, Ray Data's other workers
    (reading, preparing rows, the HTTP processor's pre/post-processing), or Ray's daemons."""
    if name in INFRA:
        return "ray daemons"
    if "RhetorChat" in name or "HttpRequestUDF" in name or "HttpRequest" in name:
        return "actors"
    return "other workers"


class CpuMeter:
    """Samples the Ray processes' CPU during a run (actors exit at its end, taking their
    counters with them: the last sample, at most `every` seconds old, stands for them), the
    simulator's, and a mark when the first and the last batch of answers reached the driver, so
    the steady state (between the two marks: no actor start-up, no warm-up, no tear-down) can be
    told from the whole run."""

    def __init__(self, sim_pid: Optional[int], every: float = 0.1) -> None:
        self._every = every
        self._sim_pid = sim_pid
        self._base = _ray_cpu()
        self._sim_base = self._sim_cpu()
        self._last: Dict[int, Tuple[str, float]] = dict(self._base)
        self._marks: List[Tuple[int, float, Dict[int, Tuple[str, float]], float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _sim_cpu(self) -> float:
        return _cpu_of(str(self._sim_pid)) if self._sim_pid is not None else 0.0

    def _sample(self) -> None:
        now = _ray_cpu()
        with self._lock:
            self._last.update(now)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()

    def mark(self, rows: int) -> None:
        """`rows` answers have reached the driver so far."""
        self._sample()
        with self._lock:
            self._marks.append((rows, time.perf_counter(), dict(self._last), self._sim_cpu()))

    def _by_role(self, since: Dict[int, Tuple[str, float]], until: Dict[int, Tuple[str, float]]) -> Dict[str, float]:
        roles: Dict[str, float] = {}
        for pid, (name, cpu) in until.items():
            role = _role(name)
            roles[role] = roles.get(role, 0.0) + cpu - since.get(pid, (name, 0.0))[1]
        return roles

    def stop(self) -> Tuple[Dict[str, float], Dict[str, float], float, int, float]:
        """(CPU by role over the run, CPU by role in the steady state, the simulator's CPU in the
        steady state, rows in the steady state, its wall time)."""
        self._stop.set()
        self._thread.join()
        self._sample()
        whole = self._by_role(self._base, self._last)
        whole["simulator"] = self._sim_cpu() - self._sim_base
        (r0, t0, c0, s0), (r1, t1, c1, s1) = self._marks[0], self._marks[-1]
        return whole, self._by_role(c0, c1), s1 - s0, r1 - r0, t1 - t0


def _simulator(latency_ms: int = 0) -> Tuple[subprocess.Popen, str]:
    """The simulator in its own process (one worker thread), answering `/api/v1/chat` after
    `latency_ms`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tekton_llm_client", "simulate", "--port", "0", "--workers", "1"]
        + (["--first-chunk-delay-ms", str(latency_ms)] if latency_ms else []),
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


def _count(out: Any, meter: "CpuMeter", failed_if_null: bool, column: str) -> Tuple[int, int]:
    """Read the answers block by block as they reach the driver, marking each for the meter; a
    row failed when `column` is null (`failed_if_null`) or not null."""
    done = failed = 0
    batch: Any
    for batch in out.iter_batches(batch_size=None, batch_format="pyarrow"):
        nulls = batch.column(column).null_count
        done += batch.num_rows
        failed += nulls if failed_if_null else batch.num_rows - nulls
        meter.mark(done)
    return done, failed


def run_rhetor_chat(
    url: str, rows: int, actors: int, batch_size: int, in_flight: int, meter: CpuMeter, with_limiter: bool = False
) -> Tuple[int, int]:
    ds = ray.data.range(rows).map_batches(_prompts, batch_format="pyarrow", batch_size=batch_size)
    kwargs: Dict[str, Any] = {"rhetor_url": url, "concurrency": in_flight, "dialect": "v1"}
    if with_limiter:
        kwargs["limiter"] = shared_limiter()  # no job rate: the cost of sharing the cool-down
    out = ds.map_batches(
        RhetorChat, fn_constructor_kwargs=kwargs, concurrency=actors, batch_size=batch_size, batch_format="pyarrow"
    )
    return _count(out, meter, False, "error")


def run_ray_llm(url: str, rows: int, actors: int, batch_size: int, in_flight: int, meter: CpuMeter) -> Tuple[int, int]:
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
    return _count(processor(ray.data.range(rows)), meter, True, "content")


ROLES = ("actors", "other workers", "ray daemons", "simulator")


def measure(name: str, sim_pid: int, job: Callable[[CpuMeter], Tuple[int, int]]) -> Dict[str, float]:
    """Rows/s and CPU per row over the whole run (start-up included) and in the steady state
    (from the first to the last block of answers reaching the driver). "CPU" is the Ray workers'
    (the actors' and Ray Data's other workers'); the daemons' and the simulator's are shown apart."""
    meter, t0 = CpuMeter(sim_pid), time.perf_counter()
    done, failed = job(meter)
    wall = time.perf_counter() - t0
    whole, steady, sim_steady, steady_rows, steady_wall = meter.stop()
    steady["simulator"] = sim_steady
    workers = whole.get("actors", 0.0) + whole.get("other workers", 0.0)
    workers_steady = steady.get("actors", 0.0) + steady.get("other workers", 0.0)
    result = {
        "rows": done,
        "failed": failed,
        "rows_per_s": done / wall,
        "rows_per_cpu_s": done / workers if workers else float("nan"),
        "steady_rows_per_s": steady_rows / steady_wall if steady_wall else float("nan"),
        "steady_rows_per_cpu_s": steady_rows / workers_steady if workers_steady else float("nan"),
        "steady_share": steady_rows / done if done else 0.0,
    }
    for role in ROLES:
        result[f"us_{role}"] = whole.get(role, 0.0) / done * 1e6 if done else float("nan")
        result[f"steady_us_{role}"] = steady.get(role, 0.0) / steady_rows * 1e6 if steady_rows else float("nan")
    print(
        f"{name:34s} {done:7d} rows ({failed} failed) | whole run: {result['rows_per_s']:7,.0f} rows/s "
        f"{result['rows_per_cpu_s']:7,.0f} rows/CPU-s | steady ({steady_rows} rows): "
        f"{result['steady_rows_per_s']:7,.0f} rows/s {result['steady_rows_per_cpu_s']:7,.0f} rows/CPU-s",
        flush=True,
    )
    print(
        "    us CPU/row, whole | steady: "
        + ", ".join(f"{role} {result[f'us_{role}']:.0f} | {result[f'steady_us_{role}']:.0f}" for role in ROLES),
        flush=True,
    )
    return result


def alone(url: str, rows: int, batch_size: int, in_flight: int) -> None:
    """RhetorChat outside Ray: the same pyarrow batches called one after the other in this
    process — our own floor per row (the client, its runtime thread and RhetorChat's columns)."""
    import pyarrow as pa

    chat = RhetorChat(url, concurrency=in_flight, dialect="v1")
    batches = [pa.table({"id": list(range(i, min(i + batch_size, rows)))}) for i in range(0, rows, batch_size)]
    batches = [_prompts(b) for b in batches]
    chat(batches[0])  # connections and the runtime up
    t0, cpu0 = time.perf_counter(), time.process_time()
    done = sum(chat(b).num_rows for b in batches)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(
        f"RhetorChat alone (one process): {done} rows {done / wall:8,.0f} rows/s  {cpu / done * 1e6:5.1f} us CPU/row "
        f"{done / cpu:8,.0f} rows/CPU-s",
        flush=True,
    )


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


def _median(values: List[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--in-flight", type=int, default=64, help="RhetorChat's concurrency per actor")
    ap.add_argument("--cpus", type=int, default=4, help="logical CPUs for ray.init (tokens, not cores)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of every contender (medians printed)")
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="actor counts to run")
    ap.add_argument("--no-limiter", action="store_true", help="skip the runs with a shared limiter")
    ap.add_argument("--sim-cpu", type=int, default=None, help="pin the simulator to this CPU")
    ap.add_argument(
        "--sim-latency-ms",
        type=int,
        default=0,
        help="the simulator answers after this long: actors bound by in-flight x latency, not by CPU",
    )
    ap.add_argument(
        "--rate-check",
        type=float,
        default=None,
        metavar="RATE",
        help="only measure the shared rate limit: RATE requests/s for 30 s",
    )
    args = ap.parse_args(argv)
    proc, url = _simulator(args.sim_latency_ms)
    if args.sim_cpu is not None:
        os.sched_setaffinity(proc.pid, {args.sim_cpu})
    print(f"load average at start: {os.getloadavg()}", flush=True)
    try:
        if args.rate_check is None:
            alone(url, args.rows, args.batch_size, args.in_flight)
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
        # A first, unmeasured run: Ray Data's warm-up (imports in the workers) is paid once per
        # session, and would otherwise land on whichever contender runs first.
        run_rhetor_chat(url, min(args.rows, 2000), 1, args.batch_size, args.in_flight, CpuMeter(proc.pid))
        jobs: Dict[str, Callable[[CpuMeter], Tuple[int, int]]] = {}
        for actors in args.actors:
            same = (url, args.rows, actors, args.batch_size, args.in_flight)
            jobs[f"RhetorChat, {actors} actor(s)"] = functools.partial(run_rhetor_chat, *same)
            if not args.no_limiter:
                jobs[f"RhetorChat + shared limiter, {actors}"] = functools.partial(
                    run_rhetor_chat, *same, with_limiter=True
                )
            if have_llm:
                jobs[f"ray.data.llm HTTP, {actors} actor(s)"] = functools.partial(run_ray_llm, *same)
        results: Dict[str, List[Dict[str, float]]] = {name: [] for name in jobs}
        for round_no in range(args.repeat):
            print(f"-- round {round_no + 1}/{args.repeat}, load average {os.getloadavg()}", flush=True)
            for name, job in jobs.items():
                results[name].append(measure(name, proc.pid, job))
        print(f"-- medians of {args.repeat} round(s); load average at the end: {os.getloadavg()}")
        keys = ("rows_per_s", "rows_per_cpu_s", "steady_rows_per_s", "steady_rows_per_cpu_s")
        for name, runs in results.items():
            med = {k: _median([r[k] for r in runs]) for k in runs[0]}
            print(
                f"{name:34s} "
                + "  ".join(f"{k} {med[k]:8,.0f}" for k in keys)
                + "  | steady us CPU/row: "
                + ", ".join(f"{role} {med[f'steady_us_{role}']:.0f}" for role in ROLES),
                flush=True,
            )
    finally:
        ray.shutdown()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
