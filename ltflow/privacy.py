"""Erasure by crypto-shredding: personal fields sealed with a key per participant.

A participant's display name, perspectives, reflection notes and withdrawal reason are stored
sealed (AES-256-GCM) under a key that belongs to that participant in that team, and so is the
content digest of those events (a digest of a short name could otherwise be guessed back).
Erasing a participant deletes the key: the stored bytes stay exactly as they were, so the audit
hash chain still verifies, but the fields read as ``[erased]`` everywhere from then on (event
store, read models once rebuilt, exports). The key store is kept apart from the events, with
SQLite's ``secure_delete`` so a deleted key is overwritten on disk.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper, StoredEvent

from ltflow.aggregates.state import ERASED_FINGERPRINT
from ltflow.config import Settings

#: Which payload fields are personal, per event type; the subject is ``payload["participant_id"]``.
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "participant.invited": ("display_name",),
    "participant.withdrawn": ("reason",),
    "perspective.shared": ("perspective",),
    "reflection.noted": ("note",),
}
ERASED = ERASED_FINGERPRINT
_PREFIX = "ltflow-pii:v1:"
_NONCE = 12


class KeyStore(ABC):
    """Participant keys, by (team, participant). Keys are never exported or logged."""

    @abstractmethod
    def get(self, team_id: UUID, participant_id: str) -> bytes | None: ...

    @abstractmethod
    def get_or_create(self, team_id: UUID, participant_id: str) -> bytes: ...

    @abstractmethod
    def delete(self, team_id: UUID, participant_id: str) -> bool:
        """Forget the key; True when there was one."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class SQLiteKeyStore(KeyStore):
    """Keys in their own SQLite file, overwritten on delete (``PRAGMA secure_delete``)."""

    def __init__(self, path: Path | None) -> None:
        """``path`` None keeps the keys in memory (for an in-memory event store)."""
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        target = str(path) if path is not None else ":memory:"
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA secure_delete = ON")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS participant_keys ("
                " team_id TEXT NOT NULL, participant_id TEXT NOT NULL, key BLOB NOT NULL,"
                " PRIMARY KEY (team_id, participant_id))"
            )
        if path is not None:
            os.chmod(path, 0o600)

    def get(self, team_id: UUID, participant_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key FROM participant_keys WHERE team_id = ? AND participant_id = ?",
                (str(team_id), participant_id),
            ).fetchone()
        return bytes(row[0]) if row else None

    def get_or_create(self, team_id: UUID, participant_id: str) -> bytes:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO participant_keys VALUES (?, ?, ?)",
                (str(team_id), participant_id, AESGCM.generate_key(bit_length=256)),
            )
            row = self._db.execute(
                "SELECT key FROM participant_keys WHERE team_id = ? AND participant_id = ?",
                (str(team_id), participant_id),
            ).fetchone()
        return bytes(row[0])

    def delete(self, team_id: UUID, participant_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM participant_keys WHERE team_id = ? AND participant_id = ?",
                (str(team_id), participant_id),
            )
        return cur.rowcount > 0

    def close(self) -> None:
        self._db.close()


class PostgresKeyStore(KeyStore):
    """Keys in a table of their own in the event store's PostgreSQL schema."""

    def __init__(self, connect: Any, schema: str = "public") -> None:
        # One connection, kept open: a key is read for every personal event decoded, and a new
        # connection per read cost milliseconds.
        self._reconnect = connect
        self._conn = connect()
        self._lock = threading.Lock()
        self._table = f'"{schema}".ltflow_participant_keys'
        with self._connect() as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} ("
                " team_id UUID NOT NULL, participant_id TEXT NOT NULL, key BYTEA NOT NULL,"
                " PRIMARY KEY (team_id, participant_id))"
            )

    def get(self, team_id: UUID, participant_id: str) -> bytes | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT key FROM {self._table} WHERE team_id = %s AND participant_id = %s",
                (team_id, participant_id),
            ).fetchone()
        return bytes(row[0]) if row else None

    def get_or_create(self, team_id: UUID, participant_id: str) -> bytes:
        with self._connect() as conn:
            conn.execute(
                f"INSERT INTO {self._table} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (team_id, participant_id, AESGCM.generate_key(bit_length=256)),
            )
            row = conn.execute(
                f"SELECT key FROM {self._table} WHERE team_id = %s AND participant_id = %s",
                (team_id, participant_id),
            ).fetchone()
        return bytes(row[0])

    def delete(self, team_id: UUID, participant_id: str) -> bool:
        with self._connect() as conn:
            cur = conn.execute(
                f"DELETE FROM {self._table} WHERE team_id = %s AND participant_id = %s",
                (team_id, participant_id),
            )
        return bool(cur.rowcount)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        with self._lock:
            if self._conn.closed:
                self._conn = self._reconnect()
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def key_store_for(settings: Settings) -> KeyStore:
    """The key store beside the configured event store."""
    env = settings.eventsourcing_env()
    if settings.event_store == "postgres":
        import psycopg

        def connect() -> Any:
            return psycopg.connect(
                host=env["POSTGRES_HOST"],
                port=int(env["POSTGRES_PORT"]),
                dbname=env["POSTGRES_DBNAME"],
                user=env["POSTGRES_USER"],
                password=env.get("POSTGRES_PASSWORD") or None,
                autocommit=True,
            )

        return PostgresKeyStore(connect, env.get("POSTGRES_SCHEMA") or "public")
    if env.get("SQLITE_DBNAME", "").startswith((":memory:", "file::memory:")):
        return SQLiteKeyStore(None)
    return SQLiteKeyStore(settings.data_dir / "keys.sqlite3")


def _aad(team_id: UUID, participant_id: str, field: str) -> bytes:
    return f"{team_id}/{participant_id}/{field}".encode()


def seal(key: bytes, value: str, aad: bytes) -> str:
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), aad)
    return _PREFIX + base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes | None, value: str, aad: bytes) -> str:
    if not value.startswith(_PREFIX):
        return value
    if key is None:
        return ERASED
    raw = base64.b64decode(value[len(_PREFIX) :])
    try:
        return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], aad).decode()
    except InvalidTag as exc:
        raise ValueError("a sealed personal field failed authentication") from exc


class ShreddingMapper(Mapper[UUID]):
    """The application's mapper, sealing personal fields on the way in and opening them on the
    way out (``[erased]`` once the participant's key is gone)."""

    def __init__(self, *args: Any, keys: KeyStore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys = keys

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        fields = PERSONAL_FIELDS.get(getattr(domain_event, "TYPE", ""))
        if not fields:
            return super().to_stored_event(domain_event)
        team_id, pid = domain_event.originator_id, domain_event.payload["participant_id"]
        key = self.keys.get_or_create(team_id, pid)
        payload = dict(domain_event.payload)
        for field in fields:
            if payload.get(field) is not None:
                payload[field] = seal(key, payload[field], _aad(team_id, pid, field))
        fingerprint = seal(key, domain_event.fingerprint, _aad(team_id, pid, "fingerprint"))
        clone = object.__new__(type(domain_event))
        state = {**vars(domain_event), "payload": payload, "fingerprint": fingerprint}
        object.__setattr__(clone, "__dict__", state)
        return super().to_stored_event(clone)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event: Any = super().to_domain_event(stored_event)
        fields = PERSONAL_FIELDS.get(getattr(event, "TYPE", ""))
        if not fields:
            return event
        team_id, pid = event.originator_id, event.payload["participant_id"]
        key = self.keys.get(team_id, pid)
        payload = dict(event.payload)
        for field in fields:
            if isinstance(payload.get(field), str):
                payload[field] = unseal(key, payload[field], _aad(team_id, pid, field))
        fingerprint = unseal(key, event.fingerprint, _aad(team_id, pid, "fingerprint"))
        object.__setattr__(event, "payload", payload)
        object.__setattr__(event, "fingerprint", fingerprint)
        return event
