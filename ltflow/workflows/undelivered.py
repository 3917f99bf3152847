"""Notifications that could not be delivered: a small table an operator lists and sends again.

When every attempt to deliver a notification has failed, the workflow records it here (through
the ``ltflow.record_undelivered`` activity) and the case goes on. ``ltflow notifications
undelivered`` lists what is waiting; ``ltflow notifications retry`` sends it again through the
configured notification port and marks what went through. The table rides on the store plumbing
(:mod:`ltflow.store`): its own SQLite file in the data dir (``notifications.sqlite3``: it is no
read model, so rebuilding those never touches it), or a ``ltv_undelivered_notifications`` table
in the event store's schema on PostgreSQL. A row holds what the notification holds: ids, a
type, times and its recipients by role and id, never a name or a story.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog
from pydantic import BaseModel

from ltflow.config import Settings
from ltflow.store.postgres import PostgresDatabase
from ltflow.store.sql import Database, Tx, advisory_key
from ltflow.store.sqlite import SQLiteDatabase
from ltflow.workflows.notifications import Notifier
from ltflow.workflows.payloads import Notification, UndeliveredNotification

log = structlog.get_logger("ltflow.workflows.undelivered")

NOTIFICATIONS_FILE = "notifications.sqlite3"
TABLE = "undelivered_notifications"
PG_TABLE = f"ltv_{TABLE}"
_COLUMNS = "team_id, type, occurred_at, recipient, notification, error, recorded_at, resent_at"
_DDL = (
    "CREATE TABLE IF NOT EXISTS {t} (team_id TEXT NOT NULL, type TEXT NOT NULL,"
    " occurred_at TEXT NOT NULL, recipient TEXT NOT NULL, notification TEXT NOT NULL,"
    " error TEXT NOT NULL, recorded_at TEXT NOT NULL, resent_at TEXT,"
    " PRIMARY KEY (team_id, type, occurred_at))"
)


def _create(tx: Tx, table: str) -> None:
    tx.execute(_DDL.format(t=table))


class UndeliveredEntry(BaseModel):
    """One undelivered notification as an operator sees it."""

    notification: Notification
    error: str
    recorded_at: datetime
    resent_at: datetime | None = None


class UndeliveredLog:
    """The undelivered notifications of one ltflow installation."""

    def __init__(self, db: Database, table: str) -> None:
        self.db, self.table = db, table

    @classmethod
    def from_settings(cls, settings: Settings) -> UndeliveredLog:
        """The table that goes with the configured event store."""
        if settings.event_store == "postgres":

            def setup(tx: Tx) -> None:  # run at the first transaction, when pg is there
                _create(tx, pg.qualified(PG_TABLE))

            pg = PostgresDatabase.from_env(
                settings.eventsourcing_env(), setup=setup, setup_lock=advisory_key(PG_TABLE)
            )
            return cls(pg, pg.qualified(PG_TABLE))
        path = Path(settings.data_dir) / NOTIFICATIONS_FILE
        return cls(SQLiteDatabase(path, setup=lambda tx: _create(tx, TABLE)), TABLE)

    def close(self) -> None:
        self.db.close()

    def record(self, undelivered: UndeliveredNotification, at: datetime) -> None:
        """Keep ``undelivered`` for an operator; recording the same one twice keeps one row."""
        note = undelivered.notification
        with self.db.write() as tx:
            tx.execute(
                f"INSERT INTO {self.table} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)"
                " ON CONFLICT (team_id, type, occurred_at) DO NOTHING",
                (*_key(note), note.recipient, note.model_dump_json(), undelivered.error, _iso(at)),
            )

    def pending(self) -> list[UndeliveredEntry]:
        """What has not been delivered yet, oldest first."""
        with self.db.read() as tx:
            rows = tx.fetchall(
                f"SELECT notification, error, recorded_at FROM {self.table}"
                " WHERE resent_at IS NULL ORDER BY recorded_at, occurred_at, team_id, type"
            )
        return [
            UndeliveredEntry(
                notification=Notification.model_validate_json(doc),
                error=error,
                recorded_at=datetime.fromisoformat(recorded),
            )
            for doc, error, recorded in rows
        ]

    def mark(self, note: Notification, *, resent_at: datetime | None, error: str = "") -> None:
        """After a retry: delivered at ``resent_at``, or failed again with ``error``."""
        with self.db.write() as tx:
            if resent_at is not None:
                tx.execute(
                    f"UPDATE {self.table} SET resent_at = ?"
                    " WHERE team_id = ? AND type = ? AND occurred_at = ?",
                    (_iso(resent_at), *_key(note)),
                )
            else:
                tx.execute(
                    f"UPDATE {self.table} SET error = ?"
                    " WHERE team_id = ? AND type = ? AND occurred_at = ?",
                    (error, *_key(note)),
                )


def retry_pending(
    undelivered: UndeliveredLog,
    notifier: Notifier,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[int, int]:
    """Send every pending notification again; answer (delivered, still failing)."""
    delivered = failing = 0
    for entry in undelivered.pending():
        note = entry.notification
        try:
            notifier.notify(note)
        except Exception as exc:  # any failure of the port: keep it for the next retry
            failing += 1
            undelivered.mark(note, resent_at=None, error=str(exc) or type(exc).__name__)
            log.warning("notification still undelivered", **_fields(note), error=str(exc))
        else:
            delivered += 1
            undelivered.mark(note, resent_at=clock())
            log.info("notification delivered on retry", **_fields(note))
    return delivered, failing


def _key(note: Notification) -> tuple[str, str, str]:
    # Two reminders of one type can fall due at the same moment (two safety nets due the same
    # day): the event id joins the time in the key's third column, so both are kept. A
    # notification without one (recorded before it existed) keeps the key it had.
    moment = _iso(note.occurred_at)
    return str(note.team_id), note.type, f"{moment}|{note.event_id}" if note.event_id else moment


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _fields(note: Notification) -> dict[str, str]:
    return {"team_id": str(note.team_id), "type": note.type, "recipient": note.recipient}
