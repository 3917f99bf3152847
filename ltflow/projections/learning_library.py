"""Learning library: what teams chose to share, by theme, for people who may meet the same.

A team enters the library once it has communicated its story (phase 7). An entry holds the
stories, the learning points (keep / change) and the perspectives whose ``consent_to_share`` was
true, as text only. Nothing else personal: no participant ids, names or roles, no facilitator,
no case reference, no reflection notes, no safety-net owners.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel

from ltflow.aggregates.state import ERASED_FINGERPRINT as ERASED
from ltflow.projections.base import Row, Table, TeamProjection, equal_filters, iso, where_sql
from ltflow.projections.team_models import TeamDetailView

if TYPE_CHECKING:
    from ltflow.projections.store import ViewStore


class LibraryStory(BaseModel):
    audience: str
    channel: str
    summary: str
    communicated_at: datetime


class LibraryLearningPoint(BaseModel):
    kind: Literal["keep", "change"]
    text: str


class LibraryEntryView(BaseModel):
    """One team's shared learning."""

    team_id: UUID
    title: str
    theme: str | None = None
    trigger: str
    stories: list[LibraryStory]
    learning_points: list[LibraryLearningPoint]
    #: Perspectives whose author consented to share them; the text only, nobody's name.
    perspectives: list[str]


def has_entry(view: TeamDetailView) -> bool:
    """Whether the team is in the library (it has communicated a story)."""
    return bool(view.stories)


def library_entry(view: TeamDetailView) -> LibraryEntryView | None:
    """The team's library entry, or None while it has communicated no story. Pure."""
    if not has_entry(view):
        return None
    return LibraryEntryView(
        team_id=view.team_id,
        title=view.title,
        theme=view.theme,
        trigger=view.trigger,
        stories=[LibraryStory.model_validate(s.model_dump()) for s in view.stories],
        learning_points=[
            LibraryLearningPoint(kind=lp.kind, text=lp.text) for lp in view.learning_points
        ],
        # An erased participant's perspective leaves the library, consent or not.
        perspectives=[
            p.perspective
            for p in view.perspectives
            if p.consent_to_share and p.perspective != ERASED
        ],
    )


TABLE = Table(
    name="learning_library",
    columns=(
        ("team_id", "TEXT"),
        ("theme", "TEXT"),
        ("trigger", "TEXT"),
        ("title", "TEXT"),
        ("communicated_at", "TEXT"),
        ("doc", "TEXT"),
    ),
    key=("team_id",),
    indexes=(("theme", "communicated_at"),),
)


def library_rows(view: TeamDetailView) -> list[Row]:
    entry = library_entry(view)
    if entry is None:
        return []
    first = min(s.communicated_at for s in entry.stories)
    return [
        (
            view.key,
            view.theme,
            view.trigger,
            view.title,
            iso(first),
            entry.model_dump_json(),
        )
    ]


PROJECTION = TeamProjection(
    name="learning_library",
    table=TABLE,
    rows=library_rows,
    description="communicated stories and learning points by theme, consented perspectives only",
    # Consented perspectives are shown as text: derived from the fold with them decrypted.
    personal=("perspectives",),
    personal_if=has_entry,
)


def list_library(
    store: ViewStore, *, theme: str | None = None, trigger: str | None = None
) -> list[LibraryEntryView]:
    """Library entries, most recently communicated first."""
    where, params = equal_filters((("theme", theme), ("trigger", trigger)))
    sql = f"SELECT doc FROM {store.table(TABLE)}" + where_sql(where)
    sql += " ORDER BY communicated_at DESC, team_id"
    with store.read() as tx:
        rows = tx.fetchall(sql, params)
    return [LibraryEntryView.model_validate_json(row[0]) for row in rows]
