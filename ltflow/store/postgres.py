"""PostgreSQL databases: transactions on the eventsourcing library's own connection pool.

Every connection comes from a :class:`eventsourcing.postgres.PostgresDatastore`, so every
``POSTGRES_*`` setting (host, password function, pool size, timeouts) applies to ltflow's own
tables as it does to the events, and errors arrive as the library's persistence errors. The
pool's connections are in autocommit mode; a transaction is begun for each read or write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ltflow.store.sql import Dialect, Tx

APP_NAME = "LearningTeams"


class PostgresDatabase:
    """Transactions in one schema of one PostgreSQL database."""

    dialect: Dialect = "postgres"

    def __init__(
        self,
        datastore: Any,
        *,
        owner: Any = None,
        setup: Callable[[Tx], None] | None = None,
        setup_lock: int | None = None,
    ) -> None:
        """``datastore``: the library's; ``owner``: what to close with this database (None:
        the datastore is someone else's); ``setup`` (tables, triggers) runs once, before the
        first transaction, in a write transaction holding ``setup_lock``."""
        self.datastore = datastore
        self.schema: str = datastore.schema
        self._owner = owner
        self._setup, self._setup_lock = setup, setup_lock

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, app_name: str = APP_NAME, **kwargs: Any
    ) -> PostgresDatabase:
        """A database on a pool of its own, configured like the event store's (``env``)."""
        from eventsourcing.postgres import PostgresFactory
        from eventsourcing.utils import Environment

        factory = PostgresFactory(Environment(app_name, dict(env)))
        return cls(factory.datastore, owner=factory, **kwargs)

    def qualified(self, name: str) -> str:
        """A table's name in this schema."""
        return f'"{self.schema}".{name}'

    def _prepare(self) -> None:
        # Two threads may both run the setup at first: it is idempotent, under its lock.
        setup = self._setup
        if setup is not None:
            with self._transaction(self._setup_lock) as tx:
                setup(tx)
            self._setup = None

    @contextmanager
    def _transaction(self, lock: int | None) -> Iterator[Tx]:
        from psycopg.rows import tuple_row

        with self.datastore.get_connection() as conn, conn.transaction():
            tx = Tx(conn.cursor(row_factory=tuple_row), "postgres")
            if lock is not None:
                tx.execute("SELECT pg_advisory_xact_lock(?)", (lock,))
            yield tx

    @contextmanager
    def write(self, lock: int | None = None) -> Iterator[Tx]:
        """A write transaction, committed unless it raises; with ``lock``, exclusive among
        transactions holding the same advisory lock (released when it ends)."""
        self._prepare()
        with self._transaction(lock) as tx:
            yield tx

    @contextmanager
    def read(self, *, single: bool = False) -> Iterator[Tx]:
        """A read transaction; ``single``: for one statement, which then runs on its own in
        autocommit mode (no round trips to begin and end a transaction)."""
        self._prepare()
        if not single:
            with self._transaction(None) as tx:
                yield tx
            return
        from psycopg.rows import tuple_row

        with self.datastore.get_connection() as conn:
            yield Tx(conn.cursor(row_factory=tuple_row), "postgres")

    @contextmanager
    def autocommit(self) -> Iterator[Tx]:
        """Statements outside any transaction (``VACUUM``), on a pooled connection."""
        from psycopg.rows import tuple_row

        self._prepare()
        with self.datastore.get_connection() as conn:
            was = conn.autocommit
            if conn.info.transaction_status:  # not idle: end what is open before switching
                conn.rollback()
            conn.autocommit = True
            try:
                yield Tx(conn.cursor(row_factory=tuple_row), "postgres")
            finally:
                conn.autocommit = was  # the pool hands the connection on as it gave it

    def close(self) -> None:
        """Close the pool if it is this database's own."""
        if self._owner is not None:
            self._owner.close()
            self._owner = None
