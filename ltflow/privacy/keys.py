"""Where participant keys live: a table of their own, apart from the events.

With SQLite it is its own file (``keys.sqlite3``, readable by its owner only, with
``secure_delete`` so a deleted key is overwritten on disk); with PostgreSQL it is the
``ltflow_participant_keys`` table in the event store's schema, on a small pool of its own (a key
is read for every batch of personal events decoded, and a new connection per read cost
milliseconds). The queries are written once, for both (:class:`SQLKeyStore`).

Deleting a key also records the erasure in a second table, in the same transaction: no key is
ever made again for that participant (:class:`KeyErasedError`).
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


class KeyErasedError(LookupError):
    """The participant was erased: their key is gone for good, and no new one is made (a key
    made after the erasure would not open their old fields, and every read of them would fail
    instead of showing ``[erased]``)."""


class KeyStore(ABC):
    """Participant keys, by (team, participant). Keys are never exported or logged."""

    @abstractmethod
    def get(self, team_id: UUID, participant_id: str) -> bytes | None:
        """The participant's key (None: never made, or erased)."""

    @abstractmethod
    def get_or_create(self, team_id: UUID, participant_id: str) -> bytes:
        """The participant's key, made now if there is none (:class:`KeyErasedError` once the
        participant was erased)."""

    @abstractmethod
    def delete(self, team_id: UUID, participant_id: str) -> bool:
        """Forget the key for good (idempotent); True when there was one."""

    def get_many(self, team_ids: Sequence[UUID]) -> dict[tuple[UUID, str], bytes]:
        """Every key of these teams, by (team, participant); one query where the store can."""
        raise NotImplementedError

    def purge(self) -> None:  # noqa: B027 - optional hook
        """Make deleted keys unrecoverable from the store's files (after an erasure)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class SQLKeyStore(KeyStore):
    """Keys in one table of a :class:`~ltflow.store.sql.Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database, table: str, erased: str) -> None:
        """``erased``: the table of the erased participants (whose keys are never made again)."""
        self.db, self.table, self.erased = db, table, erased
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
                gone = f"SELECT 1 FROM {self.erased} WHERE team_id = ? AND participant_id = ?"
                if tx.fetchone(gone, ids) is not None:
                    raise KeyErasedError(f"participant {participant_id} of {team_id} was erased")
                insert = f"INSERT INTO {self.table} VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
                tx.execute(insert, (*ids, AESGCM.generate_key(bit_length=256)))
                row = tx.fetchone(self._one, ids)  # ours, or the one a racing writer made
        assert row is not None
        return bytes(row[0])

    def delete(self, team_id: UUID, participant_id: str) -> bool:
        ids = (self._team(team_id), participant_id)
        sql = f"DELETE FROM {self.table} WHERE team_id = ? AND participant_id = ?"
        mark = f"INSERT INTO {self.erased} VALUES (?, ?) ON CONFLICT DO NOTHING"
        with self.db.write() as tx:
            tx.execute(mark, ids)  # in the same transaction: no key is made in between
            return tx.execute(sql, ids) > 0

    def close(self) -> None:
        self.db.close()


def _create(tx: Tx, table: str, erased: str, team: str, blob: str) -> None:
    tx.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (team_id {team} NOT NULL, participant_id TEXT"
        f" NOT NULL, key {blob} NOT NULL, PRIMARY KEY (team_id, participant_id))"
    )
    tx.execute(
        f"CREATE TABLE IF NOT EXISTS {erased} (team_id {team} NOT NULL, participant_id TEXT"
        " NOT NULL, PRIMARY KEY (team_id, participant_id))"
    )


class SQLiteKeyStore(SQLKeyStore):
    """Keys in their own SQLite file, overwritten on delete (``PRAGMA secure_delete``)."""

    def __init__(self, path: Path | None) -> None:
        """``path`` None keeps the keys in memory (for an in-memory event store)."""
        table, erased = "participant_keys", "erased_participants"
        db = SQLiteDatabase(
            path,
            pragmas=["PRAGMA secure_delete = ON"],
            setup=lambda tx: _create(tx, table, erased, "TEXT", "BLOB"),
        )
        super().__init__(db, table, erased)
        with db.read():  # the file and its table, now: its mode is set before any key is in it
            pass
        if path is not None:
            os.chmod(path, 0o600)


class PostgresKeyStore(SQLKeyStore):
    """Keys in a table of their own in the event store's PostgreSQL schema."""

    def __init__(self, db: PostgresDatabase) -> None:
        table = db.qualified("ltflow_participant_keys")
        erased = db.qualified("ltflow_erased_participants")
        super().__init__(db, table, erased)
        with db.write() as tx:
            _create(tx, table, erased, "UUID", "BYTEA")

    def purge(self) -> None:
        """Rewrite the key tables (``VACUUM FULL``): a deleted key's dead row version leaves
        the table's files (it stays in PostgreSQL's WAL and in backups until they age out:
        docs/privacy.md)."""
        assert isinstance(self.db, PostgresDatabase)
        with self.db.autocommit() as tx:
            for table in (self.table, self.erased):
                tx.execute(f"VACUUM FULL {table}")

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
