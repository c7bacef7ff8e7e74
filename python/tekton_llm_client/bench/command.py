"""`tekton-llm bench --url URL ...`: options, the runs they ask for, and the report."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.parse
from dataclasses import replace
from typing import Any, Dict, List, Optional, Tuple

from .._backend import native
from . import workload
from .html import RunSamples, run_label, samples_of, write_html
from .metrics import RunAggregate, summarize_run
from .record import RequestRecord
from .report import print_table, self_check, tool_info, write_json
from .runner import LoadSpec, RunOutcome, progress_line, run_load
from .specs import SpecError, parse_positive_list, parse_slos, parse_synthetic

WAKE_WINDOW_ENV = "TEKTON_LLM_WAKE_WINDOW_US"
DEFAULT_REQUESTS = 100


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of a `--url` run (the embedded-simulator bench ignores them)."""
    g = p.add_argument_group("measuring a server (--url)")
    g.add_argument(
        "--api",
        choices=["rhetor", "openai"],
        default="rhetor",
        help="rhetor (v1, or an older dialect, detected) or openai (/v1/chat/completions)",
    )
    g.add_argument("--rate", help="open loop: requests per second (a comma list runs each rate in turn)")
    g.add_argument(
        "--arrival",
        choices=["constant", "poisson"],
        default="constant",
        help="open loop: evenly spaced, or Poisson (gamma with --burstiness) arrivals",
    )
    g.add_argument(
        "--burstiness",
        type=float,
        default=1.0,
        help="gamma shape of Poisson arrivals: 1 = Poisson, <1 burstier, >1 more regular",
    )
    g.add_argument("--seed", type=int, default=0, help="seed of the arrivals and synthetic prompts")
    g.add_argument(
        "--max-concurrency",
        type=int,
        help="open loop: at most this many requests in flight (waiting counts in latency)",
    )
    g.add_argument(
        "--requests", type=int, help=f"requests per run (default {DEFAULT_REQUESTS} unless --duration is given)"
    )
    g.add_argument("--duration", type=float, help="seconds of sending per run")
    g.add_argument("--warmup", type=int, default=2, help="unrecorded requests before each run (default 2)")
    g.add_argument("--model", help="model to ask for (openai: default the first of /v1/models)")
    g.add_argument("--prompt", default="benchmark prompt", help="the prompt of every request")
    g.add_argument(
        "--prompts",
        metavar="FILE.jsonl",
        help='prompts, one JSON object a line: {"prompt": ...} or {"messages": [...]}, optional "max_tokens"',
    )
    g.add_argument(
        "--synthetic",
        metavar="prompt_tokens=N,output_tokens=M",
        help="synthetic prompts of exactly N tokens; output length through max_tokens",
    )
    g.add_argument("--max-tokens", type=int, help="max_tokens of every request")
    g.add_argument(
        "--tokenizer-model", help="model whose tokenizer counts output tokens (default --model, else gpt-4o)"
    )
    g.add_argument(
        "--sim-knobs",
        metavar="JSON",
        help="simulator knobs sent in each request body (e.g. '{\"chunk_delay_ms\": 10}')",
    )
    g.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="an extra request header (repeatable), e.g. X-Sim-Chunks:20",
    )
    g.add_argument("--dialect", choices=["v1", "gen_a", "gen_b"], help="rhetor: skip detection")
    g.add_argument("--slo", help="service-level objectives, e.g. ttft_p99=500ms,itl_p99=50ms")
    g.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, s (default 60)")
    g.add_argument(
        "--sweep",
        type=int,
        metavar="K",
        help="synchronous run, maximum-throughput run "
        "(--max-concurrency, default 64), then K open-loop rates evenly between",
    )
    g.add_argument(
        "--html",
        metavar="FILE",
        help="also write a self-contained HTML report (offline: "
        "latency CDFs, TTFT/ITL against the load, request timelines)",
    )
    g.add_argument("--no-progress", action="store_true", help="no live progress line on stderr")


def _fail(message: str) -> int:
    print(f"tekton-llm bench: {message}", file=sys.stderr)
    return 2


def _plan(args: argparse.Namespace) -> List[LoadSpec]:
    """One LoadSpec per rate (open loop) or per concurrency level (closed loop)."""
    for name, limit in (("requests", 10_000_000), ("max_concurrency", 100_000), ("warmup", 100_000)):
        value = getattr(args, name)
        if value is not None and not (0 if name == "warmup" else 1) <= value <= limit:
            raise SpecError(
                f"--{name.replace('_', '-')} must be {'' if name == 'warmup' else 'positive and '}at most {limit:,}"
            )
    if args.duration is not None and not 0 < args.duration < 1e6:
        raise SpecError("--duration must be a positive number of seconds")
    if not 0 < args.burstiness < 1e6:
        raise SpecError("--burstiness must be positive")
    if not 0 < args.timeout < 1e6:
        raise SpecError("--timeout must be a positive number of seconds")
    if args.sweep is not None:
        if not 1 <= args.sweep <= 100:
            raise SpecError("--sweep takes the number of rates between, 1 to 100")
        if args.rate is not None:
            raise SpecError("--sweep chooses the rates itself: leave out --rate")
    requests = args.requests
    if requests is None and args.duration is None:
        requests = DEFAULT_REQUESTS
    common = dict(seed=args.seed, requests=requests, duration_s=args.duration, warmup=args.warmup)
    if args.rate is not None:
        return [
            LoadSpec(
                "open",
                rate=r,
                arrival=args.arrival,
                burstiness=args.burstiness,
                max_concurrency=args.max_concurrency,
                **common,
            )
            for r in parse_positive_list(args.rate, "--rate", integer=False)
        ]
    return [
        LoadSpec("closed", concurrency=int(c), **common)
        for c in parse_positive_list(args.concurrency, "--concurrency", integer=True)
    ]


def _headers(items: List[str]) -> Dict[str, str]:
    headers: Dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise SpecError(f"bad --header {item!r}: expected NAME:VALUE")
        headers[name.strip()] = value.strip()
    return headers


def _sim_knobs(text: Optional[str]) -> Optional[Dict[str, Any]]:
    if text is None:
        return None
    try:
        knobs = json.loads(text)
    except ValueError as exc:
        raise SpecError(f"--sim-knobs is not JSON: {exc}") from None
    if not isinstance(knobs, dict):
        raise SpecError("--sim-knobs must be a JSON object")
    return knobs


def _prompts(args: argparse.Namespace, tokenizer_model: str, planned: int) -> Tuple[List[workload.Prompt], str]:
    if args.max_tokens is not None and args.max_tokens <= 0:
        raise SpecError("--max-tokens must be positive")
    chosen = [x for x in (args.prompts, args.synthetic) if x is not None]
    if len(chosen) > 1:
        raise SpecError("--prompts and --synthetic exclude each other")
    if args.prompts is not None:
        prompts = workload.from_jsonl(args.prompts, args.max_tokens)
        return prompts, f"prompts from {os.path.basename(args.prompts)} ({len(prompts)})"
    if args.synthetic is not None:
        spec = parse_synthetic(args.synthetic)
        if spec.output_tokens is None and args.max_tokens is not None:
            spec = type(spec)(spec.prompt_tokens, args.max_tokens)
        count = max(1, min(planned, 256))
        prompts = workload.synthetic(spec, tokenizer_model, args.seed, count)
        return prompts, (
            f"synthetic: {spec.prompt_tokens} prompt tokens ({tokenizer_model}), "
            f"max_tokens {spec.output_tokens}, {count} distinct prompts"
        )
    return workload.fixed(args.prompt, args.max_tokens), "fixed prompt"


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts._replace(query="", fragment=""))


def run(args: argparse.Namespace) -> int:
    # Exact chunk times: no coalescing of wake-ups on the I/O thread. Read once, when the
    # native runtime first starts, which is after this (nothing before a --url run uses it).
    os.environ.setdefault(WAKE_WINDOW_ENV, "0")
    try:
        plans = _plan(args)
        slos = parse_slos(args.slo) if args.slo is not None else None
        headers = _headers(args.header)
        knobs = _sim_knobs(args.sim_knobs)
        tokenizer_model = args.tokenizer_model or args.model or "gpt-4o"
        planned = max((p.requests or 0) for p in plans) or DEFAULT_REQUESTS
        prompts, workload_text = _prompts(args, tokenizer_model, planned)
    except SpecError as exc:
        return _fail(str(exc))
    url = str(args.url)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return _fail(f"--url must be an http:// or https:// URL, got {url!r}")
    backend = "python" if args.backend == "python" else "rust"
    if backend == "rust":
        if native() is None:
            backend = "python"
    state = _State(args, plans, slos, headers, knobs, tokenizer_model, prompts, workload_text, backend)
    try:
        return asyncio.run(state.main())
    except KeyboardInterrupt:
        state.flush()
        print("\ntekton-llm bench: interrupted; the runs measured so far are written", file=sys.stderr)
        return 130


class _State:
    """One invocation: the target, the runs done so far, and the document they make."""

    def __init__(
        self,
        args: argparse.Namespace,
        plans: List[LoadSpec],
        slos: Any,
        headers: Dict[str, str],
        knobs: Optional[Dict[str, Any]],
        tokenizer_model: str,
        prompts: List[workload.Prompt],
        workload_text: str,
        backend: str,
    ) -> None:
        self.args, self.plans, self.slos = args, plans, slos
        self.headers, self.knobs, self.tokenizer_model = headers, knobs, tokenizer_model
        self.prompts, self.workload_text, self.backend = prompts, workload_text, backend
        from .targets import kernel_receive_times

        if backend != "rust":
            timestamps = f"delivery: when Python read the bytes ({'httpx' if args.api == 'openai' else 'pure backend'})"
        elif kernel_receive_times(str(args.url)):
            timestamps = "kernel: when the bytes reached the socket (SO_TIMESTAMPNS)"
        else:
            timestamps = "socket: when the Rust reader got the bytes"
        self.document: Dict[str, Any] = {"tool": tool_info(os.environ.get(WAKE_WINDOW_ENV), timestamps), "runs": []}
        self.target_info: Dict[str, Any] = {}
        self.samples: List[RunSamples] = []
        self.write_failed = False

    def flush(self) -> None:
        """Writes the files asked for, whole, with every run so far."""
        try:
            json_path = self.args.json
            if json_path and json_path != "-":
                write_json(json_path, self.document)
            if self.args.html:
                write_html(self.args.html, self.document, self.samples)
        except OSError as exc:
            if not self.write_failed:
                print(f"tekton-llm bench: cannot write the report: {exc}", file=sys.stderr)
            self.write_failed = True

    def _make_target(self) -> Any:
        from .targets import OpenAiTarget, RhetorTarget

        # Idle connections kept: every one a run may hold. An open loop without --max-concurrency
        # holds rate x latency, unknown until it runs: keep them all (the settings' bound), as
        # reqwest does; the pool only ever holds connections the run itself needed.
        if any(p.mode == "open" and not p.max_concurrency for p in self.plans):
            pool = 100_000
        else:
            pool = max([p.max_concurrency or p.concurrency or 0 for p in self.plans] + [100])
        if self.args.api == "openai":
            return OpenAiTarget(
                self.args.url,
                self.backend,
                model=self.args.model,
                timeout=self.args.timeout,
                headers=self.headers,
                sim_knobs=self.knobs,
                pool_size=pool,
            )
        return RhetorTarget(
            self.args.url,
            self.backend,
            model=self.args.model,
            timeout=self.args.timeout,
            headers=self.headers,
            sim_knobs=self.knobs,
            dialect=self.args.dialect,
            pool_size=pool,
        )

    def _run_json(self, spec: LoadSpec, outcome: RunOutcome, aggregate: RunAggregate) -> Dict[str, Any]:
        config = {
            "mode": spec.mode,
            "rate": spec.rate,
            "concurrency": spec.concurrency,
            "max_concurrency": spec.max_concurrency,
            "arrival": spec.arrival if spec.mode == "open" else None,
            "burstiness": spec.burstiness if spec.mode == "open" else None,
            "seed": spec.seed,
            "duration_s": spec.duration_s,
            "requests": spec.requests,
            "warmup": spec.warmup,
            "preconnected": outcome.preconnected,
            "api": self.args.api,
            "dialect": self.target_info.get("dialect"),
            "url": _redact(self.args.url),
            "model": self.target_info.get("model", self.args.model),
            "backend": self.backend if self.args.api == "rhetor" or self.backend == "rust" else "httpx",
            "workload": self.workload_text,
            "tokenizer_model": self.tokenizer_model,
            "slo": self.args.slo,
        }
        run: Dict[str, Any] = {
            "config": config,
            "elapsed_s": round(outcome.elapsed_s, 6),
            "interrupted": outcome.interrupted,
        }
        run.update(summarize_run(outcome.records, aggregate, outcome.elapsed_s))
        sent = [r.sent_ns for r in outcome.records if r.sent_ns]
        if spec.mode == "open" and len(sent) > 1:
            run["throughput"]["send_rate_per_s"] = round((len(sent) - 1) / ((max(sent) - min(sent)) / 1e9), 6)
        run["client"] = self_check(run, outcome.cpu_s, outcome.elapsed_s, outcome.loop_lag_ns)
        notes = []
        if self.target_info.get("note"):
            notes.append(self.target_info["note"])
        sources = run["output_tokens"]["source_by_request"]
        notes.append(
            "output tokens: "
            + ", ".join(f"{n} requests from {_token_source(s, self.tokenizer_model)}" for s, n in sources.items())
            if sources
            else "output tokens: no request completed"
        )
        run["notes"] = notes
        return run

    async def _one(self, target: Any, spec: LoadSpec, role: Optional[str] = None) -> Dict[str, Any]:
        """One measured run; its figures join the document (and the files) even if cut short."""
        records: List[RequestRecord] = []
        aggregate = RunAggregate(self.tokenizer_model, self.slos)
        started = time.monotonic_ns()
        on_progress = None
        if not self.args.no_progress and sys.stderr.isatty():

            def on_progress(rs: List[RequestRecord], t0: int = started) -> None:
                sys.stderr.write(progress_line(rs, t0))
                sys.stderr.flush()

        outcome: Optional[RunOutcome] = None
        try:
            outcome = await run_load(target, self.prompts, spec, records, on_progress, aggregate.fold)
        finally:
            if outcome is None:  # cut short: keep what was measured
                outcome = RunOutcome(records, started, time.monotonic_ns(), 0.0, interrupted=True)
            run_json = self._run_json(spec, outcome, aggregate)
            if role is not None:
                run_json["config"]["sweep"] = role
            self.document["runs"].append(run_json)
            self.samples.append(samples_of(run_label(run_json), outcome.records, aggregate))
            self.flush()
            if on_progress is not None:
                sys.stderr.write("\n")
        return run_json

    async def _sweep(self, target: Any) -> None:
        """As guidellm sweeps: one request at a time (the synchronous rate), then as many as
        --max-concurrency (default 64) at once (the maximum throughput), then --sweep rates evenly
        between the two, open loop."""
        base = replace(self.plans[0], mode="closed", rate=None, max_concurrency=None)
        sync = await self._one(target, replace(base, concurrency=1), "synchronous")
        peak = await self._one(target, replace(base, concurrency=self.args.max_concurrency or 64), "throughput")
        low, high = sync["throughput"]["requests_per_s"], peak["throughput"]["requests_per_s"]
        if not low or not high or high <= low:
            self.document.setdefault("notes", []).append(
                f"sweep stopped: the throughput run ({high} req/s) was not above the synchronous one ({low} req/s)"
            )
            return
        count = self.args.sweep
        for i in range(1, count + 1):
            rate = round(low + (high - low) * i / (count + 1), 3)
            await self._one(
                target,
                replace(
                    base,
                    mode="open",
                    rate=rate,
                    concurrency=None,
                    arrival=self.args.arrival,
                    burstiness=self.args.burstiness,
                    max_concurrency=self.args.max_concurrency,
                ),
                "rate",
            )

    async def main(self) -> int:
        target = self._make_target()
        try:
            try:
                self.target_info = await target.prepare()
            except Exception as exc:
                self.document["error"] = f"cannot start: {exc}"
                self.flush()
                print(f"tekton-llm bench: cannot start: {exc}", file=sys.stderr)
                return 1
            if self.args.sweep:
                await self._sweep(target)
            else:
                for spec in self.plans:
                    await self._one(target, spec)
        finally:
            await target.close()
        if self.args.json == "-":
            write_json("-", self.document)
        else:
            print_table(self.document["runs"], sys.stdout)
        failed = sum(r["requests"]["failed"] + r["requests"]["unfinished"] for r in self.document["runs"])
        if self.write_failed:
            return 3  # the report could not be written (the CLI's exit status for output errors)
        return 0 if failed == 0 else 1


def _token_source(source: str, tokenizer_model: str) -> str:
    """Where a request's output-token count came from, for the report's notes."""
    return "the server usage" if source == "usage" else f"our token counter ({tokenizer_model})"
