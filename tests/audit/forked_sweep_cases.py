"""The parallel sweep with real forked processes: run in a fresh Python with no other thread,
by ``test_parallel_sweep.py::test_the_forked_sweep_in_a_process_of_its_own`` (pytest collects
this file only when it is named). Every case of ``test_parallel_sweep`` runs here again on
SQLite, now forking, and then what happens when a forked process dies or fails.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from ltflow.audit import Audit
from ltflow.audit import scan as sweep
from ltflow.audit.scan import cut, forkable, plan
from ltflow.audit.source import SQLiteEventSource
from tests.audit.conftest import AUDITOR
from tests.audit.test_parallel_sweep import (
    same_verdict,
    store,
    test_a_chain_rewritten_up_to_the_latest_anchor_is_caught_where_it_left_an_older_one,
    test_an_untouched_store_gets_one_sweeps_verdict_from_every_cut,
    test_tampering_at_a_range_boundary_is_found_by_every_cut,
    world,
)

__all__ = [
    "store",
    "test_a_chain_rewritten_up_to_the_latest_anchor_is_caught_where_it_left_an_older_one",
    "test_an_untouched_store_gets_one_sweeps_verdict_from_every_cut",
    "test_tampering_at_a_range_boundary_is_found_by_every_cut",
]

pytestmark = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def alone() -> None:
    """These cases mean nothing unless the sweep really forks."""
    assert os.environ.get("LTFLOW_TEST_FORKED") == "1"
    assert threading.active_count() == 1, [t.name for t in threading.enumerate()]


@pytest.fixture(autouse=True)
def forks(store: Audit) -> None:
    assert forkable(store.source, store.store)


def test_verify_cuts_a_big_store_and_reports_the_same(
    store: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = store.verify(None, AUDITOR)
    monkeypatch.setattr(sweep, "MIN_RANGE", 50)
    assert len(plan(store.source, store.store, cores=4)) == 4
    assert len(plan(store.source, store.store, cores=1)) == 1
    forked: list[int] = []
    in_parallel = sweep._in_parallel

    def spy(job: Any, ranges: Any, heads: Any) -> Any:
        forked.append(len(ranges))
        return in_parallel(job, ranges, heads)

    monkeypatch.setattr(sweep, "_in_parallel", spy)
    cut_up = store.verify(None, AUDITOR)
    assert forked == [len(plan(store.source, store.store))]
    assert forked[0] >= 2 or (os.cpu_count() or 1) == 1
    assert cut_up.ok
    assert whole.ok
    assert (cut_up.teams, cut_up.events, cut_up.anchored) == (
        whole.teams,
        whole.events,
        whole.anchored,
    )
    assert [f.message for f in cut_up.findings] == [f.message for f in whole.findings]


def test_a_range_whose_process_dies_is_swept_here(
    store: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world(store)
    one = w.scan([(0, None)])
    monkeypatch.setattr(sweep, "_child", lambda *args: os._exit(3))
    same_verdict(one, w.scan(cut(w.last, 3)))


def test_an_error_in_a_forked_range_is_raised_here(
    store: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world(store)

    def broken(self: SQLiteEventSource) -> SQLiteEventSource:
        raise RuntimeError("the event store file is gone")

    monkeypatch.setattr(SQLiteEventSource, "reopened", broken)
    with pytest.raises(RuntimeError, match="file is gone"):
        w.scan(cut(w.last, 2))
