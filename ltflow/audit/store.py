"""Where the audit trail lives: apart from the events, append-only.

With SQLite it is its own file (``audit.sqlite3`` in the data dir); with PostgreSQL it is the
``lta_*`` tables in the event store's database and schema (grant the application role INSERT and
SELECT only on them, if you like: ltflow never updates or deletes a row there). Triggers refuse
UPDATE, DELETE (and on PostgreSQL TRUNCATE) on every audit table, so only someone who first
drops a trigger can change the trail, and then the chains say so.

:meth:`AuditStore.write` is exclusive per ``lock`` name (SQLite ``BEGIN IMMEDIATE``, a
PostgreSQL transaction-scoped advisory lock): two sealers, or two access-log appends, never
interleave. SQL is written once with ``?`` placeholders for both backends.
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
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from typing import Self

    from ltflow.config import Settings

AUDIT_FILE = "audit.sqlite3"
TABLES = ("lta_links", "lta_anchors", "lta_anchor_heads", "lta_access")
Dialect = Literal["sqlite", "postgres"]

_DDL = (
    "CREATE TABLE IF NOT EXISTS {lta_links} (position {int_pk}, team_id TEXT NOT NULL,"
    " version BIGINT NOT NULL, digest {blob} NOT NULL, link {blob} NOT NULL,"
    " anchor BIGINT NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS lta_links_team ON {lta_links} (team_id, version)",
    "CREATE TABLE IF NOT EXISTS {lta_anchors} (seq {int_pk}, position BIGINT NOT NULL,"
    " anchored_at TEXT NOT NULL, events BIGINT NOT NULL, access_seq BIGINT NOT NULL,"
    " access_digest {blob} NOT NULL, prev {blob} NOT NULL, digest {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {lta_anchor_heads} (seq BIGINT NOT NULL, team_id TEXT NOT NULL,"
    " version BIGINT NOT NULL, link {blob} NOT NULL, PRIMARY KEY (seq, team_id))",
    "CREATE INDEX IF NOT EXISTS lta_anchor_heads_team ON {lta_anchor_heads} (team_id, seq)",
    "CREATE TABLE IF NOT EXISTS {lta_access} (seq {int_pk}, at TEXT NOT NULL,"
    " actor TEXT NOT NULL, on_behalf_of TEXT, channel TEXT NOT NULL, action TEXT NOT NULL,"
    " team_id TEXT, detail TEXT NOT NULL, prev {blob} NOT NULL, digest {blob} NOT NULL)",
)


@lru_cache(maxsize=256)
def _pg_sql(sql: str) -> str:
    return sql.replace("?", "%s")


class Tx:
    """One transaction on the audit store."""

    def __init__(self, cursor: Any, dialect: Dialect, tables: dict[str, str]) -> None:
        self._cursor = cursor
        self.dialect: Dialect = dialect
        #: Qualified table names, by plain name: ``tx.t["lta_links"]``.
        self.t = tables

    def _sql(self, sql: str) -> str:
        return _pg_sql(sql) if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cursor.executemany(self._sql(sql), rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows as tuples (both backends' cursors are set up to give tuples)."""
        self._cursor.execute(self._sql(sql), params)
        rows: list[tuple[Any, ...]] = self._cursor.fetchall()
        return rows

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self._cursor.execute(self._sql(sql), params)
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def in_list(self, values: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        """``"= ANY(?)"`` or ``"IN (?, ...)"`` and its parameters, for ``WHERE x <that>``."""
        if self.dialect == "postgres":
            return "= ANY(?)", (list(values),)
        return f"IN ({','.join('?' * len(values))})", tuple(values)


class AuditStore(ABC):
    """The audit trail of one ltflow installation; see the module docstring."""

    dialect: Dialect
    #: Qualified table names, by their plain name (``t["lta_links"]``).
    t: dict[str, str]

    @abstractmethod
    @contextmanager
    def write(self, lock: str) -> Iterator[Tx]:
        """A write transaction, exclusive among writers holding the same ``lock``."""

    @abstractmethod
    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def from_settings(settings: Settings, datastore: Any = None) -> AuditStore:
        """The store that goes with the configured event store (reusing ``datastore`` if given)."""
        if settings.event_store == "postgres":
            if datastore is not None:
                return PostgresAuditStore(datastore)
            return PostgresAuditStore.from_env(settings.eventsourcing_env())
        return SQLiteAuditStore(Path(settings.data_dir) / AUDIT_FILE)

    def ddl(self, blob: str, int_pk: str) -> list[str]:
        """The tables, in this dialect's words for a blob and an integer primary key."""
        return [statement.format(blob=blob, int_pk=int_pk, **self.t) for statement in _DDL]


class SQLiteAuditStore(AuditStore):
    """The audit trail in its own SQLite file (WAL, ``synchronous=FULL``: it is the evidence)."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path, *, lock_timeout: float = 30.0, prepare: bool = True) -> None:
        self.path = path
        self.t = {name: name for name in TABLES}
        self._timeout = lock_timeout
        self._prepare = prepare
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            if self._prepare:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("BEGIN IMMEDIATE")
                for statement in [*self.ddl("BLOB", "INTEGER PRIMARY KEY"), *_sqlite_triggers()]:
                    conn.execute(statement)
                conn.execute("COMMIT")
            self._conn = conn
        return self._conn

    @contextmanager
    def write(self, lock: str) -> Iterator[Tx]:
        with self._lock:
            conn = self._connection()
            cursor = conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(cursor, "sqlite", self.t)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._lock:
            conn = self._connection()
            cursor = conn.cursor()
            cursor.execute("BEGIN")
            try:
                yield Tx(cursor, "sqlite", self.t)
            finally:
                conn.rollback()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def reopened(self) -> SQLiteAuditStore:
        """The same file on a new connection, for reading (a forked process must never use its
        parent's connection); the tables are there already."""
        return SQLiteAuditStore(self.path, lock_timeout=self._timeout, prepare=False)


def _sqlite_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for table in TABLES
        for verb in ("UPDATE", "DELETE")
    ]


class PostgresAuditStore(AuditStore):
    """The audit trail as ``lta_*`` tables in the event store's database and schema."""

    dialect: Dialect = "postgres"

    def __init__(self, datastore: Any, *, owner: Any = None) -> None:
        self.datastore = datastore
        self.schema: str = datastore.schema
        self.t = {name: f'"{self.schema}".{name}' for name in TABLES}
        self._owner = owner
        self._ready = False

    @classmethod
    def from_env(cls, env: dict[str, str], app_name: str = "LearningTeams") -> PostgresAuditStore:
        from eventsourcing.postgres import PostgresFactory
        from eventsourcing.utils import Environment

        factory = PostgresFactory(Environment(app_name, env))
        return cls(factory.datastore, owner=factory)

    def _key(self, lock: str) -> int:
        digest = hashlib.sha256(f"ltflow-audit:{self.schema}:{lock}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _prepare(self) -> None:
        if self._ready:
            return
        with self.datastore.get_connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._key("ddl"),))
            for statement in self.ddl("BYTEA", "BIGINT PRIMARY KEY"):
                conn.execute(statement)
            conn.execute(
                f'CREATE OR REPLACE FUNCTION "{self.schema}".lta_append_only() RETURNS trigger '
                "LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
            )
            for table in TABLES:
                exists = conn.execute(
                    "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = %s::regclass",
                    (f"{table}_append_only", self.t[table]),
                ).fetchone()
                if exists is None:
                    conn.execute(
                        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE"
                        f" ON {self.t[table]} FOR EACH STATEMENT"
                        f' EXECUTE FUNCTION "{self.schema}".lta_append_only()'
                    )
        self._ready = True

    @contextmanager
    def write(self, lock: str) -> Iterator[Tx]:
        from psycopg.rows import tuple_row

        self._prepare()
        with self.datastore.get_connection() as conn, conn.transaction():
            cursor = conn.cursor(row_factory=tuple_row)
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (self._key(lock),))
            yield Tx(cursor, "postgres", self.t)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        from psycopg.rows import tuple_row

        self._prepare()
        with self.datastore.get_connection() as conn, conn.transaction():
            yield Tx(conn.cursor(row_factory=tuple_row), "postgres", self.t)

    def close(self) -> None:
        if self._owner is not None:
            self._owner.close()
            self._owner = None
