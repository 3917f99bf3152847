"""SQLite databases: ltflow's own files (views, audit trail, keys), and the event store's file.

Every file ltflow makes is readable by its owner only (:func:`private_file`).

:class:`SQLiteDatabase` opens its own connections (autocommit mode, transactions begun by hand):
writes are ``BEGIN IMMEDIATE`` on one writer connection, so they are exclusive among every
writer of the file, in this process and in others; reads are ``BEGIN`` … ``ROLLBACK``, either on
that same connection (``shared``: one connection for everything, as an in-memory database needs)
or on one connection per thread, which in WAL mode never waits for the writer.
:class:`LibrarySQLite` reads the event store through the library's own connection pool.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ltflow.store.sql import Dialect, Tx

#: WAL: readers never wait for the writer, and the writer never waits for readers.
WAL = "PRAGMA journal_mode=WAL"


class SQLiteDatabase:
    """One SQLite file (or, with ``path`` None, a private in-memory database)."""

    dialect: Dialect = "sqlite"

    def __init__(
        self,
        path: Path | str | None,
        *,
        timeout: float = 5.0,
        pragmas: Sequence[str] = (),
        setup: Callable[[Tx], None] | None = None,
        shared: bool = True,
        uri: bool = False,
    ) -> None:
        """``pragmas`` run on every new connection; ``setup`` (tables, triggers) in a write
        transaction on the first; ``shared``: readers use the writer's connection (under its
        lock) instead of one connection per thread; ``uri``: ``path`` is a ``file:`` URI."""
        self.path = path
        self._timeout, self._pragmas, self._setup = timeout, tuple(pragmas), setup
        self._shared, self._uri = shared, uri
        self._lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._private = False

    def _connect(self) -> sqlite3.Connection:
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self._private:
                private_file(self.path)
                self._private = True
        conn = sqlite3.connect(
            ":memory:" if self.path is None else self.path,
            timeout=self._timeout,
            isolation_level=None,
            check_same_thread=False,
            uri=self._uri,
        )
        for pragma in self._pragmas:
            conn.execute(pragma)
        return conn

    def _writer_connection(self) -> sqlite3.Connection:
        """The writer connection (call with the lock held), set up on first use."""
        if self._writer is None:
            conn = self._connect()
            if self._setup is not None:
                with _begun(conn, "BEGIN IMMEDIATE", commit=True) as tx:
                    self._setup(tx)
            self._writer = conn
        return self._writer

    @contextmanager
    def write(self, lock: int | None = None) -> Iterator[Tx]:
        """A write transaction (``lock`` is for PostgreSQL: SQLite locks the whole file)."""
        with self._lock, _begun(self._writer_connection(), "BEGIN IMMEDIATE", commit=True) as tx:
            yield tx

    @contextmanager
    def read(self, *, single: bool = False) -> Iterator[Tx]:
        """A read transaction, rolled back at the end (``single``: one statement; SQLite reads
        it in a transaction all the same, which costs nothing here)."""
        if self._shared:
            with self._lock, _begun(self._writer_connection(), "BEGIN", commit=False) as tx:
                yield tx
            return
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            self._readers.append(conn)
        with _begun(conn, "BEGIN", commit=False) as tx:
            yield tx

    def outside(self, statement: str) -> tuple[Any, ...] | None:
        """Run one statement on the writer connection outside any transaction (a checkpoint);
        its first row, if it gives one."""
        with self._lock:
            row: tuple[Any, ...] | None = self._writer_connection().execute(statement).fetchone()
            return row

    def close(self) -> None:
        """Close every connection; the next transaction opens new ones."""
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        for conn in self._readers:
            conn.close()
        self._readers.clear()
        self._local = threading.local()


def private_file(path: Path) -> None:
    """Make the SQLite file ``path`` readable by its owner only (mode 600), before anything is
    in it when it is new, and its write-ahead log and shared-memory files with it (SQLite gives
    those the mode of the database file when it makes them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        if name.exists() and name.stat().st_mode & 0o077:
            os.chmod(name, 0o600)


@contextmanager
def _begun(conn: sqlite3.Connection, begin: str, *, commit: bool) -> Iterator[Tx]:
    """A transaction on ``conn``: committed at the end if ``commit``, else rolled back; always
    rolled back when it raises."""
    cursor = conn.cursor()
    cursor.execute(begin)
    try:
        yield Tx(cursor, "sqlite")
    except BaseException:
        conn.rollback()
        raise
    if commit:
        conn.commit()
    else:
        conn.rollback()


class LibrarySQLite:
    """Reads of the event store's file through the library's datastore (its connection pool,
    with its reader-writer interlocking), as plain tuples."""

    dialect: Dialect = "sqlite"

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        pool = datastore.pool
        #: The database file (None: in memory), for a process that must open it afresh.
        self.path: str | None = None if pool.is_sqlite_memory_mode else pool.db_name

    @contextmanager
    def read(self, *, single: bool = False) -> Iterator[Tx]:
        """A read transaction on one of the library's connections (``single``: as for
        :meth:`SQLiteDatabase.read`)."""
        with self.datastore.transaction(commit=False) as wrapped:
            cursor = wrapped.sqlite_cursor
            cursor.row_factory = None  # plain tuples: no Row object per stored event
            yield Tx(cursor, "sqlite")

    @contextmanager
    def write(self, lock: int | None = None) -> Iterator[Tx]:
        """A write transaction on the library's writer connection (``lock``: for PostgreSQL;
        SQLite locks the whole file). For ltflow's own small tables beside the events."""
        with self.datastore.transaction(commit=True) as wrapped:
            cursor = wrapped.sqlite_cursor
            cursor.row_factory = None
            yield Tx(cursor, "sqlite")

    def close(self) -> None:
        """Nothing: the connections are the application's."""


def read_only(path: str) -> SQLiteDatabase:
    """``path`` (a file name, or a ``file:`` URI as the library takes it) opened read-only on a
    connection of its own (for a forked process, which must never use its parent's)."""
    return SQLiteDatabase(path_uri(path), uri=True)


def path_uri(path: str) -> str:
    """A database name as eventsourcing gives it (a path, or a ``file:`` URI), as a read-only
    URI."""
    if path.startswith("file:"):
        return path + ("&" if "?" in path else "?") + "mode=ro"
    return f"file:{quote(path)}?mode=ro"
