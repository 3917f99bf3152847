"""Fixtures for the storage layer: a database of ltflow's own on each backend, from the shared
``settings`` fixture (a SQLite file in the test's directory, a fresh PostgreSQL schema)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ltflow.config import Settings
from ltflow.store.postgres import PostgresDatabase
from ltflow.store.sql import Database
from ltflow.store.sqlite import WAL, SQLiteDatabase


def database_for(settings: Settings) -> SQLiteDatabase | PostgresDatabase:
    """A database beside the configured event store, as the view and audit stores make theirs."""
    if settings.event_store == "postgres":
        return PostgresDatabase.from_env(settings.eventsourcing_env())
    return SQLiteDatabase(settings.data_dir / "store.sqlite3", pragmas=[WAL], shared=False)


def table(db: Database, name: str) -> str:
    """``name`` qualified for ``db``."""
    return db.qualified(name) if isinstance(db, PostgresDatabase) else name


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = database_for(settings)
    yield database
    database.close()
