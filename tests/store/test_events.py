"""The one reader of the events table against the recorder's own reads, on both backends."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from ltflow.eventstore.application import LearningTeams
from ltflow.projections.log import EventLog
from ltflow.store.events import RecorderRows, SQLEventRows, event_rows
from tests.conftest import Clock
from tests.integration.helpers import open_team, run_narrative


def _notifications(app: LearningTeams) -> list[tuple[Any, ...]]:
    return [
        (n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state))
        for n in app.recorder.select_notifications(start=None, limit=1_000_000)
    ]


def _same(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with the id as a UUID, as the recorder gives it."""
    return [(p, UUID(str(i)), v, t, bytes(s)) for p, i, v, t, s in rows]


def test_pages_counts_and_teams_are_what_the_recorder_stores(
    app: LearningTeams, clock: Clock
) -> None:
    team, _ = run_narrative(app, clock)
    other = open_team(app, clock, case_ref="VIM-OTHER")
    rows = event_rows(app.recorder)
    assert isinstance(rows, SQLEventRows)
    stored = _notifications(app)
    assert _same(rows.page(0, 1_000_000)) == stored
    assert _same(rows.page(stored[3][0], 5)) == stored[4:9]
    assert rows.page(stored[-1][0], 10) == []
    assert rows.max_position() == stored[-1][0]
    assert rows.count_after(stored[9][0]) == len(stored) - 10
    assert rows.count_after(stored[-1][0]) == 0
    mine = [row for row in stored if row[1] == team]
    assert _same(rows.team_rows([str(team)])) == sorted(mine, key=lambda r: r[2])
    both = rows.team_rows([str(other), str(team), "not-a-uuid"])
    assert sorted(_same(both)) == sorted(stored)  # both teams: every row, nothing for the odd id
    assert sorted(UUID(str(t)) for t in rows.teams()) == sorted([team, other])


def test_a_sweep_page_holds_the_same_bytes_up_to_its_bound(
    app: LearningTeams, clock: Clock
) -> None:
    run_narrative(app, clock)
    rows = event_rows(app.recorder)
    assert isinstance(rows, SQLEventRows)
    plain = rows.page(0, 1_000_000)
    upto = plain[20][0]
    swept = rows.sweep_page(plain[4][0], 1_000, upto)
    assert [r[0] for r in swept] == [r[0] for r in plain[5:21]]
    for (_, i, v, t, s), (_, si, sv, st, ss) in zip(plain[5:21], swept, strict=True):
        as_text = [x.decode() if isinstance(x, bytes) else x for x in (si, st)]
        assert (as_text, sv, ss) == ([i, t], v, s)


def test_an_empty_store_has_nothing_after_zero(app: LearningTeams) -> None:
    rows = event_rows(app.recorder)
    assert (rows.page(0, 10), rows.count_after(0), rows.max_position()) == ([], 0, 0)
    assert rows.team_rows([]) == []


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_reopened_reader_reads_the_same_file_on_its_own_connection(
    app: LearningTeams, clock: Clock
) -> None:
    run_narrative(app, clock)
    rows = event_rows(app.recorder)
    assert isinstance(rows, SQLEventRows)
    own = rows.reopened()
    try:
        assert own.page(0, 1_000) == rows.page(0, 1_000)
        assert own.db is not rows.db
    finally:
        own.close()


def test_another_kind_of_recorder_is_read_through_its_own_methods(clock: Clock) -> None:
    app = LearningTeams(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        team, _ = run_narrative(app, clock)
        rows = event_rows(app.recorder)
        assert isinstance(rows, RecorderRows)
        log = EventLog(app)
        total = len(_notifications(app))
        assert log.max_id() == total
        assert log.count_after(3) == total - 3
        assert len(log.read(0, 10_000)) == total
        assert [f.version for f in app.history(team)] == list(range(1, total + 1))
    finally:
        app.close()
