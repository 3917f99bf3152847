"""The one decoder reads what the application's mapper reads, every field readers use."""

from __future__ import annotations

from ltflow.eventstore.application import LearningTeams
from ltflow.eventstore.decode import EventDecoder, StoredTeamEvent
from ltflow.store.events import event_rows
from tests.conftest import Clock
from tests.integration.helpers import run_narrative

_FIELDS = ("TYPE", "originator_id", "originator_version", "occurred_at", "actor", "payload",
           "event_id", "timestamp")  # fmt: skip


def test_a_teams_history_reads_as_the_mapper_opens_it(app: LearningTeams, clock: Clock) -> None:
    team, _ = run_narrative(app, clock)
    rows = event_rows(app.recorder).team_rows([str(team)])
    lean = EventDecoder(app.mapper).decode(rows)
    full = [app.mapper.to_domain_event(e) for e in app.recorder.select_events(team)]
    assert all(isinstance(e, StoredTeamEvent) for e in lean)  # none needed the mapper
    assert len(lean) == len(full) > 40
    for mine, theirs in zip(lean, full, strict=True):
        assert [getattr(mine, f) for f in _FIELDS] == [getattr(theirs, f) for f in _FIELDS]
    facts = app.history(team)
    assert [(f.event_id, f.recorded_at) for f in facts] == [(e.event_id, e.timestamp) for e in full]


def test_an_event_the_lean_way_cannot_read_goes_through_the_mapper(
    app: LearningTeams, clock: Clock
) -> None:
    team, _ = run_narrative(app, clock)
    rows = event_rows(app.recorder).team_rows([str(team)])
    cipher = app.mapper.cipher
    row = next(r for r in rows if b'"payload":{' in (cipher.decrypt(r[4]) if cipher else r[4]))
    plain = cipher.decrypt(row[4]) if cipher else row[4]
    odd = plain.replace(b'"payload":{', b'"payload":{"x":1.5,', 1)  # a float: maybe inexact
    decoded = EventDecoder(app.mapper).decode([(*row[:4], cipher.encrypt(odd) if cipher else odd)])
    assert decoded[0] is not None
    assert not isinstance(decoded[0], StoredTeamEvent)  # the mapper's own event
    assert decoded[0].payload["x"] == 1.5
    assert decoded[0].event_id == app.history(team)[row[2] - 1].event_id
