"""Where the read models live: a SQLite file next to the event store, or PostgreSQL tables.

A :class:`ViewStore` hands out transactions with one SQL dialect (``?`` placeholders on both
backends; see :mod:`ltflow.store.sql`). :meth:`ViewStore.write` is exclusive among view writers
(SQLite ``BEGIN IMMEDIATE``, a PostgreSQL transaction-scoped advisory lock), so a runner reads
its tracking positions and writes rows and positions in one transaction that nobody else can
interleave with.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ltflow.projections.base import Dialect, Table
from ltflow.store.postgres import PostgresDatabase
from ltflow.store.sql import Database, Tx, advisory_key
from ltflow.store.sqlite import WAL, SQLiteDatabase

if TYPE_CHECKING:
    from typing import Self

    from ltflow.config import Settings

__all__ = ["PREFIX", "VIEWS_FILE", "PostgresViewStore", "SQLiteViewStore", "Tx", "ViewStore"]

PREFIX = "ltv_"
VIEWS_FILE = "views.sqlite3"


class ViewStore:
    """The views database of one ltflow installation."""

    dialect: Dialect
    db: Database
    #: The advisory lock every view writer holds (PostgreSQL).
    _lock: int | None = None

    def table(self, table: Table | str) -> str:
        """The qualified name of a view table (or of ``tracking``)."""
        return PREFIX + (table if isinstance(table, str) else table.name)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction, exclusive among view writers; commits unless it raises."""
        with self.db.write(self._lock) as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction for queries."""
        with self.db.read() as tx:
            yield tx

    def close(self) -> None:
        """Release connections."""
        self.db.close()

    def purge(self) -> None:
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
    db: SQLiteDatabase

    def __init__(self, path: Path, *, lock_timeout: float = 10.0) -> None:
        self.path = path
        pragmas = [
            WAL,
            # Deleted rows are overwritten, so an erased participant's text leaves the file.
            "PRAGMA secure_delete=ON",
            # Tracking commits with the rows it tracks, so a lost tail after power loss is
            # simply processed again: NORMAL is as safe as FULL here, and much faster.
            "PRAGMA synchronous=NORMAL",
        ]
        # One connection per reading thread: in WAL mode they never wait for the runner.
        self.db = SQLiteDatabase(path, timeout=lock_timeout, pragmas=pragmas, shared=False)

    def purge(self, timeout: float = 30.0) -> None:
        """Copy the write-ahead log home and empty it: old page images go with it. A reader in
        the middle of a transaction holds the log; wait for it (up to ``timeout`` seconds),
        then raise rather than leave the old pages behind (running the erasure again
        finishes it)."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.db.outside("PRAGMA wal_checkpoint(TRUNCATE)")
            if row is None or row[0] == 0:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"The write-ahead log of {self.path} stayed in use for {timeout:.0f} s; "
                    "it was not emptied. Run the erasure again."
                )
            time.sleep(0.05)


class PostgresViewStore(ViewStore):
    """Views as ``ltv_*`` tables in the event store's database and schema (``POSTGRES_SCHEMA``).

    Connections come from the eventsourcing library's own datastore, so every ``POSTGRES_*``
    setting (host, password function, pool size, timeouts) applies to the views as well.
    """

    dialect: Dialect = "postgres"
    db: PostgresDatabase

    def __init__(self, env: dict[str, str], *, app_name: str = "LearningTeams") -> None:
        self.db = db = PostgresDatabase.from_env(env, app_name=app_name)
        self.datastore = db.datastore
        self.schema = db.schema
        self._lock = advisory_key("ltflow-views", self.schema)

    def table(self, table: Table | str) -> str:
        return self.db.qualified(super().table(table))

    def purge(self) -> None:
        """Rewrite the view tables (``VACUUM FULL``), so dead row versions leave the files."""
        with self.db.autocommit() as tx:
            names = tx.fetchall(
                "SELECT tablename FROM pg_tables WHERE schemaname = ? AND tablename LIKE ?",
                (self.schema, PREFIX + "%"),
            )
            for (name,) in names:
                tx.execute(f'VACUUM FULL "{self.schema}"."{name}"')
