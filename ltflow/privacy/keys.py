"""Where participant keys live: a table of their own, apart from the events.

With SQLite it is its own file (``keys.sqlite3``, readable by its owner only, with
``secure_delete`` so a deleted key is overwritten on disk); with PostgreSQL it is the
``ltflow_participant_keys`` table in the event store's schema, on a small pool of its own (a key
is read for every batch of personal events decoded, and a new connection per read cost
milliseconds). The queries are written once, for both (:class:`SQLKeyStore`).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ltflow.config import Settings
from ltflow.store.postgres import PostgresDatabase
from ltflow.store.sql import Database, Tx
from ltflow.store.sqlite import SQLiteDatabase

KEYS_FILE = "keys.sqlite3"
#: The key store's own pool: one connection kept, a few more under concurrent reads.
_POOL = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "4"}


class KeyStore(ABC):
    """Participant keys, by (team, participant). Keys are never exported or logged."""

    @abstractmethod
    def get(self, team_id: UUID, participant_id: str) -> bytes | None:
        """The participant's key (None: never made, or erased)."""

    @abstractmethod
    def get_or_create(self, team_id: UUID, participant_id: str) -> bytes:
        """The participant's key, made now if there is none."""

    @abstractmethod
    def delete(self, team_id: UUID, participant_id: str) -> bool:
        """Forget the key; True when there was one."""

    def get_many(self, team_ids: Sequence[UUID]) -> dict[tuple[UUID, str], bytes]:
        """Every key of these teams, by (team, participant); one query where the store can."""
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class SQLKeyStore(KeyStore):
    """Keys in one table of a :class:`~ltflow.store.sql.Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database, table: str) -> None:
        self.db, self.table = db, table
        # PostgreSQL's column is a UUID; SQLite's is the UUID's text.
        self._team = str if db.dialect == "sqlite" else (lambda team_id: team_id)
        self._one = f"SELECT key FROM {table} WHERE team_id = ? AND participant_id = ?"

    def get(self, team_id: UUID, participant_id: str) -> bytes | None:
        with self.db.read(single=True) as tx:
            row = tx.fetchone(self._one, (self._team(team_id), participant_id))
        return bytes(row[0]) if row else None

    def get_many(self, team_ids: Sequence[UUID]) -> dict[tuple[UUID, str], bytes]:
        by_text = {str(t): t for t in team_ids}
        sql = f"SELECT team_id, participant_id, key FROM {self.table} WHERE team_id"
        with self.db.read(single=True) as tx:
            rows = tx.fetch_in(sql, [self._team(t) for t in by_text.values()])
        return {(by_text[str(t)], p): bytes(k) for t, p, k in rows}

    def get_or_create(self, team_id: UUID, participant_id: str) -> bytes:
        ids = (self._team(team_id), participant_id)
        with self.db.read(single=True) as tx:
            row = tx.fetchone(self._one, ids)  # nearly always there: no write
        if row is None:
            with self.db.write() as tx:
                insert = f"INSERT INTO {self.table} VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
                tx.execute(insert, (*ids, AESGCM.generate_key(bit_length=256)))
                row = tx.fetchone(self._one, ids)  # ours, or the one a racing writer made
        assert row is not None
        return bytes(row[0])

    def delete(self, team_id: UUID, participant_id: str) -> bool:
        sql = f"DELETE FROM {self.table} WHERE team_id = ? AND participant_id = ?"
        with self.db.write() as tx:
            return tx.execute(sql, (self._team(team_id), participant_id)) > 0

    def close(self) -> None:
        self.db.close()


def _create(tx: Tx, table: str, team: str, blob: str) -> None:
    tx.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (team_id {team} NOT NULL, participant_id TEXT"
        f" NOT NULL, key {blob} NOT NULL, PRIMARY KEY (team_id, participant_id))"
    )


class SQLiteKeyStore(SQLKeyStore):
    """Keys in their own SQLite file, overwritten on delete (``PRAGMA secure_delete``)."""

    def __init__(self, path: Path | None) -> None:
        """``path`` None keeps the keys in memory (for an in-memory event store)."""
        table = "participant_keys"
        db = SQLiteDatabase(
            path,
            pragmas=["PRAGMA secure_delete = ON"],
            setup=lambda tx: _create(tx, table, "TEXT", "BLOB"),
        )
        super().__init__(db, table)
        with db.read():  # the file and its table, now: its mode is set before any key is in it
            pass
        if path is not None:
            os.chmod(path, 0o600)


class PostgresKeyStore(SQLKeyStore):
    """Keys in a table of their own in the event store's PostgreSQL schema."""

    def __init__(self, db: PostgresDatabase) -> None:
        table = db.qualified("ltflow_participant_keys")
        super().__init__(db, table)
        with db.write() as tx:
            _create(tx, table, "UUID", "BYTEA")

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresKeyStore:
        """The key store in the configured event store's database and schema."""
        return cls(PostgresDatabase.from_env({**settings.eventsourcing_env(), **_POOL}))


def key_store_for(settings: Settings) -> KeyStore:
    """The key store beside the configured event store."""
    if settings.event_store == "postgres":
        return PostgresKeyStore.from_settings(settings)
    dbname = settings.eventsourcing_env().get("SQLITE_DBNAME", "")
    if dbname.startswith((":memory:", "file::memory:")):
        return SQLiteKeyStore(None)
    return SQLiteKeyStore(Path(settings.data_dir) / KEYS_FILE)
