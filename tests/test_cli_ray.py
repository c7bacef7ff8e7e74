"""`tekton-llm batch --ray`: the batch command's guarantees on a local Ray instance — each id
answered once in the output, bad lines reported with their line number, failed rows recorded with
the command's error kinds, and a re-run asks only what the output does not hold."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import ray  # in the test extras: a missing Ray is an error, not a skip
from tekton_llm_client.cli import main
from tekton_llm_client.testing import RhetorSimulator, answer_text

CHAT = "/api/v1/chat"


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def _lines(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batch_on_ray_answers_each_id_once_and_resumes(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = []
    for i in range(300):
        item: Dict[str, Any] = {"id": f"q{i}", "prompt": f"ask {i}"}
        if i % 100 == 42:
            item["options"] = {"sim": {"fail_status": 401}}
        lines.append(json.dumps(item))
    lines[4] = "{not json"  # line 5
    lines[8] = json.dumps({"id": "q8", "system_prompt": "x"})  # line 9: no prompt
    lines[11] = json.dumps({"id": "q3", "prompt": "again"})  # line 12: q3 again
    lines[20] = json.dumps({"prompt": "ask without id"})  # line 21: id line-21
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(lines) + "\n")

    with RhetorSimulator() as sim:
        argv = [
            "batch",
            str(src),
            "-o",
            str(out),
            "--ray",
            "--url",
            sim.url,
            "--actors",
            "2",
            "--batch-size",
            "40",
            "--concurrency",
            "8",
            "--retries",
            "0",
        ]
        assert main(argv) == 1  # some failed
        err = capsys.readouterr().err
        first_run = [r for r in sim.requests if r["path"] == CHAT]
        sim.clear()
        assert main(argv) == 1  # the failed ones fail again
        second_run = [r for r in sim.requests if r["path"] == CHAT]

    assert f"{src}:5: invalid JSON" in err
    assert f"{src}:9: no 'prompt' or 'messages'" in err
    assert f"{src}:12: duplicate id 'q3'" in err
    recs = _lines(out)
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)) == 300  # one line per id (the bad lines under line-<n>)
    by_id = {r["id"]: r for r in recs}
    assert by_id["line-5"]["error"]["kind"] == "invalid_input" and by_id["line-5"]["line"] == 5
    assert by_id["q8"]["error"]["kind"] == "invalid_input"
    assert by_id["line-12"]["error"]["kind"] == "invalid_input"
    assert by_id["q3"]["content"] == answer_text("ask 3")
    assert by_id["line-21"]["content"] == answer_text("ask without id")
    for i in (42, 142, 242):
        assert by_id[f"q{i}"]["error"] == {
            "kind": "authentication",
            "status_code": 401,
            "message": by_id[f"q{i}"]["error"]["message"],
        }
    good = [r for r in recs if "error" not in r]
    assert len(good) == 300 - 3 - 3
    assert all(r["usage"]["total_tokens"] > 0 and r["model"] == "sim-model-1" for r in good)
    assert ids[:4] == ["q0", "q1", "q2", "q3"]  # input order
    # Each good row was asked once; the re-run asked only the three that had failed.
    assert len(first_run) == 300 - 3 + 0  # 297 valid lines (294 answered, 3 refused)
    assert sorted(r["json"]["messages"][-1]["content"] for r in second_run) == ["ask 142", "ask 242", "ask 42"]
    assert not (tmp_path / "out.jsonl.journal").exists()


def test_batch_on_ray_needs_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batch", "-", "-o", str(tmp_path / "o.jsonl"), "--ray"]) == 2
    assert "--ray reads a file" in capsys.readouterr().err


def _ancestors(pid: int) -> List[int]:
    chain = []
    for _ in range(8):
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
        chain.append(pid)
        if pid <= 1:
            break
    return chain


def _our_map_workers() -> List[int]:
    """Pids of the Ray Data actors started under this test process (never anyone else's)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if not f.read().startswith(b"ray::MapWorker"):
                    continue
        except OSError:
            continue
        if os.getpid() in _ancestors(int(name)):
            pids.append(int(name))
    return pids


def test_an_actor_killed_halfway_leaves_no_duplicate_and_no_gap(ray_local: None, tmp_path: Path) -> None:
    n = 400
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps({"id": f"k{i}", "prompt": f"kill {i}"}) + "\n" for i in range(n)))
    journal = tmp_path / "out.jsonl.journal"
    result: Dict[str, int] = {}
    with RhetorSimulator(first_chunk_delay_ms=25) as sim:  # slow answers: the job lasts a few seconds
        argv = [
            "batch",
            str(src),
            "-o",
            str(out),
            "--ray",
            "--url",
            sim.url,
            "--actors",
            "2",
            "--batch-size",
            "20",
            "--concurrency",
            "2",
        ]
        runner = threading.Thread(target=lambda: result.setdefault("rc", main(argv)), daemon=True)
        runner.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 60):
            time.sleep(0.05)
        victims = _our_map_workers()
        assert victims and journal.exists(), "the job did not get going"
        os.kill(victims[0], signal.SIGKILL)
        runner.join(180)
        assert not runner.is_alive(), "the run hung after an actor was killed"
        # (the simulator then has more than n requests: the killed actor's batch was asked again)
    assert result["rc"] == 0
    recs = _lines(out)
    assert sorted(r["id"] for r in recs) == sorted(f"k{i}" for i in range(n))  # none twice, none missing
    assert all(r["content"] == answer_text(r["id"].replace("k", "kill ")) for r in recs)


def test_batch_on_ray_refuses_bad_settings_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "o.jsonl"
    src.write_text('{"id": "a", "prompt": "x"}\n')
    assert main(["batch", str(src), "-o", str(out), "--ray", "--timeout", "-5"]) == 2
    assert "timeout must be" in capsys.readouterr().err
    assert main(["batch", str(src), "-o", str(out), "--ray", "--retries", "-1"]) == 2
    assert "max_retries" in capsys.readouterr().err
    assert not out.exists()  # nothing written
