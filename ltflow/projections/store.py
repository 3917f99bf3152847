"""Where the read models live: a SQLite file next to the event store, or PostgreSQL tables.

A :class:`ViewStore` hands out transactions with one SQL dialect (``?`` placeholders on both
backends). :meth:`ViewStore.write` is exclusive among view writers (SQLite ``BEGIN IMMEDIATE``,
a PostgreSQL transaction-scoped advisory lock), so a runner reads its tracking positions and
writes rows and positions in one transaction that nobody else can interleave with.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltflow.projections.base import Dialect, Row, Table

if TYPE_CHECKING:
    from typing import Self

    from ltflow.config import Settings

PREFIX = "ltv_"
VIEWS_FILE = "views.sqlite3"
_SQLITE_CHUNK = 500


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    return sql.replace("?", "%s")


class Tx:
    """One transaction on the views database."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self.dialect: Dialect = dialect

    def _sql(self, sql: str) -> str:
        return _pg_sql(sql) if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        self._cursor.execute(self._sql(sql), params)
        return int(self._cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Row]) -> None:
        if rows:
            self._cursor.executemany(self._sql(sql), rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cursor.execute(self._sql(sql), params)
        return [tuple(row) for row in self._cursor.fetchall()]

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self._cursor.execute(self._sql(sql), params)
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def fetch_for_teams(self, sql: str, team_ids: Sequence[str]) -> list[Row]:
        """Run ``sql`` (ending in ``WHERE team_id``) for many teams at once."""
        if self.dialect == "postgres":
            return self.fetchall(f"{sql} = ANY(?)", (list(team_ids),))
        found: list[Row] = []
        for start in range(0, len(team_ids), _SQLITE_CHUNK):
            chunk = team_ids[start : start + _SQLITE_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.extend(self.fetchall(f"{sql} IN ({marks})", chunk))
        return found

    def insert(self, qualified: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert many rows: one ``COPY`` on PostgreSQL, ``executemany`` on SQLite."""
        if not rows:
            return
        if self.dialect == "postgres":
            with self._cursor.copy(f"COPY {qualified} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" for _ in columns)
        self._cursor.executemany(f"INSERT INTO {qualified} VALUES ({marks})", rows)

    def delete_teams(self, qualified: str, team_ids: Sequence[str]) -> None:
        """Remove every row of these teams from one table."""
        if not team_ids:
            return
        if self.dialect == "postgres":
            self.execute(f"DELETE FROM {qualified} WHERE team_id = ANY(?)", (list(team_ids),))
        else:
            self.executemany(f"DELETE FROM {qualified} WHERE team_id = ?", [(t,) for t in team_ids])


class ViewStore(ABC):
    """The views database of one ltflow installation."""

    dialect: Dialect

    @abstractmethod
    def table(self, table: Table | str) -> str:
        """The qualified name of a view table (or of ``tracking``)."""

    @abstractmethod
    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction, exclusive among view writers; commits unless it raises."""

    @abstractmethod
    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction for queries."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def purge(self) -> None:  # noqa: B027 - a no-op where the database keeps nothing
        """Make deleted rows unrecoverable from the files (after an erasure and a rebuild)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def from_settings(settings: Settings) -> ViewStore:
        """The store that goes with the configured event store."""
        if settings.event_store == "postgres":
            return PostgresViewStore(settings.eventsourcing_env())
        return SQLiteViewStore(Path(settings.data_dir) / VIEWS_FILE)


class SQLiteViewStore(ViewStore):
    """Views in their own SQLite file (WAL): readers never wait for the runner."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path, *, lock_timeout: float = 10.0) -> None:
        self.path = path
        self._timeout = lock_timeout
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        # Deleted rows are overwritten, so an erased participant's text leaves the file.
        conn.execute("PRAGMA secure_delete=ON")
        # Tracking commits with the rows it tracks, so a lost tail after power loss is simply
        # processed again: NORMAL is as safe as FULL here, and much faster.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def table(self, table: Table | str) -> str:
        return PREFIX + (table if isinstance(table, str) else table.name)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self._write_lock:
            if self._writer is None:
                self._writer = self._connect()
            cursor = self._writer.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(cursor, "sqlite")
                self._writer.commit()
            except BaseException:
                self._writer.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Tx]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            self._readers.append(conn)
        cursor = conn.cursor()
        cursor.execute("BEGIN")
        try:
            yield Tx(cursor, "sqlite")
        finally:
            conn.rollback()

    def purge(self) -> None:
        """Copy the write-ahead log home and empty it: old page images go with it."""
        with self._write_lock:
            if self._writer is None:
                self._writer = self._connect()
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        for conn in self._readers:
            conn.close()
        self._readers.clear()
        self._local = threading.local()


class PostgresViewStore(ViewStore):
    """Views as ``ltv_*`` tables in the event store's database and schema (``POSTGRES_SCHEMA``).

    Connections come from the eventsourcing library's own datastore, so every ``POSTGRES_*``
    setting (host, password function, pool size, timeouts) applies to the views as well.
    """

    dialect: Dialect = "postgres"

    def __init__(self, env: dict[str, str], *, app_name: str = "LearningTeams") -> None:
        from eventsourcing.postgres import PostgresFactory
        from eventsourcing.utils import Environment

        self._factory = PostgresFactory(Environment(app_name, env))
        self.datastore = self._factory.datastore
        self.schema = self.datastore.schema
        digest = hashlib.sha256(f"ltflow-views:{self.schema}".encode()).digest()
        self._lock_key = int.from_bytes(digest[:8], "big", signed=True)

    def table(self, table: Table | str) -> str:
        name = table if isinstance(table, str) else table.name
        return f'"{self.schema}".{PREFIX}{name}'

    @contextmanager
    def write(self) -> Iterator[Tx]:
        from psycopg.rows import tuple_row

        with self.datastore.get_connection() as conn, conn.transaction():
            cursor = conn.cursor(row_factory=tuple_row)
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
            yield Tx(cursor, "postgres")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        from psycopg.rows import tuple_row

        with self.datastore.get_connection() as conn, conn.transaction():
            yield Tx(conn.cursor(row_factory=tuple_row), "postgres")

    def purge(self) -> None:
        """Rewrite the view tables (``VACUUM FULL``), so dead row versions leave the files."""
        with self.datastore.get_connection() as conn:
            rows = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
                (self.schema, PREFIX + "%"),
            ).fetchall()
            conn.commit()
            conn.autocommit = True
            try:
                for (name,) in rows:
                    conn.execute(f'VACUUM FULL "{self.schema}"."{name}"')
            finally:
                conn.autocommit = False

    def close(self) -> None:
        self._factory.close()
