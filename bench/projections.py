"""Projection catch-up rate, against a raw batched insert measured in the same run.

    python -m bench.projections                       # full run, SQLite and PostgreSQL
    python -m bench.projections --backend sqlite      # one backend
    python -m bench.projections --smoke               # tiny sizes, as the test suite runs it

A log of whole team lives (33 stored events each) is written in two shapes (``interleaved``:
every team takes step k before any takes step k+1; ``sequential``: team after team), then the
projection runner catches up from zero into empty views, every read model at once.

The floor on SQLite is a raw batched insert of the very same stored events (same bytes) into a
table shaped like the event store's: WAL, ``synchronous=NORMAL`` (the views' own setting), 100
rows per transaction, one ``executemany`` each. Target: catch-up >= 0.5 x that rate. On
PostgreSQL the target is absolute, 10,000 events/s; the same raw insert is reported beside it.
Every figure is the median of a few alternating rounds, so drift on a shared machine hits both
sides alike. After each catch-up the views are checked against a fresh fold of the teams' events.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench import teams as bulk
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.logs import configure_logging
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore
from ltflow.projections.team_detail import TABLE as DETAIL_TABLE
from ltflow.projections.team_detail import dump, fold_team_detail, load, open_view

Backend = Literal["sqlite", "postgres"]
RAW_ROWS_PER_TX = 100
SQLITE_TARGET_RATIO = 0.5
POSTGRES_TARGET = 10_000.0
PG_DEFAULTS = {
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_PORT": "5432",
    "POSTGRES_DBNAME": "test",
    "POSTGRES_USER": "postgres",
    "POSTGRES_PASSWORD": "",
}


@dataclass
class Measured:
    """One backend and one log shape: catch-up and raw insert rates (events or rows per second)."""

    backend: Backend
    pattern: bulk.Pattern
    teams: int
    events: int
    catch_up: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    checked_teams: int = 0

    @property
    def catch_up_rate(self) -> float:
        return statistics.median(self.catch_up)

    @property
    def raw_rate(self) -> float:
        return statistics.median(self.raw)


# --- the two sides ---------------------------------------------------------------------------


def catch_up_once(app: LearningTeams, store: ViewStore, batch_size: int | None = None) -> float:
    """Replay the whole log into empty views; events per second."""
    runner = (
        ProjectionRunner(app, store)
        if batch_size is None
        else ProjectionRunner(app, store, batch_size=batch_size)
    )
    runner.prepare()
    with store.write() as tx:  # empty views, as a first run or a rebuild finds them
        for projection in runner.projections:
            tx.execute(f"DELETE FROM {store.table(projection.table)}")
        tx.execute(f"UPDATE {store.table('tracking')} SET notification_id = 0")
    start = time.perf_counter()
    applied = runner.catch_up()
    elapsed = time.perf_counter() - start
    if applied != (app.recorder.max_notification_id() or 0):
        raise AssertionError(f"caught up {applied} events, the log holds more")
    return applied / elapsed


def raw_rows(app: LearningTeams) -> list[tuple[str, int, str, bytes]]:
    """The stored events as they lie in the event store (same sizes, same bytes)."""
    rows, after = [], 0
    while page := app.recorder.select_notifications(
        start=after, limit=10_000, inclusive_of_start=False
    ):
        rows += [(str(n.originator_id), n.originator_version, n.topic, n.state) for n in page]
        after = page[-1].id
    return rows


def raw_sqlite_once(rows: Sequence[tuple[str, int, str, bytes]], path: Path) -> float:
    """Rows per second into a fresh table shaped like the event store's, 100 per transaction."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        start = time.perf_counter()
        for k in range(0, len(rows), RAW_ROWS_PER_TX):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO stored_events VALUES (?, ?, ?, ?)", rows[k : k + RAW_ROWS_PER_TX]
            )
            conn.execute("COMMIT")
        return len(rows) / (time.perf_counter() - start)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def raw_postgres_once(rows: Sequence[tuple[str, int, str, bytes]], schema: str) -> float:
    """The same on PostgreSQL: 100 rows per transaction, ``executemany`` (pipelined)."""
    import psycopg

    with _pg_connect() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {schema}.raw_events")
        conn.execute(
            f"CREATE TABLE {schema}.raw_events (originator_id uuid, originator_version bigint, "
            "topic text, state bytea, PRIMARY KEY (originator_id, originator_version))"
        )
    with psycopg.connect(_pg_dsn()) as conn, conn.cursor() as cursor:
        sql = f"INSERT INTO {schema}.raw_events VALUES (%s, %s, %s, %s)"
        start = time.perf_counter()
        for k in range(0, len(rows), RAW_ROWS_PER_TX):
            with conn.transaction():
                cursor.executemany(sql, rows[k : k + RAW_ROWS_PER_TX])
        return len(rows) / (time.perf_counter() - start)


def check_views(app: LearningTeams, store: ViewStore, team_ids: Sequence[uuid.UUID]) -> int:
    """Each team's stored view equals a fresh fold of its events (decoded by the library)."""
    table = store.table(DETAIL_TABLE)
    with store.read() as tx:
        for team_id in team_ids:
            row = tx.fetchone(f"SELECT doc FROM {table} WHERE team_id = ?", (str(team_id),))
            if row is None:
                raise AssertionError(f"team {team_id} has no view")
            fresh = fold_team_detail(app.events.get(team_id))  # type: ignore[arg-type]
            # The view keeps personal fields encrypted: compared as readers see it.
            if dump(open_view(load(row[0]), app.keys)) != dump(fresh):
                raise AssertionError(f"team {team_id}: the view differs from a fresh fold")
    return len(team_ids)


# --- set-up ----------------------------------------------------------------------------------


def _pg_env() -> dict[str, str]:
    return {k: os.environ.get(k, v) for k, v in PG_DEFAULTS.items()}


def _pg_dsn() -> str:
    env = _pg_env()
    dsn = (
        f"host={env['POSTGRES_HOST']} port={env['POSTGRES_PORT']} "
        f"dbname={env['POSTGRES_DBNAME']} user={env['POSTGRES_USER']}"
    )
    return dsn + (f" password={env['POSTGRES_PASSWORD']}" if env["POSTGRES_PASSWORD"] else "")


def _pg_connect() -> Any:
    import psycopg

    return psycopg.connect(_pg_dsn(), autocommit=True)


@contextmanager
def backend_settings(backend: Backend, data: Path) -> Iterator[Settings]:
    """Settings for a fresh event store (and views) on ``backend``, removed afterwards."""
    if backend == "sqlite":
        yield Settings(data_dir=data, event_store="sqlite")
        return
    schema = f"ltflow_bench_{uuid.uuid4().hex[:10]}"
    with _pg_connect() as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        env = {**_pg_env(), "POSTGRES_SCHEMA": schema}
        yield Settings(data_dir=data, event_store="postgres", event_store_env=env)
    finally:
        with _pg_connect() as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def measure(
    backend: Backend,
    pattern: bulk.Pattern,
    teams: int,
    rounds: int,
    data: Path,
    check: int,
    batch_size: int | None = None,
) -> Measured:
    """Write the log, then alternate raw insert and catch-up ``rounds`` times."""
    with backend_settings(backend, data) as settings:
        app = LearningTeams.from_settings(settings)
        store = ViewStore.from_settings(settings)
        try:
            written = bulk.build(app, teams, pattern=pattern)
            events = app.recorder.max_notification_id() or 0
            result = Measured(backend, pattern, teams, events)
            rows = raw_rows(app)
            schema = settings.event_store_env.get("POSTGRES_SCHEMA", "")
            for _ in range(rounds):
                if backend == "sqlite":
                    result.raw.append(raw_sqlite_once(rows, data / "raw.sqlite3"))
                else:
                    result.raw.append(raw_postgres_once(rows, schema))
                result.catch_up.append(catch_up_once(app, store, batch_size))
            step = max(1, len(written) // check)
            result.checked_teams = check_views(app, store, [t.id for t in written[::step]])
            return result
        finally:
            store.close()
            app.close()


def run(
    smoke: bool = False,
    backends: Sequence[Backend] = ("sqlite", "postgres"),
    teams: int | None = None,
    rounds: int | None = None,
    batch_size: int | None = None,
) -> list[Measured]:
    """Every backend and log shape; the figures, medians of ``rounds`` alternating rounds."""
    teams = teams or (20 if smoke else 2000)
    rounds = rounds or (1 if smoke else 3)
    results = []
    for backend in backends:
        for pattern in bulk.PATTERNS:
            with tempfile.TemporaryDirectory(prefix="ltflow-bench-") as tmp:
                check = teams if smoke else 50
                results.append(
                    measure(backend, pattern, teams, rounds, Path(tmp), check, batch_size)
                )
    return results


def report(results: Sequence[Measured]) -> list[str]:
    lines = []
    for r in results:
        rate, raw = r.catch_up_rate, r.raw_rate
        head = f"projection catch-up, {r.backend}, {r.pattern}, {r.events} events ({r.teams} teams)"
        lines.append(head)
        lines.append(f"  raw batched insert ({RAW_ROWS_PER_TX}/tx) {raw:9,.0f} rows/s")
        if r.backend == "sqlite":
            lines.append(
                f"  catch-up {rate:9,.0f} events/s  ratio {rate / raw:.2f} "
                f"(target >= {SQLITE_TARGET_RATIO})"
            )
        else:
            lines.append(
                f"  catch-up {rate:9,.0f} events/s  (target >= {POSTGRES_TARGET:,.0f}/s)  "
                f"ratio to raw {rate / raw:.2f}"
            )
        lines.append(f"  views equal a fresh fold for {r.checked_teams} teams checked")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--teams", type=int, help="teams in the log (33 events each)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per figure")
    parser.add_argument("--batch-size", type=int, help="the runner's batch size")
    args = parser.parse_args()
    configure_logging("console", level=logging.WARNING)
    backends: tuple[Backend, ...] = (
        ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    )
    results = run(args.smoke, backends, args.teams, args.rounds, args.batch_size)
    for line in report(results):
        print(line)


if __name__ == "__main__":
    main()
