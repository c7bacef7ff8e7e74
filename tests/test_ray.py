"""The batch job on Ray Data (`tekton_llm_client.ray`): `RhetorChat` in `map_batches` on a local
Ray instance (2 CPUs) against a real simulator in this process, the limiter shared by the actors,
and `RhetorChat` in forked and spawned processes. Skipped when Ray (the `ray` extra) is absent."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from collections import Counter
from typing import Any, Dict, Iterator, List

import pytest
import ray  # in the test extras: a missing Ray is an error, not a skip
from tekton_llm_client.ray import OUTPUT_COLUMNS, RhetorChat, SlotBook, shared_limiter
from tekton_llm_client.testing import RhetorSimulator, answer_text

CHAT = "/api/v1/chat"
FAST_RETRIES = {"max_retries": 2, "backoff_initial": 0.01, "backoff_max": 0.05}


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def _chat_records(sim: RhetorSimulator) -> List[Dict[str, Any]]:
    return [r for r in sim.requests if r["path"] == CHAT]


def test_importing_the_package_does_not_import_ray() -> None:
    code = "import sys, tekton_llm_client, tekton_llm_client.batch, tekton_llm_client.cli;print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# 1 % injected failures, by row number: a refused token, a connection cut with no answer, a 500.
# Options as JSON strings: Arrow would make one struct type of all rows' option dicts.
def _fault(i: int) -> Any:
    fault = {
        7: {"sim": {"fail_status": 401}},
        37: {"sim": {"reset_times": 1000}},
        67: {"sim": {"fail_status": 500, "fail_times": 1000}},
    }.get(i % 300)
    return None if fault is None else json.dumps(fault)


EXPECTED_KIND = {7: "AuthenticationError", 37: "ConnectionError", 67: "ServiceUnavailableError"}


def test_2000_rows_two_actors_each_answered_once(ray_local: None, backend: str) -> None:
    rows = [
        {"id": f"row-{i}", "prompt": f"question {i}", "system_prompt": f"sys {i % 3}", "options": _fault(i)}
        for i in range(2000)
    ]
    with RhetorSimulator() as sim:
        ds = ray.data.from_items(rows).map_batches(
            RhetorChat,
            fn_constructor_kwargs={
                "rhetor_url": sim.url,
                "concurrency": 16,
                "backend": backend,
                "limiter": shared_limiter(),
                **FAST_RETRIES,
            },
            concurrency=2,
            batch_size=100,
            batch_format="pyarrow",
        )
        out = ds.take_all()
        records = _chat_records(sim)
    assert Counter(r["id"] for r in out) == Counter(r["id"] for r in rows)  # each row once, none lost
    failed = 0
    for r in out:
        i = int(r["id"].split("-")[1])
        assert set(OUTPUT_COLUMNS) <= set(r)
        assert r["prompt"] == f"question {i}" and r["system_prompt"] == f"sys {i % 3}"  # input kept
        kind = EXPECTED_KIND.get(i % 300)
        if kind is None:
            assert r["error"] is None and r["error_kind"] is None and r["attempts"] == 1, r
            assert r["content"] == answer_text(f"question {i}", f"sys {i % 3}")
            assert r["model"] == "sim-model-1" and r["provider"] == "simulator"
            assert r["usage_prompt_tokens"] > 0 and r["usage_completion_tokens"] > 0 and r["latency_s"] > 0
        else:
            failed += 1
            assert r["error_kind"] == kind and r["error"] and r["content"] == "" and r["model"] is None, r
            # a refused token is final; a cut connection and a 500 are asked max_retries more times
            assert r["attempts"] == (1 if kind == "AuthenticationError" else 3), r
    assert failed == 21
    # The server saw each good row exactly once: nothing asked twice that was answered.
    asked = Counter(rec["json"]["messages"][-1]["content"] for rec in records)
    for i in range(2000):
        kind = EXPECTED_KIND.get(i % 300)
        assert asked[f"question {i}"] == (1 if kind in (None, "AuthenticationError") else 3), i


def test_messages_column_and_raise_on_error(ray_local: None, sim: RhetorSimulator) -> None:
    rows = [
        {"id": i, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"m{i}"}]}
        for i in range(20)
    ]
    kwargs = {"rhetor_url": sim.url, "concurrency": 4, "max_retries": 0}
    out = (
        ray.data.from_items(rows)
        .map_batches(RhetorChat, fn_constructor_kwargs=kwargs, concurrency=1, batch_size=10)
        .take_all()
    )
    assert sorted(r["id"] for r in out) == list(range(20))
    assert all(r["content"] == answer_text(f"m{r['id']}", "be brief") for r in out)

    bad = rows[:3] + [
        {"id": 3, "messages": [{"role": "user", "content": "x"}], "options": json.dumps({"sim": {"fail_status": 401}})}
    ]
    with pytest.raises(Exception, match="AuthenticationError|401"):
        ray.data.from_items(bad).map_batches(
            RhetorChat,
            fn_constructor_kwargs={**kwargs, "raise_on_error": True},
            concurrency=1,
            batch_size=10,
            max_restarts=0,
            max_task_retries=0,
        ).take_all()


def test_a_429_holds_every_actor(ray_local: None, backend: str) -> None:
    """One row gets 429 with Retry-After: 1 on every attempt; both actors hold new requests for
    the cool-down (the server sees at most the requests already granted or in flight), then go on."""
    retry_after = 1.0
    rows = [
        {
            "id": i,
            "prompt": f"q{i}",
            "options": json.dumps({"sim": {"fail_status": 429, "retry_after": 1, "fail_times": 1000}})
            if i == 150
            else None,
        }
        for i in range(600)
    ]
    concurrency = 4
    with RhetorSimulator() as sim:
        limiter = shared_limiter(requests_per_s=200)
        out = (
            ray.data.from_items(rows)
            .map_batches(
                RhetorChat,
                fn_constructor_kwargs={
                    "rhetor_url": sim.url,
                    "concurrency": concurrency,
                    "limiter": limiter,
                    "max_retries": 1,
                    "dialect": "v1",
                    "backend": backend,
                },
                concurrency=2,
                batch_size=50,
                batch_format="pyarrow",
            )
            .take_all()
        )
        records = _chat_records(sim)
        stats = ray.get(limiter.stats.remote())
    assert sorted(r["id"] for r in out) == list(range(600))
    limited = [r for r in out if r["id"] == 150][0]
    assert limited["error_kind"] == "RateLimitError" and limited["attempts"] == 2
    assert all(r["error"] is None for r in out if r["id"] != 150)
    assert stats["cool_downs"] >= 1
    times = sorted(rec["time"] for rec in records)
    first_429 = min(rec["time"] for rec in records if rec["json"]["messages"][-1]["content"] == "q150")
    # At 200 requests/s, about 200 requests would arrive in the second after the 429 without a
    # cool-down; with it, only those already granted (one grant per actor) or in flight.
    during = [t for t in times if first_429 < t < first_429 + retry_after * 0.9]
    granted_or_in_flight = 2 * (concurrency + 10 + 1)  # grant of 50 ms at 200/s = 10 slots
    assert len(during) <= granted_or_in_flight, (len(during), len(times))
    assert len(times) == 600 + 1  # and then every row was asked (the 429 row twice)


def test_shared_limiter_paces_the_whole_job(ray_local: None, sim: RhetorSimulator) -> None:
    """Two actors, one job rate: the slots the limiter gave cover every request once, and the
    server saw no more requests than the job rate allows over the run (plus one grant per actor)."""
    rate = 400.0
    rows = [{"id": i, "prompt": f"r{i}"} for i in range(400)]
    limiter = shared_limiter(requests_per_s=rate)
    out = (
        ray.data.from_items(rows)
        .map_batches(
            RhetorChat,
            fn_constructor_kwargs={"rhetor_url": sim.url, "concurrency": 8, "limiter": limiter, "dialect": "v1"},
            concurrency=2,
            batch_size=50,
        )
        .take_all()
    )
    assert sorted(r["id"] for r in out) == list(range(400))
    times = sorted(r["time"] for r in _chat_records(sim))
    assert len(times) == 400
    # any window of W seconds holds at most rate * W + the slots of one grant per actor
    window, slack = 0.25, 2 * 20 + 2
    j = 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        assert i - j + 1 <= rate * window + slack, (i - j + 1, rate * window)
    assert ray.get(limiter.stats.remote())["slots"] >= 400


def test_slot_book_gives_each_slot_once_and_none_in_a_cool_down() -> None:
    book = SlotBook(requests_per_s=10)
    first, spacing, hold = book.grant(5, now=100.0)
    assert (first, spacing, hold) == (100.0, 0.1, 0.0)
    second = book.grant(3, now=100.0)[0]
    assert second == pytest.approx(100.5)  # after the 5 slots of the first grant
    book.cool_down(200.0)
    assert book.cool_down(150.0) == 200.0  # a shorter cool-down does not shorten it
    assert book.grant(1, now=101.0)[0] == 200.0
    assert book.grant(1, now=101.0)[0] == pytest.approx(200.1)
    free = SlotBook()
    assert free.grant(64, now=5.0) == (5.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        SlotBook(requests_per_s=0)


def _one_batch(url: str, backend: str, conn: Any) -> None:
    """Child process body: a RhetorChat made in this process answers a batch."""
    try:
        out = RhetorChat(url, concurrency=4, backend=backend, max_retries=0)(
            {"id": ["a", "b"], "prompt": ["in child a", "in child b"]}
        )
        conn.send((os.getpid(), list(out["content"]), list(out["error"])))
    except BaseException as exc:  # report, do not hang the parent
        conn.send((os.getpid(), None, repr(exc)))
    finally:
        conn.close()


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_rhetor_chat_in_forked_and_spawned_workers(sim: RhetorSimulator, backend: str, method: str) -> None:
    # The parent uses the runtime first, so a forked child inherits a started I/O thread.
    parent = RhetorChat(sim.url, concurrency=2, backend=backend)({"prompt": ["in parent"]})
    assert parent["content"] == [answer_text("in parent")]
    ctx = multiprocessing.get_context(method)
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_one_batch, args=(sim.url, backend, send))
    child.start()
    send.close()
    try:
        assert receive.poll(60), "the child hung"
        pid, contents, errors = receive.recv()
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    assert pid != os.getpid()
    assert contents == [answer_text("in child a"), answer_text("in child b")], errors
    assert errors == [None, None]


def test_a_429_holds_the_actor_without_a_shared_limiter(sim: RhetorSimulator, backend: str) -> None:
    """No limiter: the actor that got the 429 holds its own new requests for the Retry-After."""
    prompts = ["limited"] + [f"next {i}" for i in range(6)]
    options = [json.dumps({"sim": {"fail_status": 429, "retry_after": 1, "fail_times": 1000}})] + [None] * 6
    out = RhetorChat(sim.url, concurrency=1, max_retries=1, backend=backend, dialect="v1")(
        {"prompt": prompts, "options": options}
    )
    assert out["error_kind"] == ["RateLimitError"] + [None] * 6 and out["attempts"] == [2] + [1] * 6
    records = _chat_records(sim)
    first_429 = records[0]["time"]
    assert records[0]["json"]["messages"][-1]["content"] == "limited"
    # one request may already have been handed to the runner (its window is 2 x concurrency)
    early = [r for r in records[1:] if r["time"] < first_429 + 0.9]
    assert len(early) <= 1, [(r["json"]["messages"][-1]["content"], r["time"] - first_429) for r in records]
    assert len(records) == 8


def test_retries_of_a_row_keep_its_request_id(sim: RhetorSimulator, backend: str) -> None:
    """As the client's own retries: every attempt of a row carries the same X-Request-ID. The
    simulator fails the first two attempts *of a request id*, so the row is answered on its third
    attempt only if the id is kept (a new id per attempt would fail every time)."""
    options = [json.dumps({"sim": {"fail_status": 503, "fail_times": 2}}), None]
    out = RhetorChat(sim.url, concurrency=2, backend=backend, dialect="v1", **FAST_RETRIES)(
        {"prompt": ["flaky", "steady"], "options": options}
    )
    assert out["error"] == [None, None] and out["attempts"] == [3, 1], out["error"]
    ids = {
        p: [r["request_id"] for r in _chat_records(sim) if r["json"]["messages"][-1]["content"] == p]
        for p in out["prompt"]
    }
    assert len(ids["flaky"]) == 3 and len(set(ids["flaky"])) == 1 and ids["flaky"][0], ids
    assert len(ids["steady"]) == 1 and ids["steady"][0] not in ids["flaky"]  # one id per row


def test_batch_formats_keep_their_input_columns(sim: RhetorSimulator) -> None:
    import pandas as pd
    import pyarrow as pa

    chat = RhetorChat(sim.url, concurrency=2, max_retries=0)
    table = pa.table({"id": [1, 2], "prompt": ["t1", "t2"], "mine": [[1, 2], None]})
    out = chat(table)
    assert out.column_names == ["id", "prompt", "mine", *OUTPUT_COLUMNS]
    assert out.column("mine").type == table.column("mine").type and out.column("status_code").type == pa.int64()
    assert out.column("content").to_pylist() == [answer_text("t1"), answer_text("t2")]
    frame = chat(pd.DataFrame({"prompt": ["p1"], "system_prompt": ["s"], "extra": [3.5]}))
    assert list(frame["content"]) == [answer_text("p1", "s")] and list(frame["extra"]) == [3.5]
    with pytest.raises(ValueError, match="'prompt' or a 'messages' column"):
        chat({"question": ["no prompt column"]})
