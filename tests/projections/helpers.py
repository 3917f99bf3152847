"""Checks the projection tests share: view snapshots, the stored log, counts per team."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from uuid import UUID

from ltflow.eventstore.application import LearningTeams
from ltflow.eventstore.decode import encrypted_mapper
from ltflow.projections.registry import PROJECTIONS
from ltflow.projections.runner import TRACKING
from ltflow.projections.store import ViewStore
from ltflow.projections.team_detail import fold_team_detail, get_team_detail
from ltflow.projections.team_fold import STEPS, Step
from ltflow.projections.team_models import TeamDetailView


def max_id(app: LearningTeams) -> int:
    """The last notification id in the event store (0 when empty)."""
    return app.recorder.max_notification_id() or 0


def snapshot(store: ViewStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view table, and each projection's position and version."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with store.read() as tx:
        for projection in PROJECTIONS:
            found[projection.name] = sorted(
                tx.fetchall(f"SELECT * FROM {store.table(projection.table)}"), key=repr
            )
        found[TRACKING] = sorted(
            tx.fetchall(f"SELECT name, notification_id, version FROM {store.table(TRACKING)}")
        )
    return found


def stored_events(app: LearningTeams) -> list[tuple[Any, ...]]:
    """The event store as it is: every notification with its bytes."""
    return [
        (n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state))
        for n in app.recorder.select_notifications(start=None, limit=1_000_000)
    ]


_LISTS = {
    "perspective.shared": "perspectives",
    "reflection.noted": "reflection_notes",
    "red_thread.recorded": "red_threads",
    "learning_point.recorded": "learning_points",
    "safety_net.defined": "safety_nets",
    "success_criterion.defined": "criteria",
    "story.communicated": "stories",
}


def assert_counts_match_log(app: LearningTeams, store: ViewStore) -> int:
    """Each team's view holds exactly as many facts as its stored events: none lost, none
    applied twice. Returns the number of team events checked."""
    per_team: dict[Any, Counter[str]] = {}
    total = 0
    for notification in app.recorder.select_notifications(start=None, limit=1_000_000):
        event = app.mapper.to_domain_event(notification)
        per_team.setdefault(event.originator_id, Counter())[type(event).TYPE] += 1  # type: ignore[attr-defined]
        total += 1
    for team_id, counts in per_team.items():
        view = get_team_detail(store, team_id)
        assert view is not None, team_id
        assert view.version == sum(counts.values())
        for type_, field in _LISTS.items():
            assert len(getattr(view, field)) == counts[type_], (team_id, field)
        reviews = sum(c.reviews for c in view.criteria)
        assert reviews == counts["review.recorded"], team_id
    return total


#: A participant whose invitation the broken step below cannot fold.
POISON = "p-poison"
#: Personal text in the poison event: it must never reach the quarantine record.
SECRET = "Dana Geheimnis"


def broken_invitation(real: Step) -> Step:
    """``participant.invited`` as a buggy release folds it: it fails for one participant, with
    a message that quotes the payload (as real errors do)."""

    def step(view: TeamDetailView, payload: dict[str, Any], at: datetime) -> None:
        if payload["participant_id"] == POISON:
            raise ValueError(f"cannot fold the invitation of {payload.get('display_name')!r}")
        real(view, payload, at)

    return step


def break_invitations() -> None:
    """Install :func:`broken_invitation` (for a process of its own; tests use monkeypatch)."""
    STEPS["participant.invited"] = broken_invitation(STEPS["participant.invited"])


def notification_of(app: LearningTeams, team_id: UUID, version: int) -> int:
    """The notification id of one team's event."""
    for n in app.recorder.select_notifications(start=None, limit=1_000_000):
        if UUID(str(n.originator_id)) == team_id and n.originator_version == version:
            return n.id
    raise LookupError((team_id, version))


def fresh_fold(app: LearningTeams, team_id: UUID) -> TeamDetailView:
    """The team's detail folded afresh from its stored events (what its views should show:
    personal fields as stored, encrypted with the participants' keys)."""
    mapper = encrypted_mapper(app.mapper)
    return fold_team_detail(mapper.to_domain_event(e) for e in app.recorder.select_events(team_id))  # type: ignore[misc]
