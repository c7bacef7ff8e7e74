"""Every `tekton-llm` command ends a failure in one line, `tekton-llm <cmd>: <kind>: <message>`,
with the exit status of docs/cli.md, never a traceback. Run as a user runs it: a subprocess,
against simulators and servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest
from tekton_llm_client.testing import RhetorSimulator

from .rhetor_replay import gen_b
from .test_cli import by_id, chat_prompts, read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parent.parent

# Small benchmark runs: the command's behaviour, not a measurement.
TINY_BENCH = (
    "--streams",
    "1",
    "--runs",
    "1",
    "--concurrency",
    "1",
    "--chunks",
    "5",
    "--paced-chunks",
    "3",
    "--chunk-delay-ms",
    "0",
)


def run(
    *args: str, env: Optional[Dict[str, str]] = None, stdin: str = "", timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RHETOR_", "TEKTON_LLM_"))}
    return subprocess.run(
        [sys.executable, "-m", "tekton_llm_client", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**base, **(env or {})},
    )


def one_line(p: subprocess.CompletedProcess[str], command: str, kind: str) -> str:
    """The failure's single stderr line, checked for its form; returns its message. (`bench`'s
    progress lines, `tekton-llm bench: [i/n] ...`, are not failure lines.)"""
    assert "Traceback" not in p.stderr, p.stderr
    lines = [line for line in p.stderr.splitlines() if not re.match(r"tekton-llm bench: \[\d+/\d+\] ", line)]
    assert len(lines) == 1, p.stderr
    m = re.fullmatch(rf"tekton-llm {command}: {kind}: (.+)", lines[0])
    assert m, lines[0]
    return m.group(1)


def free_port() -> int:
    """A port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the configuration, in every command --------------------------------------------------------

BAD_SETTINGS = {
    "RHETOR_URL": "localhost:8003",
    "RHETOR_TIMEOUT": "abc",
    "RHETOR_MAX_RETRIES": "many",
    "TEKTON_LLM_BACKEND": "java",
    "RHETOR_DIALECT": "zzz",
}


@pytest.mark.parametrize(
    "var,value",
    [*BAD_SETTINGS.items(), ("RHETOR_TIMEOUT", "-1"), ("RHETOR_TIMEOUT", "0"), ("RHETOR_MAX_RETRIES", "-2")],
)
@pytest.mark.parametrize("command", ["batch", "generate", "chat"])
def test_a_bad_setting_is_one_configuration_line(tmp_path: Path, command: str, var: str, value: str) -> None:
    (tmp_path / "in.jsonl").write_text('{"prompt": "x"}\n')
    args = {
        "batch": ["batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl")],
        "generate": ["generate", "hello"],
        "chat": ["chat"],
    }[command]
    p = run(*args, env={var: value}, stdin="hello\n")
    assert p.returncode == 2, p.stderr
    message = one_line(p, command, "configuration")
    assert var in message and value in message
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.jsonl.journal").exists()


def test_tokens_and_bench_stop_only_for_the_settings_they_use(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("some text")
    p = run("tokens", str(tmp_path / "a.txt"), env={"TEKTON_LLM_BACKEND": "java"})
    assert p.returncode == 2 and "TEKTON_LLM_BACKEND" in one_line(p, "tokens", "configuration")
    unused = {k: v for k, v in BAD_SETTINGS.items() if k != "TEKTON_LLM_BACKEND"}
    q = run("tokens", str(tmp_path / "a.txt"), env=unused)
    assert q.returncode == 0 and q.stderr == "" and q.stdout.split()[1] == str(tmp_path / "a.txt")
    for var in ("RHETOR_MAX_RETRIES", "RHETOR_DIALECT"):  # bench's clients read these
        b = run("bench", *TINY_BENCH, env={var: BAD_SETTINGS[var]})
        assert b.returncode == 2 and var in one_line(b, "bench", "configuration")
        assert b.stdout == ""  # stopped before it said what it would measure
    # the embedded simulator's URL, the timeout and both backends are bench's own choice
    ok = run(
        "bench",
        *TINY_BENCH,
        env={k: BAD_SETTINGS[k] for k in ("RHETOR_URL", "TEKTON_LLM_BACKEND")} | {"RHETOR_TIMEOUT": "-1"},
    )
    assert ok.returncode == 0 and "Traceback" not in ok.stderr, ok.stderr


def test_simulate_does_not_read_the_client_settings() -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RHETOR_", "TEKTON_LLM_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tekton_llm_client", "simulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**base, **BAD_SETTINGS},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("RHETOR_SIMULATOR_URL=http://127.0.0.1:")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err


# -- an unreachable Rhetor ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_batch_against_an_unreachable_rhetor_is_one_line_and_no_output(tmp_path: Path, backend: str) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"u{i}", "prompt": f"p{i}"} for i in range(27)])
    out = tmp_path / "out.jsonl"
    url = f"http://127.0.0.1:{free_port()}"
    p = run("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", url, "--backend", backend)
    assert p.returncode == 1
    assert url in one_line(p, "batch", "connection")
    assert not out.exists() and not Path(str(out) + ".journal").exists()  # no 0-byte output


def test_a_malformed_command_line_is_one_usage_line(tmp_path: Path) -> None:
    p = run("batch", str(tmp_path / "in.jsonl"))
    assert p.returncode == 2 and "-o/--output" in one_line(p, "batch", "usage")
    q = run("generate", "hi", "--timeout", "soon")
    assert q.returncode == 2 and "'soon'" in one_line(q, "generate", "usage")
    r = run("frobnicate")
    assert r.returncode == 2 and re.fullmatch(r"tekton-llm: usage: .*'frobnicate'.*\n", r.stderr)


def test_batch_against_an_unreachable_rhetor_keeps_the_previous_output(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "y"}\n')
    out = tmp_path / "out.jsonl"
    before = '{"id": "a", "content": "kept"}\n'
    out.write_text(before)
    p = run("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", f"http://127.0.0.1:{free_port()}")
    assert p.returncode == 1
    one_line(p, "batch", "connection")
    assert out.read_text() == before


@pytest.mark.parametrize("command", ["generate", "chat"])
def test_generate_and_chat_against_an_unreachable_rhetor(command: str) -> None:
    args = ["generate", "hello"] if command == "generate" else ["chat"]
    p = run(*args, "--url", f"http://127.0.0.1:{free_port()}", "--retries", "0", stdin="hello\n")
    assert p.returncode == 1
    one_line(p, command, "connection")


# -- batch: one line per failed item, whatever the retries ---------------------------------------


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_batch_says_one_line_per_failed_item_and_retries_only_when_verbose(tmp_path: Path, backend: str) -> None:
    rows = [{"id": f"f{i}", "prompt": f"down {i}", "provider_id": "anthropic"} for i in range(4)]
    rows += [{"id": "fine", "prompt": "up"}]
    write_jsonl(tmp_path / "in.jsonl", rows)
    with RhetorSimulator(unavailable_providers=["anthropic"], retry_after=0) as sim:
        args = ("batch", str(tmp_path / "in.jsonl"), "--url", sim.url, "--retries", "2", "--backend", backend)
        quiet = run(*args, "-o", str(tmp_path / "quiet.jsonl"))
        verbose = run(*args, "-o", str(tmp_path / "verbose.jsonl"), "--verbose")
    assert quiet.returncode == 1 and verbose.returncode == 1
    assert "Traceback" not in quiet.stderr + verbose.stderr
    lines = quiet.stderr.splitlines()
    assert len(lines) == 4, quiet.stderr
    name = str(tmp_path / "in.jsonl")
    assert sorted(lines) == sorted(
        line for line in lines if re.match(rf"{re.escape(name)}:[1-4]: f[0-3]: service_unavailable: ", line)
    )
    retries = [line for line in verbose.stderr.splitlines() if "retrying" in line]
    assert len(retries) == 4 * 2  # the retries, each logged, only with --verbose
    assert by_id(read_jsonl(tmp_path / "quiet.jsonl"))["fine"]["content"] == sim.answer_text("up")


# -- batch: progress ----------------------------------------------------------------------------


def test_batch_progress_from_stdin_has_no_total_and_no_eta(sim: RhetorSimulator, tmp_path: Path) -> None:
    p = run(
        "batch", "-", "-o", str(tmp_path / "out.jsonl"), "--url", sim.url, "--progress", stdin='{"prompt": "one"}\n'
    )
    assert p.returncode == 0, p.stderr
    assert "1 done, 0 failed" in p.stderr
    assert "/0 done" not in p.stderr and "ETA" not in p.stderr


def test_batch_progress_of_a_fully_resumed_run(sim: RhetorSimulator, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": f"r{i}"} for i in range(3)])
    args = ("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--url", sim.url, "--progress")
    assert run(*args).returncode == 0
    p = run(*args)
    assert p.returncode == 0, p.stderr
    final = p.stderr.split("\r")[-1]
    assert "3/3 done, 0 failed, 3 skipped" in final
    assert "/s" not in p.stderr and "ETA" not in p.stderr  # nothing ran: no rate, no "ETA ?"


# -- batch: input and its lines -----------------------------------------------------------------


def test_batch_input_that_is_a_directory_or_missing(tmp_path: Path) -> None:
    p = run("batch", str(tmp_path), "-o", str(tmp_path / "out.jsonl"))
    assert p.returncode == 2 and "is a directory" in one_line(p, "batch", "usage")
    q = run("batch", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert q.returncode == 2 and "no such input file" in one_line(q, "batch", "usage")
    (tmp_path / "in.jsonl").write_text('{"prompt": "x"}\n')
    r = run("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path))
    assert r.returncode == 2 and "is a directory" in one_line(r, "batch", "usage")


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_batch_bad_lines_carry_their_line_and_are_never_sent(
    sim: RhetorSimulator, tmp_path: Path, backend: str
) -> None:
    rows = [
        {"id": "first", "prompt": "fine"},
        '{"id": "broken", "prompt": }',  # line 2: the value is missing at column 28
        '{"id": "x"\t"prompt": "y"}',  # line 3: no comma before "prompt" (column 12)
        {"id": "msg-str", "messages": "hello"},
        {"id": "msg-norole", "messages": [{"content": "no role"}]},
        {"id": "prompt-int", "prompt": 42},
        {"id": "hot", "prompt": "never sent", "temperature": "hot"},
        {"id": "cold", "prompt": "never sent", "temperature": -1},
        {"id": "neg", "prompt": "never sent", "max_tokens": -5},
        {"id": "frac", "prompt": "never sent", "max_tokens": 2.5},
        {"id": "flag", "prompt": "never sent", "max_tokens": True},
        b'{"id": "latin1", "prompt": "caf\xe9"}'.decode("latin-1"),
        {"id": "last", "prompt": "also fine", "temperature": 0.2, "max_tokens": 30},
    ]
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b"".join((r.encode("latin-1") if isinstance(r, str) else json.dumps(r).encode()) + b"\n" for r in rows)
    )
    out = tmp_path / "out.jsonl"
    p = run("batch", str(path), "-o", str(out), "--url", sim.url, "--backend", backend)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    got = by_id(read_jsonl(out))
    assert got["first"]["content"] == sim.answer_text("fine") and got["last"]["content"] == sim.answer_text("also fine")
    bad = {k: v for k, v in got.items() if "error" in v}
    assert {k: v["line"] for k, v in bad.items()} == {
        "line-2": 2,
        "line-3": 3,
        "msg-str": 4,
        "msg-norole": 5,
        "prompt-int": 6,
        "hot": 7,
        "cold": 8,
        "neg": 9,
        "frac": 10,
        "flag": 11,
        "line-12": 12,
    }
    assert all(v["error"]["kind"] == "invalid_input" for v in bad.values())
    assert got["line-2"]["error"]["message"] == "invalid JSON at column 28: Expecting value"
    assert got["line-3"]["error"]["message"].startswith("invalid JSON at column 12: ")
    assert "not UTF-8" in got["line-12"]["error"]["message"]
    assert "temperature" in got["hot"]["error"]["message"] and "max_tokens" in got["neg"]["error"]["message"]
    assert len(p.stderr.splitlines()) == len(bad)  # one line each
    assert f"{path}:2: invalid JSON at column 28" in p.stderr
    assert "never sent" not in chat_prompts(sim)


# -- simulate -----------------------------------------------------------------------------------


def test_simulate_on_a_port_in_use_names_the_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = run("simulate", "--port", str(port))
    assert p.returncode == 1
    message = one_line(p, "simulate", "listen")
    assert f"127.0.0.1:{port}" in message and "in use" in message


def test_simulate_with_a_bad_knob_is_a_usage_line() -> None:
    p = run("simulate", "--port", "0", "--knob", "no-equals-sign")
    assert p.returncode == 2 and "NAME=VALUE" in one_line(p, "simulate", "usage")


# -- generate, tokens, --version ----------------------------------------------------------------


def test_generate_with_an_out_of_range_option_is_a_usage_line(sim: RhetorSimulator) -> None:
    for opt, value in (("--temperature", "-1"), ("--temperature", "nan"), ("--max-tokens", "-1")):
        p = run("generate", "hi", "--url", sim.url, opt, value)
        assert p.returncode == 2 and opt.strip("-").replace("-", "_") in one_line(p, "generate", "usage")
    assert chat_prompts(sim) == []


def test_chat_with_a_bad_context_size_is_a_usage_line() -> None:
    p = run("chat", "--max-context-tokens", "0", stdin="hello\n")
    assert p.returncode == 2 and "--max-context-tokens" in one_line(p, "chat", "usage")


def test_tokens_reports_a_directory_in_one_line_and_counts_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    p = subprocess.run(
        [sys.executable, "-m", "tekton_llm_client", "tokens", str(tmp_path), str(tmp_path / "a.txt")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert p.returncode == 1
    assert "Is a directory" in one_line(p, "tokens", "input")
    assert p.stdout.split()[1] == str(tmp_path / "a.txt")


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version

    p = run("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"tekton-llm {version('tekton-llm-client')}"
    import tekton_llm_client

    assert tekton_llm_client.__version__ == version("tekton-llm-client")


# -- bench --------------------------------------------------------------------------------------


def test_bench_says_what_it_measures_and_shows_progress() -> None:
    p = run("bench", *TINY_BENCH, "--backend", "python")
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    header = next(i for i, line in enumerate(out) if line.split()[:3] == ["kind", "conc", "backend"])
    above = "\n".join(out[:header])
    assert "embedded simulator" in above and "paced rows" in above and "unpaced rows" in above
    steps = [line for line in p.stderr.splitlines() if re.match(r"tekton-llm bench: \[\d/2\] ", line)]
    assert len(steps) == 2 and "Traceback" not in p.stderr


# `bench --url` measures a server (tekton_llm_client.bench, docs/bench.md): a failed request is
# data, counted by kind, never a traceback; the run exits 1 when any request failed.


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_bench_url_counts_failed_streams_by_kind(backend: str) -> None:
    with RhetorSimulator(error_after=1) as sim:
        p = run("bench", "--url", sim.url, "--backend", backend, "--requests", "4", "--concurrency", "1")
    assert p.returncode == 1
    assert "Traceback" not in p.stderr + p.stdout
    assert "failures by kind" in p.stdout


def test_bench_url_against_an_unreachable_server_counts_connection_errors() -> None:
    p = run(
        "bench",
        "--url",
        f"http://127.0.0.1:{free_port()}",
        "--backend",
        "python",
        "--requests",
        "3",
        "--concurrency",
        "1",
    )
    assert p.returncode == 1
    assert "Traceback" not in p.stderr + p.stdout
    assert "ConnectionError: 3" in p.stdout


def test_bench_url_against_an_older_rhetor_says_it_cannot_stream() -> None:
    with gen_b() as server:
        p = run("bench", "--url", server.url, "--backend", "python", "--requests", "5", "--concurrency", "1")
    assert p.returncode == 0, p.stderr
    assert "cannot stream" in p.stdout and "Traceback" not in p.stderr
