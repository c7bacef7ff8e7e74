"""`tekton-llm bench --url`: the load generator run as a user runs it (a subprocess) against the
simulator's Rhetor v1 and OpenAI endpoints and against small peers that fail or die, over real
sockets. Timing bounds are generous plausibility checks (what the simulator was told to do),
not fine timing."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest
from tekton_llm_client.testing import RhetorSimulator

from .peer_server import PeerServer, response, sse
from .rhetor_replay import Request
from .test_cli import cli, spawn, wait_for

STATS = ("mean", "p50", "p90", "p95", "p99", "p999", "max")
PACED = '{"first_chunk_delay_ms": 50, "chunk_delay_ms": 10, "chunks": 20}'

# api, backend: both endpoints on both paths (rust: sent and timed by the I/O thread; python:
# the pure backend for Rhetor, httpx for OpenAI).
TARGETS = [("rhetor", "rust"), ("rhetor", "python"), ("openai", "rust"), ("openai", "python")]


def assert_run_shape(run: Dict[str, Any]) -> None:
    """Every key the issue's JSON shape names."""
    for key in ("mode", "rate", "concurrency", "arrival", "duration_s", "api", "dialect"):
        assert key in run["config"]
    assert set(run["requests"]) >= {"completed", "failed", "errors_by_kind"}
    assert set(run["throughput"]) >= {"requests_per_s", "output_tokens_per_s"}
    for metric in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms", "schedule_lag_ms"):
        assert set(run[metric]) >= set(STATS), metric


def load(path: Path) -> Dict[str, Any]:
    document = json.loads(path.read_text())
    assert document["tool"]["name"] == "tekton-llm bench"
    assert "machine" in document["tool"] and "version" in document["tool"]
    return document


@pytest.mark.parametrize("api,backend", TARGETS)
def test_open_loop_reports_what_the_simulator_was_told(
    sim: RhetorSimulator, tmp_path: Path, api: str, backend: str
) -> None:
    out = tmp_path / "bench.json"
    r = cli(
        "bench",
        "--url",
        sim.url,
        "--api",
        api,
        "--backend",
        backend,
        "--rate",
        "20",
        "--arrival",
        "poisson",
        "--seed",
        "7",
        "--requests",
        "30",
        "--sim-knobs",
        PACED,
        "--slo",
        "ttft_p99=5s,itl_p99=5s",
        "--json",
        str(out),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    document = load(out)
    assert document["tool"]["wake_window_us"] == "0"  # the bench turns coalescing off for itself
    # Over http:// the Rust core stamps chunks with the kernel's receive time; Python, when it read.
    assert document["tool"]["timestamps"].startswith("kernel" if backend == "rust" else "delivery")
    [run] = document["runs"]
    assert_run_shape(run)
    assert run["config"]["mode"] == "open" and run["config"]["rate"] == 20
    assert run["config"]["arrival"] == "poisson"
    # The connections 20/s of 250 ms streams hold were opened before the run began (by either
    # backend's own HTTP/1.1 for Rhetor; the OpenAI target's httpx path opens none).
    assert (run["config"]["preconnected"] > 0) == (backend == "rust" or api == "rhetor")
    assert run["config"]["dialect"] == ("v1" if api == "rhetor" else "openai")
    assert run["requests"] == {"completed": 30, "failed": 0, "unfinished": 0, "errors_by_kind": {}}
    # 20 chunks a request, one token each by the simulator's usage, which is the source named.
    assert run["output_tokens"] == {"total": 600, "source_by_request": {"usage": 30}}
    assert run["ttft_ms"]["count"] == 30 and run["itl_ms"]["count"] == 30 * 19
    # The simulator waits 50 ms before the first chunk and paces the rest on a drift-free
    # schedule 10 ms apart: TTFT and E2E cannot be below that. Gaps can (a chunk sent late is
    # followed by the next on time, and chunks read together share one arrival time), so ITL
    # and TPOT get only generous upper bounds.
    assert 49 <= run["ttft_ms"]["p50"] < 1000
    assert 0 <= run["itl_ms"]["p50"] < 1000
    assert 0 <= run["tpot_ms"]["p50"] < 1000
    assert 49 + 19 * 10 - 1 <= run["e2e_ms"]["p50"] < 5000
    for metric in ("ttft_ms", "itl_ms", "e2e_ms", "schedule_lag_ms"):
        s = run[metric]
        assert s["p50"] <= s["p90"] <= s["p95"] <= s["p99"] <= s["p999"] <= s["max"]
    assert run["goodput_per_s"] == pytest.approx(run["throughput"]["requests_per_s"])
    assert all(check["met"] for check in run["slo"]["checks"].values())
    assert run["client"]["cpu_s"] > 0 and "p99" in run["client"]["loop_lag_ms"]
    assert "rate 20/s" in r.stdout and "ttft p50" in r.stdout  # the summary table


def test_the_same_seed_gives_the_same_schedule() -> None:
    """Poisson arrivals are drawn from the seed: two runs ask the server at the same offsets."""
    from tekton_llm_client.bench.arrivals import arrival_offsets

    first = list(arrival_offsets(50, "poisson", 1.0, 3, 20, None))
    assert first == list(arrival_offsets(50, "poisson", 1.0, 3, 20, None))
    assert first != list(arrival_offsets(50, "poisson", 1.0, 4, 20, None))
    assert list(arrival_offsets(4, "constant", 1.0, 0, None, 1.0)) == [0, 250_000_000, 500_000_000, 750_000_000]


def test_burstiness_spreads_the_gaps_as_a_gamma_of_that_shape() -> None:
    """Gaps are gamma-distributed with shape `burstiness` and mean 1/rate: the coefficient of
    variation is 1/sqrt(shape) (2 at 0.25, burstier than Poisson; 0.5 at 4, more regular)."""
    from statistics import mean, pstdev

    from tekton_llm_client.bench.arrivals import arrival_offsets

    for shape, cv in ((0.25, 2.0), (1.0, 1.0), (4.0, 0.5)):
        offsets = list(arrival_offsets(100, "poisson", shape, 11, 20_000, None))
        gaps = [later - earlier for earlier, later in zip(offsets, offsets[1:], strict=False)]
        assert abs(mean(gaps) / 10_000_000 - 1) < 0.05  # 100/s whatever the shape
        assert abs(pstdev(gaps) / mean(gaps) - cv) < 0.1 * cv


def test_closed_loop_runs_each_concurrency_level(sim: RhetorSimulator, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = cli(
        "bench",
        "--url",
        sim.url,
        "--concurrency",
        "1,3",
        "--requests",
        "9",
        "--warmup",
        "0",
        "--sim-knobs",
        '{"chunks": 4, "chunk_delay_ms": 5}',
        "--json",
        str(out),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    runs = load(out)["runs"]
    assert [run["config"]["concurrency"] for run in runs] == [1, 3]
    for run in runs:
        assert_run_shape(run)
        assert run["config"]["mode"] == "closed"
        assert run["requests"]["completed"] == 9
        assert run["config"]["arrival"] is None and run["schedule_lag_ms"]["count"] == 9
    # warm-up excluded: exactly the measured requests (9 + 9) reached the simulator
    assert len([q for q in sim.requests if q["path"] == "/api/v1/chat/stream"]) == 18


def test_synthetic_prompts_have_the_asked_token_length(sim: RhetorSimulator, tmp_path: Path) -> None:
    from tekton_llm_client.utils import count_tokens

    out = tmp_path / "bench.json"
    r = cli(
        "bench",
        "--url",
        sim.url,
        "--api",
        "openai",
        "--rate",
        "50",
        "--requests",
        "6",
        "--warmup",
        "0",
        "--synthetic",
        "prompt_tokens=64,output_tokens=12",
        "--json",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    [run] = load(out)["runs"]
    assert run["output_tokens"]["total"] == 6 * 12  # max_tokens=12 → 12 chunks each
    bodies = [q["json"] for q in sim.requests if q["path"] == "/v1/chat/completions"]
    assert len(bodies) == 6
    for body in bodies:
        assert body["max_tokens"] == 12 and body["stream"] is True
        assert count_tokens(body["messages"][-1]["content"], "gpt-4o") == 64


def test_prompts_file_is_sent_in_turn(sim: RhetorSimulator, tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "first one"}\n\n{"messages": [{"role": "user", "content": "second"}]}\n')
    r = cli(
        "bench",
        "--url",
        sim.url,
        "--rate",
        "50",
        "--requests",
        "4",
        "--warmup",
        "0",
        "--prompts",
        str(prompts),
        "--json",
        str(tmp_path / "b.json"),
    )
    assert r.returncode == 0, r.stderr
    sent = [q["json"]["messages"][-1]["content"] for q in sim.requests if q["path"] == "/api/v1/chat/stream"]
    assert sorted(sent) == ["first one", "first one", "second", "second"]


class FailingPeer:
    """An OpenAI-compatible or Rhetor peer that fails every second request with HTTP 500 and,
    with `die_after`, stops listening (and drops its connections) after that many requests."""

    def __init__(self, api: str, die_after: int = 0) -> None:
        self.api = api
        self.die_after = die_after
        self.count = 0
        self.lock = threading.Lock()
        self.peer = PeerServer(self.answer)

    def answer(self, request: Request) -> bytes:
        if "/health" in request.path:  # the client's start-up check is not a measured request
            return response(200, {"status": "ok", "version": "1"})
        with self.lock:
            self.count += 1
            n = self.count
        if self.die_after and n > self.die_after:
            server = self.peer._server
            if server is not None:
                server.close()
            for writer in self.peer._writers:
                writer.close()
            return b""
        if n % 2 == 0 and not self.die_after:
            return response(500, {"error": "boom", "code": "internal_error"})
        if self.api == "openai":
            return sse(
                {"choices": [{"index": 0, "delta": {"content": "hello"}}]},
                {"choices": [{"index": 0, "delta": {"content": " there"}}]},
                {"choices": [], "usage": {"completion_tokens": 2}},
                "[DONE]",
            )
        return sse(
            {"chunk": "hello", "done": False},
            {"chunk": " there", "done": False},
            {"chunk": "", "done": True, "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}},
        )


@pytest.mark.parametrize("api,backend", TARGETS)
def test_failed_requests_are_counted_by_kind_and_exit_1(tmp_path: Path, api: str, backend: str) -> None:
    failing = FailingPeer(api)
    out = tmp_path / "bench.json"
    with failing.peer:
        r = cli(
            "bench",
            "--url",
            failing.peer.url,
            "--api",
            api,
            "--backend",
            backend,
            "--dialect",
            "v1",
            "--model",
            "m",
            "--rate",
            "50",
            "--requests",
            "20",
            "--warmup",
            "0",
            "--json",
            str(out),
            timeout=120,
        )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    [run] = load(out)["runs"]
    assert_run_shape(run)
    assert run["requests"]["completed"] == 10 and run["requests"]["failed"] == 10
    assert sum(run["requests"]["errors_by_kind"].values()) == 10
    assert "failures by kind" in r.stdout
    assert run["ttft_ms"]["count"] == 10  # latencies are of the completed requests


@pytest.mark.parametrize("api,backend", TARGETS)
def test_a_server_that_dies_halfway_leaves_complete_json(tmp_path: Path, api: str, backend: str) -> None:
    dying = FailingPeer(api, die_after=8)
    out = tmp_path / "bench.json"
    page = tmp_path / "bench.html"
    with dying.peer:
        r = cli(
            "bench",
            "--url",
            dying.peer.url,
            "--api",
            api,
            "--backend",
            backend,
            "--dialect",
            "v1",
            "--model",
            "m",
            "--rate",
            "50",
            "--requests",
            "20",
            "--warmup",
            "0",
            "--timeout",
            "10",
            "--json",
            str(out),
            "--html",
            str(page),
            timeout=120,
        )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    [run] = load(out)["runs"]
    assert_run_shape(run)
    requests = run["requests"]
    assert requests["completed"] == 8 and requests["failed"] == 12 and requests["unfinished"] == 0
    assert sum(requests["errors_by_kind"].values()) == 12
    text = page.read_text()
    assert text.rstrip().endswith("</html>") and "Timeline" in text


def test_html_report_is_self_contained(sim: RhetorSimulator, tmp_path: Path) -> None:
    page = tmp_path / "bench.html"
    r = cli(
        "bench",
        "--url",
        sim.url,
        "--rate",
        "20,40",
        "--requests",
        "10",
        "--warmup",
        "0",
        "--sim-knobs",
        '{"chunks": 5, "chunk_delay_ms": 2}',
        "--html",
        str(page),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    for section in (
        "TTFT (from the scheduled send time)",
        "Inter-token latency",
        "End-to-end latency",
        "TTFT against the load",
        "ITL against the load",
        "Timeline: rate 20/s",
        "Timeline: rate 40/s",
    ):
        assert section in text, section
    assert text.count("<polyline") >= 3 * 2 + 2 * 2  # a CDF per run in three charts, two load charts
    # offline: nothing loaded from anywhere
    assert "<script" not in text and "src=" not in text and "href=" not in text and "@import" not in text


def test_an_unwritable_report_is_a_clear_error(sim: RhetorSimulator, tmp_path: Path) -> None:
    r = cli(
        "bench",
        "--url",
        sim.url,
        "--rate",
        "50",
        "--requests",
        "2",
        "--warmup",
        "0",
        "--json",
        str(tmp_path / "missing-dir" / "b.json"),
    )
    assert r.returncode == 3 and "cannot write the report" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--rate", "0"], "--rate"),
        (["--rate", "x"], "--rate"),
        (["--slo", "ttft=5"], "bad SLO"),
        (["--slo", "ttft_p99=fast"], "not a duration"),
        (["--synthetic", "prompt_tokens=0"], "--synthetic"),
        (["--sim-knobs", "[1]"], "--sim-knobs"),
        (["--prompts", "/nonexistent/p.jsonl"], "cannot read"),
        (["--header", "novalue"], "--header"),
        (["--requests", "0"], "--requests"),
        (["--rate", "1e9"], "at most"),
        (["--rate", "nan"], "--rate"),
        (["--duration", "inf"], "--duration"),
        (["--max-concurrency", "0"], "--max-concurrency"),
        (["--warmup", "-1"], "--warmup"),
        (["--rate", "10", "--arrival", "poisson", "--burstiness", "0"], "--burstiness"),
    ],
)
def test_bad_options_are_clear_errors(args: List[str], message: str) -> None:
    r = cli("bench", "--url", "http://127.0.0.1:9", *args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_an_unreachable_server_fails_every_request_and_still_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = cli(
        "bench",
        "--url",
        "http://127.0.0.1:9",
        "--dialect",
        "v1",
        "--rate",
        "100",
        "--requests",
        "5",
        "--warmup",
        "0",
        "--json",
        str(out),
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    [run] = load(out)["runs"]
    assert run["requests"]["failed"] == 5 and run["requests"]["completed"] == 0
    assert run["ttft_ms"]["p50"] is None


def test_sweep_runs_synchronous_then_throughput_then_rates_between(sim: RhetorSimulator, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = cli(
        "bench",
        "--url",
        sim.url,
        "--sweep",
        "2",
        "--max-concurrency",
        "4",
        "--requests",
        "8",
        "--warmup",
        "0",
        "--sim-knobs",
        '{"chunks": 4, "chunk_delay_ms": 5}',
        "--json",
        str(out),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    runs = load(out)["runs"]
    assert [run["config"]["sweep"] for run in runs] == ["synchronous", "throughput", "rate", "rate"]
    assert [run["config"]["concurrency"] for run in runs[:2]] == [1, 4]
    low, high = (run["throughput"]["requests_per_s"] for run in runs[:2])
    rates = [run["config"]["rate"] for run in runs[2:]]
    assert low < rates[0] < rates[1] < high
    for run in runs:
        assert_run_shape(run)
        assert run["requests"]["completed"] == 8


def test_sweep_and_rate_exclude_each_other() -> None:
    r = cli("bench", "--url", "http://127.0.0.1:9", "--sweep", "2", "--rate", "5")
    assert r.returncode == 2 and "--sweep" in r.stderr


@pytest.mark.parametrize("line_ending", ["crlf", "cr"])
def test_openai_streams_with_other_line_endings_are_read(
    sim: RhetorSimulator, tmp_path: Path, line_ending: str
) -> None:
    out = tmp_path / "bench.json"
    knobs = json.dumps({"chunks": 5, "chunk_delay_ms": 2, "line_ending": line_ending})
    r = cli(
        "bench",
        "--url",
        sim.url,
        "--api",
        "openai",
        "--rate",
        "50",
        "--requests",
        "4",
        "--warmup",
        "0",
        "--sim-knobs",
        knobs,
        "--json",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    [run] = load(out)["runs"]
    assert run["requests"]["completed"] == 4
    assert run["itl_ms"]["count"] == 4 * 4  # five chunks with text each: every event was seen


@pytest.mark.parametrize("api,backend", TARGETS)
def test_ctrl_c_writes_what_was_measured(sim: RhetorSimulator, tmp_path: Path, api: str, backend: str) -> None:
    out = tmp_path / "bench.json"
    stream_path = "/api/v1/chat/stream" if api == "rhetor" else "/v1/chat/completions"
    proc = spawn(
        "bench",
        "--url",
        sim.url,
        "--api",
        api,
        "--backend",
        backend,
        "--rate",
        "20,20",
        "--requests",
        "4",
        "--warmup",
        "0",
        "--sim-knobs",
        '{"first_chunk_delay_ms": 60000}',
        "--json",
        str(out),
    )
    try:
        wait_for(lambda: len([q for q in sim.requests if q["path"] == stream_path]) >= 4)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    [run] = load(out)["runs"]  # the first run, cut short: its requests are in, none finished
    assert_run_shape(run)
    assert run["interrupted"] is True
    assert run["requests"]["unfinished"] == 4 and run["requests"]["completed"] == 0


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_an_older_dialect_that_cannot_stream_is_said_so(tmp_path: Path, backend: str) -> None:
    """Gen A (replayed from recordings) is detected; each answer arrives whole, and the report
    says so instead of presenting one chunk as a stream."""
    from .rhetor_replay import gen_a

    out = tmp_path / "bench.json"
    with gen_a() as server:
        r = cli(
            "bench",
            "--url",
            server.url,
            "--backend",
            backend,
            "--rate",
            "20",
            "--requests",
            "3",
            "--warmup",
            "0",
            "--json",
            str(out),
        )
    assert r.returncode == 0, r.stderr
    [run] = load(out)["runs"]
    assert run["config"]["dialect"] == "gen_a"
    assert run["requests"]["completed"] == 3
    assert any("cannot stream" in note for note in run["notes"])
    assert "cannot stream" in r.stdout
    assert run["itl_ms"]["count"] == 0  # one chunk each: no inter-token gaps


def test_the_summary_says_from_which_rate_the_client_stops_being_trustworthy(
    sim: RhetorSimulator, tmp_path: Path
) -> None:
    # One request at a time (--max-concurrency 1) of streams that take 250 ms: at 40/s requests
    # wait for the slot for seconds, so that run cannot be trustworthy, whatever the machine.
    out = tmp_path / "bench.json"
    page = tmp_path / "bench.html"
    r = cli(
        "bench",
        "--url",
        sim.url,
        "--rate",
        "1,40",
        "--max-concurrency",
        "1",
        "--requests",
        "3",
        "--warmup",
        "0",
        "--sim-knobs",
        PACED,
        "--json",
        str(out),
        "--html",
        str(page),
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    slow, fast = load(out)["runs"]
    assert fast["client"]["trustworthy"] is False and fast["schedule_lag_ms"]["p99"] > 1
    first = "1/s" if not slow["client"]["trustworthy"] else "40/s"
    assert f"note: this client's figures stop being trustworthy from {first}" in r.stdout
    assert "stop being trustworthy from" in page.read_text()


class CuttingPeer:
    """Sends the headers and one event with text of a longer stream, then drops the connection:
    a stream cut after output."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.peer = PeerServer(self.answer)

    def answer(self, request: Request) -> bytes:
        if "/health" in request.path:
            return response(200, {"status": "ok", "version": "1"})
        first: Dict[str, Any] = (
            {"choices": [{"index": 0, "delta": {"content": "hello"}}]}
            if self.api == "openai"
            else {"chunk": "hello", "done": False}
        )
        whole = sse(first, first, "[DONE]" if self.api == "openai" else {"chunk": "", "done": True})
        cut = whole[: whole.index(b"\n\n", whole.index(b"data:")) + 2]
        peer = self.peer
        asyncio.get_running_loop().call_later(0.2, lambda: [w.close() for w in peer._writers])
        return cut


@pytest.mark.parametrize(
    "api,backend,kind",
    [
        ("rhetor", "rust", "StreamInterruptedError"),
        ("openai", "rust", "StreamInterruptedError"),
        ("openai", "python", "StreamInterruptedError"),
        ("rhetor", "python", "StreamErrorEvent"),  # the pure backend does not say which error
    ],
)
def test_a_stream_cut_after_output_is_counted_by_its_kind(tmp_path: Path, api: str, backend: str, kind: str) -> None:
    cutting = CuttingPeer(api)
    out = tmp_path / "bench.json"
    with cutting.peer:
        r = cli(
            "bench",
            "--url",
            cutting.peer.url,
            "--api",
            api,
            "--backend",
            backend,
            "--dialect",
            "v1",
            "--model",
            "m",
            "--concurrency",
            "1",
            "--requests",
            "3",
            "--warmup",
            "0",
            "--timeout",
            "10",
            "--json",
            str(out),
            timeout=120,
        )
    assert r.returncode == 1, r.stderr
    [run] = load(out)["runs"]
    assert run["requests"]["errors_by_kind"] == {kind: 3}, run["requests"]
