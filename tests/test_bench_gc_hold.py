"""The bench holds off full garbage collections while a run is measured, and only those."""

from __future__ import annotations

import gc
from typing import List

from tekton_llm_client.bench.full_gc_hold import HELD_THRESHOLD, full_gc_held


def _cycles(n: int) -> None:
    for _ in range(n):
        a: List[object] = []
        a.append(a)  # unreachable once the loop moves on: only the cycle collector frees it


def test_young_generations_are_collected_the_oldest_is_not_and_all_is_restored() -> None:
    before = gc.get_threshold()
    assert gc.isenabled()
    with full_gc_held():
        assert gc.get_threshold() == (before[0], before[1], HELD_THRESHOLD)
        assert gc.get_freeze_count() > 0  # what lived before the run is out of the way
        stats = gc.get_stats()
        _cycles(before[0] * before[1] * 3)  # enough allocations for several middle collections
        after = gc.get_stats()
        assert after[0]["collections"] > stats[0]["collections"]
        assert after[1]["collections"] > stats[1]["collections"]
        assert after[2]["collections"] == stats[2]["collections"]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_restored_when_the_run_fails() -> None:
    before = gc.get_threshold()
    try:
        with full_gc_held():
            raise RuntimeError("the run failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
