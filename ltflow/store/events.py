"""The one raw reader of the event store's table: the rows exactly as stored, no decoding.

Every reader of the stored events comes through here: the projections' log (pages after a
position, counts), the audit trail (pages for the sweep, a team's rows for hashing, the team
list) and the auditor's history and replay (a team's rows). Rows are plain tuples
``(position, originator_id, version, topic, state)``: the position is the notification id, the
originator id is text (SQLite: as stored, the UUID's hex; PostgreSQL: ``originator_id::text``,
cheaper to read than a UUID object per row). The SQL of each backend is written once, in
:class:`SQLEventRows`; recorders of other kinds are read through the recorder's own methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from ltflow.store.postgres import PostgresDatabase
from ltflow.store.sql import Reader
from ltflow.store.sqlite import LibrarySQLite, read_only

#: ``(position, originator_id, version, topic, state)``: one stored event.
EventRow = tuple[int, Any, int, Any, bytes]
_COLUMNS = "originator_version, topic, state"


def _sqlite_key(team_id: str) -> str | None:
    try:
        return UUID(team_id).hex
    except ValueError:
        return team_id


def _uuid_key(team_id: str) -> UUID | None:
    try:
        return UUID(team_id)
    except ValueError:
        return None  # never a team in a table of UUIDs


@dataclass(frozen=True)
class _Words:
    """What one backend calls the columns."""

    position: str
    ident: str
    #: The columns of a sweep page: the cheapest exact form of each (see ``sweep_page``).
    sweep: str


_SQLITE = _Words(
    "rowid",
    "originator_id",
    # Text columns as BLOBs: bytes objects, no UTF-8 decoding of two columns per row (a third
    # of the read); the sweep hashes the bytes, which are the same.
    "rowid, CAST(originator_id AS BLOB), originator_version, CAST(topic AS BLOB), state",
)
_POSTGRES = _Words(
    "notification_id",
    "originator_id::text",
    f"notification_id, originator_id::text, {_COLUMNS}",
)


class SQLEventRows:
    """The events table of a SQLite or PostgreSQL recorder."""

    def __init__(
        self, db: Reader, table: str, *, uuid_ids: bool = True, owned: bool = False
    ) -> None:
        """``table``: qualified; ``uuid_ids``: PostgreSQL's originator ids are UUIDs;
        ``owned``: ``db`` is this reader's own, to close with it."""
        self.db, self.table, self._owned = db, table, owned
        sqlite = db.dialect == "sqlite"
        words = _SQLITE if sqlite else _POSTGRES
        self._key: Callable[[str], Any] = _sqlite_key if sqlite else _uuid_key if uuid_ids else str
        pos, ident = words.position, words.ident
        self._page = f"SELECT {pos}, {ident}, {_COLUMNS} FROM {table} WHERE {pos} > ? "
        self._sweep = f"SELECT {words.sweep} FROM {table} WHERE {pos} > ? "
        self._order = f"ORDER BY {pos} LIMIT ?"
        self._upto = f"AND {pos} <= ? "
        self._count = f"SELECT COUNT(*) FROM {table} WHERE {pos} > ?"
        self._max = f"SELECT MAX({pos}) FROM {table}"
        self._team = f"SELECT {pos}, {ident}, {_COLUMNS} FROM {table} WHERE originator_id"
        self._teams = f"SELECT DISTINCT {ident} FROM {table}"

    @property
    def path(self) -> str | None:
        """The SQLite file a forked process may open afresh (None: none, or in memory)."""
        return self.db.path if isinstance(self.db, LibrarySQLite) else None

    def reopened(self) -> SQLEventRows:
        """The same table on a read-only connection of its own (a forked process must never use
        its parent's connections)."""
        path = self.path
        if path is None:
            raise ValueError("Only an event store in a SQLite file can be reopened.")
        return SQLEventRows(read_only(path), self.table, owned=True)

    def page(self, after: int, limit: int) -> list[EventRow]:
        """Up to ``limit`` rows with position above ``after``, in order."""
        with self.db.read(single=True) as tx:
            return tx.fetchall(self._page + self._order, (after, limit))

    def sweep_page(self, after: int, limit: int, upto: int | None = None) -> list[EventRow]:
        """:meth:`page` for a sweep that only hashes: the id and the topic may come as their
        UTF-8 bytes (SQLite, where that is cheaper to read); no row past ``upto`` (if given)."""
        with self.db.read(single=True) as tx:
            if upto is None:
                return tx.fetchall(self._sweep + self._order, (after, limit))
            sql = self._sweep + self._upto + self._order
            return tx.fetchall(sql, (after, upto, limit))

    def count_after(self, position: int) -> int:
        """Exactly how many rows follow ``position`` (positions may have gaps)."""
        with self.db.read(single=True) as tx:
            row = tx.fetchone(self._count, (position,))
        return int(row[0]) if row else 0

    def max_position(self) -> int:
        """The highest position stored (0: none)."""
        with self.db.read(single=True) as tx:
            row = tx.fetchone(self._max)
        return int(row[0] or 0) if row else 0

    def team_rows(self, team_ids: Sequence[str]) -> list[EventRow]:
        """Every row of these teams (ids as text), by team, then version."""
        keys = [k for k in map(self._key, team_ids) if k is not None]
        if not keys:
            return []
        with self.db.read(single=True) as tx:
            rows: list[EventRow] = tx.fetch_in(self._team, keys)
        rows.sort(key=lambda row: (row[1], row[2]))
        return rows

    def teams(self) -> list[str]:
        """Every originator id with stored rows, as stored (text)."""
        with self.db.read(single=True) as tx:
            return [row[0] for row in tx.fetchall(self._teams)]

    def close(self) -> None:
        """Release what this reader opened itself (never the application's connections)."""
        if self._owned:
            self.db.close()


class EventReader(Protocol):
    """What every reader of the stored events can do (see :class:`SQLEventRows`)."""

    def page(self, after: int, limit: int) -> list[EventRow]: ...
    def count_after(self, position: int) -> int: ...
    def max_position(self) -> int: ...
    def team_rows(self, team_ids: Sequence[str]) -> list[EventRow]: ...


class RecorderRows:
    """Any other recorder, through its own methods (a team's rows have no position: 0)."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder

    def page(self, after: int, limit: int) -> list[EventRow]:
        select = self.recorder.select_notifications
        found = select(start=after, limit=limit, inclusive_of_start=False)
        return [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in found]

    def count_after(self, position: int) -> int:
        count = 0
        while page := self.page(position, 10_000):
            count, position = count + len(page), page[-1][0]
        return count

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def team_rows(self, team_ids: Sequence[str]) -> list[EventRow]:
        return [
            (0, e.originator_id, e.originator_version, e.topic, e.state)
            for team in team_ids
            for e in self.recorder.select_events(UUID(team))
        ]


def event_rows(recorder: ApplicationRecorder) -> SQLEventRows | RecorderRows:
    """The reader of ``recorder``'s table: SQL on SQLite and PostgreSQL, else its methods."""
    from eventsourcing.postgres import PostgresApplicationRecorder
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    if isinstance(recorder, SQLiteApplicationRecorder):
        return SQLEventRows(LibrarySQLite(recorder.datastore), recorder.events_table_name)
    if isinstance(recorder, PostgresApplicationRecorder):
        datastore = recorder.datastore
        table = f'"{datastore.schema}"."{recorder.events_table_name}"'
        uuid_ids = datastore.originator_id_type == "uuid"
        return SQLEventRows(PostgresDatabase(datastore), table, uuid_ids=uuid_ids)
    return RecorderRows(recorder)
