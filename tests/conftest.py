"""Shared fixtures: the application on every event-store backend, and a controllable clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams

PG = {
    "POSTGRES_HOST": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
    "POSTGRES_PORT": os.environ.get("POSTGRES_PORT", "5432"),
    "POSTGRES_DBNAME": os.environ.get("POSTGRES_DBNAME", "test"),
    "POSTGRES_USER": os.environ.get("POSTGRES_USER", "postgres"),
    "POSTGRES_PASSWORD": os.environ.get("POSTGRES_PASSWORD", ""),
}


def _pg_connect() -> object:
    import psycopg

    return psycopg.connect(
        host=PG["POSTGRES_HOST"],
        port=int(PG["POSTGRES_PORT"]),
        dbname=PG["POSTGRES_DBNAME"],
        user=PG["POSTGRES_USER"],
        password=PG["POSTGRES_PASSWORD"] or None,
        autocommit=True,
        connect_timeout=3,
    )


def postgres_available() -> str | None:
    """None when PostgreSQL answers; otherwise the reason it does not."""
    try:
        conn = _pg_connect()
    except Exception as exc:  # any failure to connect means: not here
        return f"PostgreSQL not reachable at {PG['POSTGRES_HOST']}:{PG['POSTGRES_PORT']}: {exc}"
    conn.close()  # type: ignore[attr-defined]
    return None


@pytest.fixture(scope="session")
def postgres_schema_factory() -> Iterator[object]:
    """Make throw-away schemas; in CI a missing PostgreSQL fails the run instead of skipping."""
    reason = postgres_available()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    created: list[str] = []

    def make() -> str:
        name = f"ltflow_test_{uuid.uuid4().hex[:12]}"
        with _pg_connect() as conn:  # type: ignore[attr-defined]
            conn.execute(f"CREATE SCHEMA {name}")
        created.append(name)
        return name

    yield make
    with _pg_connect() as conn:  # type: ignore[attr-defined]
        for name in created:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, event_store="sqlite")


def postgres_settings(tmp_path: Path, schema: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        event_store="postgres",
        event_store_env={**PG, "POSTGRES_SCHEMA": schema},
    )


#: Parametrize a fixture over both backends with this (``request.param`` is the backend).
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def backend_settings(request: pytest.FixtureRequest, data_dir: Path) -> Settings:
    """Settings for the backend a fixture parametrized over :data:`BACKENDS` runs on: a SQLite
    file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return sqlite_settings(data_dir)
    make = request.getfixturevalue("postgres_schema_factory")
    return postgres_settings(data_dir, make())


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each event-store backend: a SQLite file, and a fresh PostgreSQL schema."""
    return backend_settings(request, tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[LearningTeams]:
    application = LearningTeams.from_settings(settings)
    yield application
    application.close()


class Clock:
    """A clock the test moves by hand; business time is always an argument in ltflow."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        from datetime import timedelta

        self.now = self.now + timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
