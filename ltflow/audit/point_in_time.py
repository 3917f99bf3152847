"""A case as it stood at a moment: the team-detail fold over a prefix of its stored events.

Three ways to name the moment:

* ``version=n``: events 1..n.
* ``at=T`` (``by="recorded"``, the default and the audit-correct reading): every event ltflow had
  *recorded* by T, i.e. the versions up to the last one whose ``recorded_at`` is at or before T.
  This is exactly what anyone looking at ltflow at T could have seen.
* ``at=T, by="occurred"``: every event whose business time (``occurred_at``) is at or before T,
  as known today: an event reported late is included if it happened before T.

The fold is :func:`ltflow.projections.team_detail.fold_team_detail`, the one interpretation of
the events that the read models use, so the answer reads like the facilitator's screen did.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from ltflow.aggregates.errors import LtflowError, TeamNotFoundError
from ltflow.eventstore.application import LearningTeams
from ltflow.eventstore.decode import EventDecoder, TeamEvent, encrypted_mapper
from ltflow.projections.team_detail import TeamDetailView, fold_team_detail
from ltflow.store.events import event_rows

By = Literal["version", "recorded", "occurred"]


class AuditQueryError(LtflowError):
    """An audit question that cannot be answered as asked (a version or time out of range)."""

    code = "invalid_query"


class PointInTime(BaseModel):
    """The case as it stood: which events were folded, and the resulting team detail."""

    team_id: UUID
    by: By
    at: datetime | None = None
    version: int
    events: int
    latest_version: int
    recorded_at: datetime
    detail: TeamDetailView


def team_events(app: LearningTeams, team_id: UUID, *, encrypted: bool = False) -> list[Any]:
    """A team's stored events, decoded, in version order (raises if there are none);
    ``encrypted``: personal fields as stored, as the read models fold them."""
    rows = event_rows(app.recorder).team_rows([str(team_id)])
    events = EventDecoder(encrypted_mapper(app.mapper) if encrypted else app.mapper).decode(rows)
    if not events:
        raise TeamNotFoundError(f"No Learning Team with id {team_id}.", team_id=str(team_id))
    return events


def as_of(
    events: Sequence[Any],
    *,
    version: int | None = None,
    at: datetime | None = None,
    by: By = "recorded",
) -> PointInTime:
    """Fold ``events`` (one team's, in order) up to a version or a moment (module docstring)."""
    chosen = _choose(events, version, at, by)
    last = chosen[-1]
    return PointInTime(
        team_id=last.originator_id,
        by="version" if version is not None else by,
        at=at,
        version=last.originator_version,
        events=len(chosen),
        latest_version=events[-1].originator_version,
        recorded_at=last.timestamp,
        detail=fold_team_detail(_as_team_events(chosen)),
    )


def _choose(
    events: Sequence[Any], version: int | None, at: datetime | None, by: By
) -> Sequence[Any]:
    if (version is None) == (at is None):
        raise AuditQueryError("Ask for the case at a version or at a moment (one of them).")
    latest = events[-1].originator_version
    if version is not None:
        if not 1 <= version <= latest:
            raise AuditQueryError(
                f"Version {version} does not exist: this case has versions 1 to {latest}.",
                version=version,
                latest_version=latest,
            )
        return [e for e in events if e.originator_version <= version]
    moment = at if at is not None and at.tzinfo else (at or datetime.min).replace(tzinfo=UTC)
    if by == "occurred":
        chosen = [e for e in events if e.occurred_at <= moment]
    else:
        last = max((i for i, e in enumerate(events) if e.timestamp <= moment), default=-1)
        chosen = list(events[: last + 1])
    if not chosen or chosen[0].originator_version != 1:
        raise AuditQueryError(
            f"The case did not exist yet at {moment.isoformat()} "
            f"({'business' if by == 'occurred' else 'recorded'} time).",
            at=moment.isoformat(),
        )
    return chosen


def _as_team_events(events: Sequence[Any]) -> list[TeamEvent]:
    return list(events)
