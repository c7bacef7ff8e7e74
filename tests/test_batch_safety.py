"""`tekton-llm batch` keeps its answers safe from what the world does to it: a line nested
thousands of levels deep, a second run on the same output, a full disk (a real one: a small
tmpfs), a journal cut mid-line, and an output whose file mode matters. Each runs the command as a
user does (a subprocess) against a simulator on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, List

import pytest
from tekton_llm_client.testing import RhetorSimulator

from .test_cli import by_id, chat_prompts, cli, read_jsonl, spawn, wait_for, write_jsonl
from .test_cli_failures import one_line

SLOW = {"sim": {"first_chunk_delay_ms": 60_000}}  # an item that stays in flight until killed


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


# -- deeply nested lines (issue 17.5) ------------------------------------------------------------


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_deeply_nested_lines_are_bad_lines_and_the_run_goes_on(
    sim: RhetorSimulator, tmp_path: Path, backend: str
) -> None:
    rows = [
        {"id": "before", "prompt": "first"},
        nested(1_000),  # line 2: the whole line
        '{"id": "opts", "prompt": "x", "options": {"meta": ' + nested(100_000) + "}}",  # line 3: inside a key
        '{"id": "msgs", "messages": ' + nested(5_000, '{"role": "user", "content": "x"}') + "}",  # line 4
        '{"id": "deep-id", "prompt": "x", "id2": ' + '{"a": ' * 3_000 + "1" + "}" * 3_000 + "}",  # line 5
        {"id": "after", "prompt": "last"},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    args = ("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", sim.url, "--backend", backend)
    for _ in range(2):  # and again: a re-run does not trip over what the first one recorded
        p = cli(*args)
        assert p.returncode == 1 and "Traceback" not in p.stderr and "RecursionError" not in p.stderr
        got = by_id(read_jsonl(out))
        assert got["before"]["content"] == sim.answer_text("first")
        assert got["after"]["content"] == sim.answer_text("last")
        for line in (2, 3, 4, 5):
            rec = got[f"line-{line}"]
            assert rec["line"] == line and rec["error"] == {
                "kind": "invalid_input",
                "message": "invalid JSON: nested too deeply",
            }
            assert f"in.jsonl:{line}: invalid JSON: nested too deeply" in p.stderr
    assert sorted(chat_prompts(sim)) == ["first", "last"]  # answered once, never asked again


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_a_nested_request_the_parser_accepts_is_still_one_item(
    sim: RhetorSimulator, tmp_path: Path, backend: str
) -> None:
    # 500 levels parse, but are deeper than a request body may be: one failed item, not a crash
    write_jsonl(
        tmp_path / "in.jsonl",
        ['{"id": "deep", "prompt": "x", "options": {"m": ' + nested(500) + "}}", {"id": "ok", "prompt": "fine"}],
    )
    p = cli(
        "batch",
        str(tmp_path / "in.jsonl"),
        "-o",
        str(tmp_path / "out.jsonl"),
        "--url",
        sim.url,
        "--backend",
        backend,
        "--retries",
        "0",
    )
    assert p.returncode == 1 and "Traceback" not in p.stderr
    got = by_id(read_jsonl(tmp_path / "out.jsonl"))
    assert "error" in got["deep"] and got["ok"]["content"] == sim.answer_text("fine")


def test_a_deeply_nested_line_in_the_previous_output_is_ignored(sim: RhetorSimulator, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "prompt": "x"}])
    out = tmp_path / "out.jsonl"
    out.write_text(nested(50_000) + "\n")
    p = cli("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", sim.url)
    assert p.returncode == 0, p.stderr
    assert f"{out}:1: ignoring an unreadable line" in p.stderr
    assert list(by_id(read_jsonl(out))) == ["a"]


# -- one writer per output (issue 17.6) ----------------------------------------------------------


def test_a_second_run_on_the_same_output_is_refused(sim: RhetorSimulator, tmp_path: Path) -> None:
    rows = [{"id": f"a{i}", "prompt": f"first run {i}"} for i in range(4)]
    rows += [{"id": f"slow{i}", "prompt": f"slow {i}", "options": SLOW} for i in range(2)]
    write_jsonl(tmp_path / "a.jsonl", rows)
    write_jsonl(tmp_path / "b.jsonl", [{"id": f"b{i}", "prompt": f"second run {i}"} for i in range(4)])
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.journal"
    first = spawn("batch", str(tmp_path / "a.jsonl"), "-o", str(out), "--url", sim.url, "--timeout", "120")
    try:
        wait_for(lambda: journal.exists() and journal.read_text().count("\n") >= 4)
        second = cli("batch", str(tmp_path / "b.jsonl"), "-o", str(out), "--url", sim.url)
        assert second.returncode == 4
        message = one_line(second, "batch", "busy")
        assert str(out) in message and "another tekton-llm batch" in message
        assert not any(p.startswith("second run") for p in chat_prompts(sim))  # it sent nothing
        assert first.poll() is None  # the first run is untouched and still going
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130
    assert set(by_id(read_jsonl(out))) == {f"a{i}" for i in range(4)}
    # the lock went with its process: now the second run may write
    again = cli("batch", str(tmp_path / "b.jsonl"), "-o", str(out), "--url", sim.url)
    assert again.returncode == 0, again.stderr
    assert set(by_id(read_jsonl(out))) == {f"a{i}" for i in range(4)} | {f"b{i}" for i in range(4)}


def test_a_killed_run_leaves_no_lock_behind(sim: RhetorSimulator, tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "in.jsonl", [{"id": "fast", "prompt": "fast"}, {"id": "slow", "prompt": "slow", "options": SLOW}]
    )
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.journal"
    proc = spawn("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", sim.url, "--timeout", "120")
    try:
        wait_for(lambda: journal.exists() and journal.read_text().count("\n") >= 1)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    write_jsonl(tmp_path / "in.jsonl", [{"id": "fast", "prompt": "fast"}, {"id": "slow", "prompt": "now quick"}])
    p = cli("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", sim.url)
    assert p.returncode == 0, p.stderr
    assert by_id(read_jsonl(out))["slow"]["content"] == sim.answer_text("now quick")
    assert chat_prompts(sim).count("fast") == 1  # the journal of the killed run was merged


# -- a journal cut mid-line, a full disk, the file mode (issue 17.12) ----------------------------


def test_an_answer_is_not_glued_onto_a_torn_journal_line(sim: RhetorSimulator, tmp_path: Path) -> None:
    rows = [
        {"id": "t0", "prompt": "torn before"},
        {"id": "t1", "prompt": "new answer"},
        {"id": "t2", "prompt": "slow", "options": SLOW},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.journal"
    journal.write_text('{"id": "t0", "content": "cut by a full di')  # what a full disk leaves
    proc = spawn(
        "batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", sim.url, "--timeout", "120", "--concurrency", "1"
    )
    try:
        wait_for(lambda: any('"t1"' in line for line in journal.read_text().splitlines()))
    finally:
        proc.kill()  # no compaction: what the journal holds is what the next run gets
        proc.communicate(timeout=30)
    lines = journal.read_text().splitlines()
    assert lines[0] == '{"id": "t0", "content": "cut by a full di'
    assert [json.loads(line)["id"] for line in lines[1:]] == ["t0", "t1"]  # each answer whole, on its own line
    write_jsonl(tmp_path / "in.jsonl", rows[:2])
    p = cli("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", sim.url)
    assert p.returncode == 0, p.stderr
    assert chat_prompts(sim).count("new answer") == 1  # kept from the journal, not asked again
    assert by_id(read_jsonl(out))["t1"]["content"] == sim.answer_text("new answer")


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A real filesystem of 64 KiB (tmpfs) that the test can grow: mounting needs root (CI runs
    as root; so does this machine's test command)."""
    if os.geteuid() != 0:
        pytest.fail("the full-disk test mounts a tmpfs and needs root")
    mnt = Path(tempfile.mkdtemp(prefix="tekton-full-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
        mnt.rmdir()


def grow(mnt: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=4m", str(mnt)], check=True)


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_a_full_disk_is_one_line_exit_3_and_loses_nothing(small_disk: Path, tmp_path: Path, backend: str) -> None:
    n = 300  # ~200 bytes per answer: the journal outgrows 64 KiB
    rows: List[object] = [{"id": f"d{i}", "prompt": f"disk {i} " + "x" * 40} for i in range(n)]
    write_jsonl(tmp_path / "in.jsonl", rows)
    out = small_disk / "out.jsonl"
    out.write_text('{"id": "old", "content": "from before"}\n')
    os.chmod(out, 0o600)
    with RhetorSimulator() as sim:
        args = ("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", sim.url, "--backend", backend)
        p = cli(*args)
        assert p.returncode == 3
        message = one_line(p, "batch", "disk_full")
        assert "No space left on device" in message
        # the output is the previous complete file; what got written is in the journal
        assert out.read_text() == '{"id": "old", "content": "from before"}\n'
        assert not Path(str(out) + ".tmp").exists()
        grow(small_disk)
        q = cli(*args)
        assert q.returncode == 0, q.stderr
        got = by_id(read_jsonl(out))
        asked = chat_prompts(sim)
    assert set(got) == {"old"} | {f"d{i}" for i in range(n)}
    assert all(got[f"d{i}"]["content"] == sim.answer_text(f"disk {i} " + "x" * 40) for i in range(n))
    assert len(asked) < 2 * n  # the journaled answers were kept, not all asked again
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_the_output_keeps_its_mode_and_the_journal_gets_it(sim: RhetorSimulator, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [{"id": "m1", "prompt": "x"}, {"id": "m2", "prompt": "slow", "options": SLOW}])
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.journal"
    out.write_text('{"id": "m0", "content": "private"}\n')
    os.chmod(out, 0o600)
    proc = spawn("batch", str(tmp_path / "in.jsonl"), "-o", str(out), "--url", sim.url, "--timeout", "120")
    try:
        wait_for(lambda: journal.exists() and journal.read_text().count("\n") >= 1)
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600  # it holds the same answers
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert set(by_id(read_jsonl(out))) == {"m0", "m1"}
    # a new output gets the usual mode (666 less the umask)
    fresh = tmp_path / "fresh.jsonl"
    write_jsonl(tmp_path / "one.jsonl", [{"prompt": "y"}])
    assert cli("batch", str(tmp_path / "one.jsonl"), "-o", str(fresh), "--url", sim.url).returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
