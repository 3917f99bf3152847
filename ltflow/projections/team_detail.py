"""Team detail: the fold of one team's stored events, and the view table that keeps it.

:func:`fold_team_detail` is pure (no clock, no I/O) and is the one interpretation of the events
that every read model derives from; the HTTP API shows it and the audit compares the stored view
with a fresh fold of a team's events. :func:`apply_event` folds one more event in place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from uuid import UUID

from ltflow.aggregates.vocabulary import Policy
from ltflow.eventstore.decode import TeamEvent
from ltflow.projections.base import ProjectionError, Row, Table, TeamProjection, iso
from ltflow.projections.team_fold import STEPS
from ltflow.projections.team_models import TeamDetailView

if TYPE_CHECKING:
    from ltflow.projections.store import ViewStore

__all__ = ["TeamDetailView", "apply_event", "fold_team_detail", "get_team_detail"]


def fold_team_detail(events: Iterable[TeamEvent]) -> TeamDetailView:
    """The team detail after ``events`` (one team's stored events, in version order)."""
    view: TeamDetailView | None = None
    for event in events:
        view = apply_event(view, event)
    if view is None:
        raise ProjectionError("A team's history must start with team.convened.")
    return view


def apply_event(view: TeamDetailView | None, event: TeamEvent) -> TeamDetailView:
    """Fold one stored event into ``view`` (changed in place) and return it.

    Event types this code does not know yet are skipped (they still count as a version), so an
    older projection never breaks on a newer log; a new type is a code change and so a rebuild.
    """
    if event.TYPE == "team.convened":
        return _convened(event)
    if view is None:
        raise ProjectionError(
            f"Event {event.TYPE} v{event.originator_version} of team {event.originator_id} "
            "arrived before team.convened; the team detail view is incomplete."
        )
    handler = STEPS.get(event.TYPE)
    if handler is not None:
        handler(view, event.payload, event.occurred_at)
    # The two fields every event moves, written straight into the instance: pydantic's
    # __setattr__ (no validation here either) cost a microsecond each on every event of a
    # catch-up. Both are set at construction, so the model's fields-set stays as it was.
    fields = view.__dict__
    fields["version"] = event.originator_version
    if event.occurred_at > fields["updated_at"]:
        fields["updated_at"] = event.occurred_at
    return view


def _convened(event: TeamEvent) -> TeamDetailView:
    p = event.payload
    return TeamDetailView(
        team_id=event.originator_id,
        case_ref=p["case_ref"],
        title=p["title"],
        trigger=p["trigger"],
        theme=p.get("theme"),
        goal=p["goal"],
        scope=p["scope"],
        facilitator=p["facilitator"],
        facilitator_ids=[p["facilitator_id"]] if p.get("facilitator_id") else [],
        policy=Policy.model_validate(p.get("policy") or {}),
        version=event.originator_version,
        convened_at=event.occurred_at,
        updated_at=event.occurred_at,
    )


# --- storage ------------------------------------------------------------------------------

TABLE = Table(
    name="team_detail",
    columns=(
        ("team_id", "TEXT"),
        ("case_ref", "TEXT"),
        ("version", "INTEGER"),
        ("updated_at", "TEXT"),
        ("doc", "TEXT"),
    ),
    key=("team_id",),
    indexes=(("case_ref",),),
)


def detail_rows(view: TeamDetailView) -> list[Row]:
    """The stored form of the fold: one row whose ``doc`` is the view as JSON."""
    return [(view.key, view.case_ref, view.version, iso(view.updated_at), dump(view))]


def dump(view: TeamDetailView) -> str:
    return view.model_dump_json()


def load(doc: str | bytes) -> TeamDetailView:
    return TeamDetailView.model_validate_json(doc)


PROJECTION = TeamProjection(
    name="team_detail",
    table=TABLE,
    rows=detail_rows,
    description="one team as its facilitator sees it (the fold every other view derives from)",
    depends_on=("ltflow.projections.team_fold", "ltflow.projections.team_models"),
)


def get_team_detail_json(store: ViewStore, team_id: UUID) -> str | None:
    """The stored view of one team as JSON (ready to serve), or None if there is no such team."""
    with store.read() as tx:
        row = tx.fetchone(
            f"SELECT doc FROM {store.table(TABLE)} WHERE team_id = ?", (str(team_id),)
        )
    return None if row is None else str(row[0])


def get_team_detail(store: ViewStore, team_id: UUID) -> TeamDetailView | None:
    """The stored view of one team, or None if there is no such team."""
    doc = get_team_detail_json(store, team_id)
    return None if doc is None else load(doc)
