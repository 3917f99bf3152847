"""The stored events exactly as the event store holds them: no decoding, no cipher, no upcasting.

The audit chain covers these raw rows, so it reads them with its own SQL through the
application's recorder (its datastore and table name). Team ids are given in one canonical text
form (``str(UUID)``) on both backends; a row whose id is not a UUID keeps its text as stored.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

#: ``(team_id, version, topic, state)``: one stored event.
RawRow = tuple[str, int, str, bytes]
#: ``(notification_id, row)``.
Positioned = tuple[int, RawRow]


def canonical(originator_id: object) -> str:
    """The team id as the audit trail writes it (from a UUID, its text, or that text's bytes)."""
    if isinstance(originator_id, UUID):
        return str(originator_id)
    if isinstance(originator_id, bytes):
        originator_id = originator_id.decode()
    text = str(originator_id)
    try:
        return str(UUID(text))
    except ValueError:
        return text


class Canon(dict[Any, str]):
    """Canonical ids by the store's own ids, memoised: a team's rows share one id."""

    def __missing__(self, key: Any) -> str:
        value = self[key] = canonical(key)
        return value


class EventSource(ABC):
    """Read access to the raw rows of one application's event store."""

    @abstractmethod
    def teams(self) -> list[str]:
        """Every originator id with stored events, canonical, sorted."""

    @abstractmethod
    def rows(self, team_ids: Sequence[str]) -> list[RawRow]:
        """Every stored event of these teams, by team id then version."""

    @abstractmethod
    def page(self, position: int, limit: int) -> list[tuple[int, Any, int, str, bytes]]:
        """Up to ``limit`` rows with notification id above ``position``, in that order, as the
        store gives them: ``(notification_id, originator_id, version, topic, state)`` with the
        id in the store's own form (see :class:`Canon`)."""

    def sweep_page(
        self, position: int, limit: int, upto: int | None = None
    ) -> list[tuple[int, Any, int, Any, bytes]]:
        """:meth:`page` for the whole-store sweep, which only hashes what it reads: the id and
        the topic may come as their UTF-8 bytes where that is cheaper to read (SQLite); no
        row past ``upto`` (if given)."""
        rows: list[tuple[int, Any, int, Any, bytes]] = self.page(position, limit)
        if upto is not None and rows and rows[-1][0] > upto:
            rows = [row for row in rows if row[0] <= upto]
        return rows

    def close(self) -> None:  # noqa: B027 - most sources open nothing of their own
        """Release what this source opened itself (not the application's connections)."""

    def after(self, position: int, limit: int) -> list[Positioned]:
        """Up to ``limit`` events with notification id above ``position``, in that order."""
        canon = Canon()
        return [(n, (canon[i], v, t, s)) for n, i, v, t, s in self.page(position, limit)]

    @staticmethod
    def for_recorder(recorder: ApplicationRecorder) -> EventSource:
        from eventsourcing.postgres import PostgresApplicationRecorder
        from eventsourcing.sqlite import SQLiteApplicationRecorder

        if isinstance(recorder, SQLiteApplicationRecorder):
            return SQLiteEventSource(recorder)
        if isinstance(recorder, PostgresApplicationRecorder):
            return PostgresEventSource(recorder)
        raise TypeError(f"The audit trail cannot read a {type(recorder).__name__}.")


class SQLiteEventSource(EventSource):
    def __init__(self, recorder: Any) -> None:
        self.datastore = recorder.datastore
        self.table: str = recorder.events_table_name
        pool = self.datastore.pool
        #: The database file (None: in memory), for :meth:`reopened`.
        self.path: str | None = None if pool.is_sqlite_memory_mode else pool.db_name

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=False) as wrapped:
            cursor = wrapped.sqlite_cursor
            cursor.row_factory = None  # plain tuples: the hot path reads every row once
            yield cursor

    def reopened(self) -> SQLiteEventSource:
        """The same source on a connection of its own (for a forked process, which must never
        use its parent's connections)."""
        if self.path is None:
            raise ValueError("An in-memory event store cannot be reopened.")
        return _OwnSQLiteSource(self.path, self.table)

    def last_position(self) -> int:
        """The highest notification id stored (0: none)."""
        with self._cursor() as cursor:
            cursor.execute(f"SELECT max(rowid) FROM {self.table}")
            row = cursor.fetchone()
            return int(row[0] or 0)

    def teams(self) -> list[str]:
        with self._cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT originator_id FROM {self.table}")
            return sorted(canonical(row[0]) for row in cursor.fetchall())

    def rows(self, team_ids: Sequence[str]) -> list[RawRow]:
        keys = [_sqlite_key(t) for t in team_ids]
        found: list[RawRow] = []
        canon = Canon()
        with self._cursor() as cursor:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                cursor.execute(
                    "SELECT originator_id, originator_version, topic, state FROM "
                    f"{self.table} WHERE originator_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
                found.extend((canon[i], v, t, s) for i, v, t, s in cursor.fetchall())
        found.sort(key=lambda row: (row[0], row[1]))
        return found

    def page(self, position: int, limit: int) -> list[tuple[int, Any, int, str, bytes]]:
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT rowid, originator_id, originator_version, topic, state FROM "
                f"{self.table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (position, limit),
            )
            rows: list[tuple[int, Any, int, str, bytes]] = cursor.fetchall()
            return rows

    def sweep_page(
        self, position: int, limit: int, upto: int | None = None
    ) -> list[tuple[int, Any, int, Any, bytes]]:
        # Text columns as BLOBs: bytes objects, no UTF-8 decoding of two columns per row
        # (a third of the read); the sweep hashes the bytes, which are the same.
        bound = "" if upto is None else "AND rowid <= ? "
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT rowid, CAST(originator_id AS BLOB), originator_version, "
                f"CAST(topic AS BLOB), state FROM {self.table} WHERE rowid > ? {bound}"
                "ORDER BY rowid LIMIT ?",
                (position, limit) if upto is None else (position, upto, limit),
            )
            rows: list[tuple[int, Any, int, str, bytes]] = cursor.fetchall()
            return rows


class _OwnSQLiteSource(SQLiteEventSource):
    """:class:`SQLiteEventSource` on one connection of its own, read-only."""

    def __init__(self, path: str, table: str) -> None:
        self.path: str | None = path
        self.table = table
        self._conn: sqlite3.Connection | None = None

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self._conn is None:
            self._conn = sqlite3.connect(path_uri(self.path or ""), uri=True, isolation_level=None,
                                         check_same_thread=False)  # fmt: skip
        cursor = self._conn.cursor()
        cursor.execute("BEGIN")
        try:
            yield cursor
        finally:
            cursor.execute("ROLLBACK")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def path_uri(path: str) -> str:
    """A database name as eventsourcing gives it (a path, or a ``file:`` URI), as a read-only
    URI."""
    if path.startswith("file:"):
        return path + ("&" if "?" in path else "?") + "mode=ro"
    return f"file:{quote(path)}?mode=ro"


def _sqlite_key(team_id: str) -> str:
    try:
        return UUID(team_id).hex
    except ValueError:
        return team_id


class PostgresEventSource(EventSource):
    def __init__(self, recorder: Any) -> None:
        self.datastore = recorder.datastore
        self.table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        self.uuid_ids = recorder.datastore.originator_id_type == "uuid"

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        from psycopg.rows import tuple_row

        with self.datastore.get_connection() as conn, conn.transaction():
            yield conn.cursor(row_factory=tuple_row)

    def teams(self) -> list[str]:
        with self._cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT originator_id FROM {self.table}")
            return sorted(canonical(row[0]) for row in cursor.fetchall())

    def rows(self, team_ids: Sequence[str]) -> list[RawRow]:
        keys: list[Any] = list(team_ids)
        if self.uuid_ids:
            keys = [u for u in (_uuid_or_none(t) for t in team_ids) if u is not None]
        if not keys:
            return []
        canon = Canon()
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT originator_id, originator_version, topic, state FROM "
                f"{self.table} WHERE originator_id = ANY(%s)",
                (keys,),
            )
            found = [(canon[i], v, t, bytes(s)) for i, v, t, s in cursor.fetchall()]
        found.sort(key=lambda row: (row[0], row[1]))
        return found

    def page(self, position: int, limit: int) -> list[tuple[int, Any, int, str, bytes]]:
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT notification_id, originator_id::text, originator_version, topic, state "
                f"FROM {self.table} WHERE notification_id > %s ORDER BY notification_id LIMIT %s",
                (position, limit),
            )
            rows: list[tuple[int, Any, int, str, bytes]] = cursor.fetchall()  # bytea: bytes
            return rows


def _uuid_or_none(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None
