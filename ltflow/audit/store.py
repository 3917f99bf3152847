"""Where the audit trail lives: apart from the events, append-only.

With SQLite it is its own file (``audit.sqlite3`` in the data dir); with PostgreSQL it is the
``lta_*`` tables in the event store's database and schema (grant the application role INSERT and
SELECT only on them, if you like: ltflow never updates or deletes a row there). Triggers refuse
UPDATE, DELETE (and on PostgreSQL TRUNCATE) on every audit table, so only someone who first
drops a trigger can change the trail, and then the chains say so.

:meth:`AuditStore.write` is exclusive per ``lock`` name (SQLite ``BEGIN IMMEDIATE``, a
PostgreSQL transaction-scoped advisory lock): two anchoring runs, or two access-log appends, never
interleave. SQL is written once with ``?`` placeholders for both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltflow.store.postgres import PostgresDatabase
from ltflow.store.sql import Database, Dialect, Tx, advisory_key
from ltflow.store.sqlite import WAL, SQLiteDatabase

if TYPE_CHECKING:
    from typing import Self

    from ltflow.config import Settings

__all__ = ["AUDIT_FILE", "TABLES", "AuditStore", "PostgresAuditStore", "SQLiteAuditStore", "Tx"]

AUDIT_FILE = "audit.sqlite3"
TABLES = ("lta_links", "lta_anchors", "lta_anchor_heads", "lta_access")

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


class AuditStore:
    """The audit trail of one ltflow installation; see the module docstring."""

    dialect: Dialect
    db: Database
    #: Qualified table names, by their plain name (``t["lta_links"]``).
    t: dict[str, str]

    def _key(self, lock: str) -> int | None:
        """The advisory lock of the writers holding ``lock`` (None: the database locks)."""
        return None

    @contextmanager
    def write(self, lock: str) -> Iterator[Tx]:
        """A write transaction, exclusive among writers holding the same ``lock``."""
        with self.db.write(self._key(lock)) as tx:
            tx.t = self.t
            yield tx

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction."""
        with self.db.read() as tx:
            tx.t = self.t
            yield tx

    def close(self) -> None:
        """Release connections."""
        self.db.close()

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
        """``prepare`` False: the tables are there already, and this store only reads."""
        self.path = path
        self.t = {name: name for name in TABLES}
        self._timeout = lock_timeout
        pragmas = [WAL, "PRAGMA synchronous=FULL"] if prepare else []
        self.db = SQLiteDatabase(
            path, timeout=lock_timeout, pragmas=pragmas, setup=self._setup if prepare else None
        )

    def _setup(self, tx: Tx) -> None:
        for statement in [*self.ddl("BLOB", "INTEGER PRIMARY KEY"), *_sqlite_triggers()]:
            tx.execute(statement)

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
        self.db = PostgresDatabase(
            datastore, owner=owner, setup=self._setup, setup_lock=self._key("ddl")
        )

    @classmethod
    def from_env(cls, env: dict[str, str], app_name: str = "LearningTeams") -> PostgresAuditStore:
        """The store on a pool of its own."""
        db = PostgresDatabase.from_env(env, app_name=app_name)
        return cls(db.datastore, owner=db)

    def _key(self, lock: str) -> int:
        return advisory_key("ltflow-audit", self.schema, lock)

    def _setup(self, tx: Tx) -> None:
        for statement in self.ddl("BYTEA", "BIGINT PRIMARY KEY"):
            tx.execute(statement)
        tx.execute(
            f'CREATE OR REPLACE FUNCTION "{self.schema}".lta_append_only() RETURNS trigger '
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in TABLES:
            exists = tx.fetchone(
                "SELECT 1 FROM pg_trigger WHERE tgname = ? AND tgrelid = ?::regclass",
                (f"{table}_append_only", self.t[table]),
            )
            if exists is None:
                tx.execute(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE"
                    f" ON {self.t[table]} FOR EACH STATEMENT"
                    f' EXECUTE FUNCTION "{self.schema}".lta_append_only()'
                )
