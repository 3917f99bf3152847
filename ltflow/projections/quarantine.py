"""The quarantine: teams whose views stopped just before an event they cannot fold.

One row per team, in the views database beside ``tracking`` (``ltv_quarantine``, on SQLite and
PostgreSQL alike), written in the transaction of the batch that found the poison event, so a
crash never loses nor duplicates it. While a team is here the runner skips its events (their
positions advance as every other's; the row counts them) and every other team goes on.

A team leaves when it is folded again from its first event and everything folds: at once when
the views' code changed since it was quarantined (the row keeps that code), or when an operator
asks (``ltflow projections retry``). Rebuilding the fold (a replay) empties the table.

Nothing here is personal: the row names the event by id, version and type, never its payload,
and the error's message has the payload's and the view's texts taken out
(:mod:`ltflow.projections.poison`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.persistence import PersistenceError
from pydantic import BaseModel

from ltflow.projections.poison import Poison
from ltflow.projections.store import Tx, ViewStore

TABLE = "quarantine"
_COLUMNS = (
    "team_id, projection, notification_id, version, event_type, error_class, error, location,"
    " code_version, skipped, failed_at"
)
#: What reading a table that does not exist yet raises, per backend.
_NOT_CREATED = (sqlite3.OperationalError, PersistenceError)


class Quarantined(BaseModel):
    """A quarantined team: the event its views stopped before, and why."""

    team_id: UUID
    #: The read model that failed (``team_detail``: the fold, or reading the event at all).
    projection: str
    #: The event: its notification id, version and type (None: not one event's fault, as when
    #: a read model failed on the team's stored fold while it was re-derived).
    notification_id: int | None
    version: int | None
    event_type: str | None
    error_class: str
    #: The error's message, with the payload's and the view's texts taken out.
    error: str
    #: Where it was raised: ``file:line in function``.
    location: str
    #: The views' code it failed under; other code folds the team again.
    code_version: str
    #: Later events of the team, skipped since (applied when it is folded again).
    skipped: int
    failed_at: datetime


def create(tx: Tx, store: ViewStore) -> None:
    """Create the table where it is missing."""
    tx.execute(
        f"CREATE TABLE IF NOT EXISTS {store.table(TABLE)} (team_id TEXT PRIMARY KEY,"
        " projection TEXT NOT NULL, notification_id BIGINT, version INTEGER, event_type TEXT,"
        " error_class TEXT NOT NULL, error TEXT NOT NULL, location TEXT NOT NULL,"
        " code_version TEXT NOT NULL, skipped BIGINT NOT NULL, failed_at TEXT NOT NULL)"
    )


def read(tx: Tx, store: ViewStore) -> dict[UUID, Quarantined]:
    """Every quarantined team, by id."""
    rows = tx.fetchall(f"SELECT {_COLUMNS} FROM {store.table(TABLE)} ORDER BY failed_at, team_id")
    names = [c.strip() for c in _COLUMNS.split(",")]
    found = [Quarantined.model_validate(dict(zip(names, row, strict=True))) for row in rows]
    return {q.team_id: q for q in found}


def listed(store: ViewStore) -> list[Quarantined]:
    """Every quarantined team, longest quarantined first (none before the first run)."""
    try:
        with store.read() as tx:
            return list(read(tx, store).values())
    except _NOT_CREATED:
        return []


def record(tx: Tx, store: ViewStore, poison: Poison, code_version: str) -> None:
    """Quarantine ``poison``'s team (replacing an older record of it)."""
    release(tx, store, [poison.team_id])
    tx.execute(
        f"INSERT INTO {store.table(TABLE)} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            str(poison.team_id),
            poison.projection,
            poison.notification_id,
            poison.version,
            poison.event_type,
            poison.error_class,
            poison.error,
            poison.location,
            code_version,
            poison.skipped,
            datetime.now(UTC).isoformat(),
        ),
    )


def release(tx: Tx, store: ViewStore, team_ids: Sequence[UUID]) -> None:
    """Take these teams out of quarantine."""
    tx.delete_teams(store.table(TABLE), [str(t) for t in team_ids])


def count_skipped(tx: Tx, store: ViewStore, skipped: Mapping[UUID, int]) -> None:
    """Add the events of quarantined teams a batch skipped to their rows."""
    tx.executemany(
        f"UPDATE {store.table(TABLE)} SET skipped = skipped + ? WHERE team_id = ?",
        [(count, str(team)) for team, count in skipped.items()],
    )


def clear(tx: Tx, store: ViewStore) -> None:
    """Release every team (the fold is replayed from the first event: every team with it)."""
    tx.execute(f"DELETE FROM {store.table(TABLE)}")
