"""The `tekton-llm batch|generate|chat|tokens` commands, run as a user runs them (a subprocess)
against a simulator over real sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest
from tekton_llm_client.testing import RhetorSimulator, split_chunks
from tekton_llm_client.utils import count_tokens

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tekton_llm_client", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=_env(),
    )


def spawn(*args: str) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(
        [sys.executable, "-m", "tekton_llm_client", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=_env(),
    )


def _env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RHETOR_", "TEKTON_LLM_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_jsonl(path: Path, rows: Sequence[Any]) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines]  # every line must parse: valid JSONL


def by_id(rows: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    out: Dict[str, Dict[str, Any]] = {}
    for r in rows:
        assert r["id"] not in out, f"two lines for {r['id']}"
        out[r["id"]] = r
    return out


def chat_prompts(sim: RhetorSimulator) -> List[str]:
    return [r["json"]["messages"][-1]["content"] for r in sim.requests if r["path"] == "/api/v1/chat"]


def wait_for(cond: Any, timeout: float = 30.0) -> None:
    """Poll until `cond()` holds (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


# -- batch -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_batch_answers_every_line(sim: RhetorSimulator, tmp_path: Path, backend: str) -> None:
    rows: List[Any] = [{"id": f"q{i}", "prompt": f"question {i}"} for i in range(30)]
    rows[3] = {"prompt": "no id here", "system_prompt": "terse"}
    rows[4] = {"id": 7, "messages": [{"role": "user", "content": "as messages"}]}
    write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    p = cli(
        "batch",
        str(tmp_path / "in.jsonl"),
        "-o",
        str(out),
        "--url",
        sim.url,
        "--concurrency",
        "8",
        "--backend",
        backend,
    )
    assert p.returncode == 0, p.stderr
    got = by_id(read_jsonl(out))
    assert len(got) == 30
    assert got["line-4"]["content"] == sim.answer_text("no id here", system_prompt="terse")
    assert got["7"]["content"] == sim.answer_text("as messages")
    for i in list(range(3)) + list(range(5, 30)):
        r = got[f"q{i}"]
        assert r["content"] == sim.answer_text(f"question {i}")
        assert r["model"] == "sim-model-1" and r["provider"] == "simulator"
        assert r["usage"]["total_tokens"] > 0 and r["latency_ms"] >= 0 and "error" not in r
    assert [r["id"] for r in read_jsonl(out)][:5] == ["q0", "q1", "q2", "line-4", "7"]  # input order
    assert not (tmp_path / "out.jsonl.journal").exists()


def test_batch_with_the_embedded_simulator_and_a_rate(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": f"s{i}"} for i in range(5)])
    p = cli("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--simulate", "--rate", "50")
    assert p.returncode == 0, p.stderr
    assert len(by_id(read_jsonl(tmp_path / "out.jsonl"))) == 5


def test_batch_reports_bad_lines_and_records_them_as_failed(sim: RhetorSimulator, tmp_path: Path) -> None:
    rows = [
        {"id": "a", "prompt": "fine"},
        "this is not json",
        "",
        {"id": "a", "prompt": "same id again"},
        {"id": "nothing"},
        '["a", "list"]',
        {"id": "rejected", "prompt": "x", "options": {"sim": {"fail_status": 400}}},
        {"id": "b", "prompt": "also fine"},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    p = cli("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", sim.url)
    assert p.returncode == 1
    name = str(tmp_path / "in.jsonl")
    assert f"{name}:2: invalid JSON" in p.stderr
    assert f"{name}:4: duplicate id 'a'" in p.stderr
    assert f"{name}:5: no 'prompt' or 'messages'" in p.stderr
    assert f"{name}:6: a line must be a JSON object" in p.stderr
    got = by_id(read_jsonl(out))
    assert set(got) == {"a", "line-2", "line-4", "nothing", "line-6", "rejected", "b"}
    assert got["a"]["content"] == sim.answer_text("fine") and got["b"]["content"] == sim.answer_text("also fine")
    for bad, line in (("line-2", 2), ("line-4", 4), ("nothing", 5), ("line-6", 6)):
        assert got[bad]["error"]["kind"] == "invalid_input" and got[bad]["line"] == line
    assert got["rejected"]["error"] == {
        "kind": "invalid_request",
        "status_code": 400,
        "message": got["rejected"]["error"]["message"],
    }
    assert chat_prompts(sim).count("same id again") == 0


def test_batch_resumes_only_what_is_missing(tmp_path: Path) -> None:
    rows = [
        {"id": f"r{i}", "prompt": f"resume {i}", **({"provider_id": "anthropic"} if i % 4 == 0 else {})}
        for i in range(20)
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    args = ("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--retries", "0")
    # First run: the provider "anthropic" is down, so every fourth item fails.
    with RhetorSimulator(unavailable_providers=["anthropic"]) as down:
        first = cli(*args, "--url", down.url)
    assert first.returncode == 1
    got = by_id(read_jsonl(out))
    assert len(got) == 20
    failed = {k for k, v in got.items() if "error" in v}
    assert failed == {f"r{i}" for i in range(0, 20, 4)}
    assert all(got[k]["error"]["kind"] == "service_unavailable" for k in failed)
    # Second run: it is back; only the failed items are asked again.
    with RhetorSimulator() as up:
        second = cli(*args, "--url", up.url)
        asked = sorted(chat_prompts(up))
    assert second.returncode == 0, second.stderr
    assert asked == sorted(f"resume {i}" for i in range(0, 20, 4))
    final = by_id(read_jsonl(out))
    assert len(final) == 20 and all("error" not in v for v in final.values())
    assert final["r1"] == got["r1"]  # earlier answers are kept as they were
    # Third run: nothing left to do.
    with RhetorSimulator() as idle:
        third = cli(*args, "--url", idle.url)
        assert chat_prompts(idle) == []
    assert third.returncode == 0 and by_id(read_jsonl(out)) == final


def test_batch_merges_the_journal_of_a_run_that_died(sim: RhetorSimulator, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"j{i}", "prompt": f"journal {i}"} for i in range(6)])
    out = tmp_path / "out.jsonl"
    done = {"id": "j2", "content": "from the dead run", "model": "m", "provider": "p"}
    # what a killed run leaves: whole lines, maybe a cut last one
    (tmp_path / "out.jsonl.journal").write_text(json.dumps(done) + "\n" + '{"id": "j3", "cont')
    p = cli("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", sim.url)
    assert p.returncode == 0, p.stderr
    got = by_id(read_jsonl(out))
    assert len(got) == 6 and got["j2"]["content"] == "from the dead run"
    assert "journal 2" not in chat_prompts(sim)
    assert not (tmp_path / "out.jsonl.journal").exists()


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_batch_ctrl_c_keeps_what_finished(sim: RhetorSimulator, tmp_path: Path, backend: str) -> None:
    fast = [{"id": f"fast{i}", "prompt": f"fast {i}"} for i in range(6)]
    slow = [
        {"id": f"slow{i}", "prompt": f"slow {i}", "options": {"sim": {"first_chunk_delay_ms": 60_000}}}
        for i in range(30)
    ]
    write_jsonl(tmp_path / "in.jsonl", fast + slow)
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.journal"
    proc = spawn(
        "batch",
        str(tmp_path / "in.jsonl"),
        "-o",
        str(out),
        "--url",
        sim.url,
        "--concurrency",
        "4",
        "--timeout",
        "120",
        "--backend",
        backend,
    )
    try:
        wait_for(lambda: journal.exists() and journal.read_text().count("\n") >= 6)
        # slow items are being asked now
        wait_for(lambda: sum(p.startswith("slow") for p in chat_prompts(sim)) >= 4)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    got = by_id(read_jsonl(out))
    assert set(got) == {f"fast{i}" for i in range(6)}
    assert all(got[f"fast{i}"]["content"] == sim.answer_text(f"fast {i}") for i in range(6))
    assert not journal.exists()


def test_batch_usage_errors_exit_2(tmp_path: Path) -> None:
    assert cli("batch", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl")).returncode == 2
    assert cli("batch", str(tmp_path / "missing.jsonl")).returncode == 2  # no -o
    (tmp_path / "in.jsonl").write_text('{"prompt": "x"}\n')
    p = cli("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--concurrency", "0")
    assert p.returncode == 2 and "--concurrency" in p.stderr


def test_batch_progress_on_request(sim: RhetorSimulator, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": f"p{i}"} for i in range(4)])
    p = cli("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--url", sim.url, "--progress")
    assert p.returncode == 0
    assert "4/4 done, 0 failed" in p.stderr and "ETA" in p.stderr


# -- generate --------------------------------------------------------------------------------


def test_generate_prints_the_answer(sim: RhetorSimulator) -> None:
    p = cli("generate", "hello there", "--url", sim.url, "--system", "be brief")
    assert p.returncode == 0, p.stderr
    assert p.stdout == sim.answer_text("hello there", system_prompt="be brief") + "\n"
    body = [r for r in sim.requests if r["path"] == "/api/v1/chat/stream"][-1]["json"]
    assert body["system_prompt"] == "be brief"
    q = cli("generate", "whole", "--url", sim.url, "--no-stream", "--model", "gpt-4o", "--provider", "openai")
    assert q.returncode == 0 and q.stdout == sim.answer_text("whole") + "\n"
    body = [r for r in sim.requests if r["path"] == "/api/v1/chat"][-1]["json"]
    assert body["model_id"] == "gpt-4o" and body["provider_id"] == "openai"


def test_generate_streams_chunks_as_they_arrive() -> None:
    # The stream stalls after two chunks: their text can only be on stdout if it was written
    # and flushed chunk by chunk while the answer was still open.
    with RhetorSimulator(stall_after=2) as sim:
        proc = spawn("generate", "stream me please", "--url", sim.url, "--timeout", "120")
        try:
            assert proc.stdout is not None
            want = "".join(split_chunks(sim.answer_text("stream me please"))[:2]).encode()
            got = b""
            while len(got) < len(want):
                b = os.read(proc.stdout.fileno(), 4096)
                assert b, "stdout closed early"
                got += b
            assert got == want
            assert proc.poll() is None
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130


def test_generate_errors_go_to_stderr() -> None:
    with RhetorSimulator(unavailable_providers=["openai"]) as sim:
        p = cli("generate", "x", "--url", sim.url, "--provider", "openai", "--retries", "0")
    assert p.returncode == 1 and p.stdout == ""
    assert "service_unavailable" in p.stderr and "503" in p.stderr


# -- chat ------------------------------------------------------------------------------------


def test_chat_keeps_the_history(sim: RhetorSimulator) -> None:
    p = cli("chat", "--url", sim.url, "--system", "you are a test", stdin="hello\n\nsecond\n/exit\nnever sent\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == sim.answer_text("hello") + "\n" + sim.answer_text("second") + "\n"
    bodies = [r["json"] for r in sim.requests if r["path"] == "/api/v1/chat/stream"]
    assert len(bodies) == 2
    assert bodies[1]["messages"] == [
        {"role": "system", "content": "you are a test"},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": sim.answer_text("hello")},
        {"role": "user", "content": "second"},
    ]


def test_chat_trims_old_turns_and_keeps_the_system_prompt(sim: RhetorSimulator) -> None:
    turns = [f"turn {i} " + "words " * 30 for i in range(6)]
    p = cli(
        "chat",
        "--url",
        sim.url,
        "--system",
        "sys",
        "--max-context-tokens",
        "120",
        stdin="".join(t + "\n" for t in turns),
    )  # EOF ends the session
    assert p.returncode == 0, p.stderr
    bodies = [r["json"] for r in sim.requests if r["path"] == "/api/v1/chat/stream"]
    assert len(bodies) == 6
    last = bodies[-1]["messages"]
    assert last[0] == {"role": "system", "content": "sys"}
    assert last[-1] == {"role": "user", "content": turns[-1]}
    assert len(last) < 2 + 2 * 5  # older turns were dropped
    assert all(m["content"] != turns[0] for m in last)


# -- tokens ----------------------------------------------------------------------------------


def test_tokens_counts_each_file_and_the_total(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("Hello, world! " * 100)
    b.write_text("Ünïcödé and emoji 🎉 " * 50)
    p = cli("tokens", str(a), str(b), "--model", "gpt-4o")
    assert p.returncode == 0, p.stderr
    na, nb = count_tokens([a.read_text(), b.read_text()], "gpt-4o")
    lines = [line.split() for line in p.stdout.splitlines()]
    assert lines == [[str(na), str(a)], [str(nb), str(b)], [str(na + nb), "total"]]
    q = cli("tokens", str(a), str(tmp_path / "missing.txt"), "--encoding", "cl100k_base")
    assert q.returncode == 1 and "missing.txt" in q.stderr
    assert q.stdout.split() == [str(count_tokens(a.read_text(), encoding="cl100k_base")), str(a)]
