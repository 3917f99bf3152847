"""The ``tracking`` table: each projection's position (last notification id applied) and the
code version it was built with, written in the same transaction as the rows it tracks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ltflow.projections.base import ProjectionError, TeamProjection
from ltflow.projections.store import Tx, ViewStore

TRACKING = "tracking"


@dataclass(frozen=True)
class Tracked:
    """A projection's stored position (last notification id applied) and code version."""

    position: int
    version: str


#: What a projection that was never tracked counts as.
NONE = Tracked(-1, "")


def create(tx: Tx, store: ViewStore) -> None:
    """Create the table where it is missing."""
    tx.execute(
        f"CREATE TABLE IF NOT EXISTS {store.table(TRACKING)} (name TEXT PRIMARY KEY,"
        " notification_id BIGINT NOT NULL, version TEXT NOT NULL, updated_at TEXT)"
    )


def read(tx: Tx, store: ViewStore) -> dict[str, Tracked]:
    """Every projection's position and version, by name."""
    rows = tx.fetchall(f"SELECT name, notification_id, version FROM {store.table(TRACKING)}")
    return {name: Tracked(int(position), version) for name, position, version in rows}


def track(tx: Tx, store: ViewStore, projection: TeamProjection, position: int) -> None:
    """Set one projection's position, under the code version running now."""
    tx.execute(f"DELETE FROM {store.table(TRACKING)} WHERE name = ?", (projection.name,))
    tx.execute(
        f"INSERT INTO {store.table(TRACKING)} VALUES (?, ?, ?, ?)",
        (projection.name, position, projection.code_version, _now()),
    )


def advance(tx: Tx, store: ViewStore, names: Sequence[str], base: int, position: int) -> None:
    """Move every one of ``names`` from ``base`` to ``position``; all of them, or raise."""
    updated = tx.execute(
        f"UPDATE {store.table(TRACKING)} SET notification_id = ?, updated_at = ? "
        f"WHERE notification_id = ? AND name IN ({', '.join('?' for _ in names)})",
        (position, _now(), base, *names),
    )
    if updated != len(names):
        raise ProjectionError("Tracking moved under the runner's lock; batch rolled back.")


def _now() -> str:
    # Operational metadata (when the runner last wrote), never part of a view.
    return datetime.now(UTC).isoformat()
