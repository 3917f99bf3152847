"""Learning library: what teams chose to share, by theme, for people who may meet the same.

A team enters the library once it has communicated its story (phase 7). An entry holds only the
learning: the stories' summaries, the learning points (keep / change) and the perspectives whose
teller consented to share them, as text, with the theme, the trigger and months (not days).
Nothing that leads back to the case or to a person: no team id (an entry is named by its
:mod:`view id <ltflow.projections.cross_team>`), no case reference, no title, no facilitator,
participant or owner, no story's audience or channel (free text that may name a ward or a
person), no reflection notes, no erased text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from ltflow.aggregates.state import ERASED_FINGERPRINT as ERASED
from ltflow.projections.base import Row, Table, TeamProjection, equal_filters, month_of, where_sql
from ltflow.projections.cross_team import ViewIds
from ltflow.projections.team_models import TeamDetailView

if TYPE_CHECKING:
    from ltflow.projections.store import ViewStore


class LibraryStory(BaseModel):
    summary: str
    #: The month it was communicated (``YYYY-MM``, UTC).
    month: str


class LibraryLearningPoint(BaseModel):
    kind: Literal["keep", "change"]
    text: str


class LibraryEntry(BaseModel):
    """One team's shared learning, as the library stores it."""

    theme: str | None = None
    trigger: str
    #: The month its first story was communicated (``YYYY-MM``, UTC).
    month: str
    stories: list[LibraryStory]
    learning_points: list[LibraryLearningPoint]
    #: Perspectives whose teller consented to share them; the text only, nobody's name.
    perspectives: list[str]


class LibraryEntryView(LibraryEntry):
    """One team's shared learning, named by the team's view id."""

    #: The team's opaque id in the views across teams (never derivable from its case).
    view_id: str


def has_entry(view: TeamDetailView) -> bool:
    """Whether the team is in the library (it has communicated a story)."""
    return bool(view.stories)


def library_entry(view: TeamDetailView) -> LibraryEntry | None:
    """The team's library entry, or None while it has communicated no story. Pure."""
    if not has_entry(view):
        return None
    first = min(s.communicated_at for s in view.stories)
    return LibraryEntry(
        theme=view.theme,
        trigger=view.trigger,
        month=month_of(first),
        stories=[
            LibraryStory(summary=s.summary, month=month_of(s.communicated_at)) for s in view.stories
        ],
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
        ("month", "TEXT"),
        ("doc", "TEXT"),
    ),
    key=("team_id",),
    indexes=(("theme", "month"),),
)


def library_rows(view: TeamDetailView) -> list[Row]:
    entry = library_entry(view)
    if entry is None:
        return []
    return [(view.key, view.theme, view.trigger, entry.month, entry.model_dump_json())]


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
    store: ViewStore, *, ids: ViewIds, theme: str | None = None, trigger: str | None = None
) -> list[LibraryEntryView]:
    """Library entries, most recently communicated month first (within a month in view-id
    order: an order by time or team id would help match an entry to its case)."""
    where, params = equal_filters((("theme", theme), ("trigger", trigger)))
    sql = f"SELECT team_id, doc FROM {store.table(TABLE)}" + where_sql(where)
    with store.read() as tx:
        rows = tx.fetchall(sql, params)
    entries = [
        LibraryEntryView(view_id=ids.of(team), **dict(LibraryEntry.model_validate_json(doc)))
        for team, doc in rows
    ]
    entries.sort(key=lambda e: e.view_id)
    entries.sort(key=lambda e: e.month, reverse=True)
    return entries
