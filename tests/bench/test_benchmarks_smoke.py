"""Every benchmark runs at its smoke size on every test run, so none of them rots.

The assertions are about behaviour (every timer fired exactly once across a restart, the views
equal a fresh fold, the report says what it should), never about timing: the full runs, and
their figures, stay out of CI (``python -m bench``). The audit benchmark has its own smoke test
in ``tests/audit/test_bench.py``.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
import structlog

from bench import open_cases, phase_events, projections
from tests.conftest import postgres_available


def _backends() -> tuple[projections.Backend, ...]:
    reason = postgres_available()
    if reason is None:
        return ("sqlite", "postgres")
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL benchmark smoke too: {reason}")
    return ("sqlite",)


def test_projection_catch_up_replays_both_log_shapes_into_views_equal_to_a_fresh_fold() -> None:
    backends = _backends()
    with structlog.testing.capture_logs():
        results = projections.run(smoke=True, backends=backends)

    assert [(r.backend, r.pattern) for r in results] == [
        (backend, pattern) for backend in backends for pattern in ("interleaved", "sequential")
    ]
    for r in results:
        assert r.events == r.teams * 33  # every stored event of every team, caught up
        assert r.checked_teams == r.teams  # each team's view equals a fresh fold of its events
        assert r.catch_up_rate > 0
        assert r.raw_rate > 0
    lines = projections.report(results)
    assert sum("ratio" in line for line in lines) == len(results)
    assert any("(target >= 0.5)" in line for line in lines)


async def test_open_cases_fire_each_reminder_and_overdue_exactly_once_across_a_restart() -> None:
    with structlog.testing.capture_logs():
        figures = await open_cases.run(smoke=True)

    teams = figures.teams
    assert teams == 20
    assert figures.fired_before_restart == 0  # the restart came before any timer was due
    for topic in (open_cases.REMINDER, open_cases.OVERDUE):
        assert figures.once[topic] == teams
        assert figures.repeated[topic] == 0
    assert figures.start_rate["ltflow"] > 0
    assert figures.start_rate["trivial"] > 0
    assert figures.rss_kib["worker 20 cases waiting"] > 0
    assert figures.rss_kib["dev server 20 cases waiting"] > 0  # the server process was found
    lines = open_cases.report(figures)
    assert "stored exactly once for 20/20 teams, repeated for 0" in lines[-2]
    assert "stored exactly once for 20/20 teams, repeated for 0" in lines[-1]


async def test_phase_event_benchmark_measures_both_sides_and_prints_the_ratios() -> None:
    with structlog.testing.capture_logs():
        figures: dict[str, Any] = await phase_events.run(True)

    assert set(figures["latency"]) == {"bare", "bare, sandboxed", "ltflow"}
    assert all(f.p50 > 0 for f in figures["latency"].values())
    assert figures["throughput"]["bare"] > 0
    assert figures["throughput"]["ltflow"] > 0
    lines = phase_events.report(figures)
    assert "ratio p50" in lines[3]
    assert "(target <= 1.5)" in lines[3]
    assert "default sandbox" in lines[4]
    assert "(target >= 0.7)" in lines[6]


async def test_http_intake_benchmark_answers_every_request_and_reports_the_overhead() -> None:
    from bench import http_intake

    figures = await http_intake.run(smoke=True)
    assert figures["statuses"] == {200}  # every measured HTTP request was an accepted event
    assert set(figures["p50"]) == {"client", "http", "httpx"}
    # Each raw answer was read whole and in order: between two of them the team took three
    # events (client, raw HTTP, httpx), so its version grows by exactly three.
    versions = figures["versions"]
    assert len(versions) == figures["n"]
    assert {b - a for a, b in itertools.pairwise(versions)} == {3}
    lines = http_intake.report(figures)
    assert lines[0].startswith("HTTP intake overhead")
    assert "HTTP adds" in lines[2]
