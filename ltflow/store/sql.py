"""One transaction, one SQL dialect: ``?`` placeholders on SQLite and PostgreSQL alike.

A :class:`Tx` wraps a cursor that gives rows as tuples (SQLite's plain cursor, psycopg's
``tuple_row``) and translates the placeholders for PostgreSQL. The helpers cover what differs
between the two beyond placeholders: lists of values in a ``WHERE`` (``= ANY`` against SQLite's
``IN`` in chunks under its variable limit) and bulk inserts (``COPY`` against ``executemany``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]
#: SQLite allows this many ``?`` in one statement on every build ltflow supports, with room.
SQLITE_CHUNK = 500


@lru_cache(maxsize=1024)
def pg_sql(sql: str) -> str:
    """The statement with psycopg's placeholders (and a literal ``%`` kept literal, as it is
    on SQLite)."""
    return sql.replace("%", "%%").replace("?", "%s")


def advisory_key(*parts: str) -> int:
    """A PostgreSQL advisory-lock key (signed 64 bits) for a name made of ``parts``."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Tx:
    """One transaction: statements with ``?`` placeholders, rows as tuples."""

    def __init__(
        self, cursor: Any, dialect: Dialect, tables: Mapping[str, str] | None = None
    ) -> None:
        self._cursor = cursor
        self.dialect: Dialect = dialect
        #: Qualified table names by plain name, where the store names them (``tx.t["lta_links"]``).
        self.t: Mapping[str, str] = tables or {}

    def _run(self, sql: str, params: Sequence[Any]) -> None:
        if self.dialect == "sqlite":
            self._cursor.execute(sql, params)
        elif params:
            self._cursor.execute(pg_sql(sql), params)
        else:  # no parameters: psycopg must not read ``%`` or ``?`` in the text as placeholders
            self._cursor.execute(sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        self._run(sql, params)
        return int(self._cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of ``rows`` (nothing for none)."""
        if rows:
            self._cursor.executemany(sql if self.dialect == "sqlite" else pg_sql(sql), rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of a query."""
        self._run(sql, params)
        rows: list[Row] = self._cursor.fetchall()
        return rows

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query (None: no row)."""
        self._run(sql, params)
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def in_list(self, values: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        """``"= ANY(?)"`` or ``"IN (?, ...)"`` and its parameters, for ``WHERE x <that>``
        (on SQLite, at most :data:`SQLITE_CHUNK` values at a time)."""
        if self.dialect == "postgres":
            return "= ANY(?)", (list(values),)
        return f"IN ({','.join('?' * len(values))})", tuple(values)

    def fetch_in(self, sql: str, values: Sequence[Any], params: Sequence[Any] = ()) -> list[Row]:
        """Run ``sql`` (ending in ``WHERE <column>``, after ``params``) for many values at once."""
        if self.dialect == "postgres":
            return self.fetchall(f"{sql} = ANY(?)", (*params, list(values)))
        found: list[Row] = []
        for start in range(0, len(values), SQLITE_CHUNK):
            where, chunk = self.in_list(values[start : start + SQLITE_CHUNK])
            found.extend(self.fetchall(f"{sql} {where}", (*params, *chunk)))
        return found

    def fetch_for_teams(self, sql: str, team_ids: Sequence[str]) -> list[Row]:
        """Run ``sql`` (ending in ``WHERE team_id``) for many teams at once."""
        return self.fetch_in(sql, team_ids)

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


class Reader(Protocol):
    """A database to read: read transactions."""

    dialect: Dialect

    def read(self, *, single: bool = False) -> AbstractContextManager[Tx]:
        """A read-only transaction (rolled back at the end); ``single``: it runs one statement,
        which a server database may then run without a transaction of its own."""
        ...

    def close(self) -> None:
        """Release the connections this database opened."""
        ...


class Database(Reader, Protocol):
    """What every store is built on: read and exclusive write transactions."""

    def write(self, lock: int | None = None) -> AbstractContextManager[Tx]:
        """A write transaction, committed unless it raises; exclusive among writers holding
        the same ``lock`` (an :func:`advisory_key`; SQLite: among every writer of the file)."""
        ...
