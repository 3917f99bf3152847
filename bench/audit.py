"""Audit speed: verification, anchoring, point-in-time replay and the offline export check.

    python -m bench.audit                       # full run on SQLite (add --backend postgres)
    python -m bench.audit --smoke               # tiny sizes, as the test suite runs it

The store holds one long case (1,000 stored events: a team in its reflection period with many
notes) and a population of whole team lives (33 stored events each, written interleaved, as a
live installation's log looks), about 50,000 events in all. Each figure is the median of a few
rounds, with its floor measured in the same run on the same rows:

* **verify**: a team (the 1,000-event case) and the whole store, against the floor "select the
  same rows and SHA-256 each state once" (what any check of the bytes must at least do).
  Target (issue #6 and its successor): the whole store at >= 200,000 events/s.
* **anchor**: the first anchoring of the whole store, against the same floor.
* **replay**: the 1,000-event case as it stood at its last version (decode and fold), against
  decoding alone. Target: <= 30 ms.
* **offline check** of the case's export, against parsing its JSON lines alone.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from bench import teams as bulk
from ltflow.aggregates import vocabulary as c
from ltflow.audit import Accessor, Audit
from ltflow.audit.offline import check_export
from ltflow.audit.point_in_time import as_of, team_events
from ltflow.audit.verify import verify_store, verify_team
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams, team_id_for
from ltflow.logs import configure_logging

Backend = Literal["sqlite", "postgres"]
STORE_TARGET = 200_000.0
REPLAY_TARGET_MS = 30.0
PG = {
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_PORT": "5432",
    "POSTGRES_DBNAME": "test",
    "POSTGRES_USER": "postgres",
    "POSTGRES_PASSWORD": "",
}
BENCH = Accessor(actor="bench", channel="cli")


@dataclass(frozen=True)
class Sizes:
    case_events: int
    teams: int
    rounds: int


FULL = Sizes(case_events=1000, teams=1480, rounds=5)
SMOKE = Sizes(case_events=60, teams=8, rounds=1)


@dataclass
class Line:
    """One measured figure against its floor: seconds for each side, and the work done."""

    name: str
    work: int
    unit: str
    seconds: float
    floor_seconds: float
    floor: str
    target: str = ""

    def render(self) -> str:
        rate = self.work / self.seconds if self.seconds else float("inf")
        floor_rate = self.work / self.floor_seconds if self.floor_seconds else float("inf")
        return (
            f"{self.name:<24} {rate:>12,.0f} {self.unit}/s  {self.seconds * 1000:>9.1f} ms   "
            f"floor ({self.floor}) {floor_rate:>12,.0f}/s   "
            f"ratio {self.seconds / self.floor_seconds:>5.2f}x  {self.target}"
        )


def long_case(ref: str, events: int) -> bulk.Script:
    """A team in its reflection period with notes until it has ``events`` stored events."""
    script = bulk.to_reflection(ref)
    stored_so_far = 1 + 1 + len(script) + 3  # convened, phase 1; scope/session 1 consequences
    for n in range(max(0, events - stored_so_far)):
        note = c.parse_sender_event(
            {
                "type": "reflection.noted",
                "event_id": f"{ref}-note-{n}",
                "participant_id": bulk.PEOPLE[n % len(bulk.PEOPLE)],
                "note": f"Thought {n}: how often we work around the paper list. " * 2,
            }
        )
        script.append((timedelta(hours=1, seconds=n), note))
    return script


def median_time(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def floor_hash(rows: Sequence[bytes]) -> None:
    sha = hashlib.sha256
    for state in rows:
        sha(state).digest()


def run(backend: Backend, sizes: Sizes, data_dir: Path) -> list[Line]:
    with _settings(backend, data_dir) as settings:
        app = LearningTeams.from_settings(settings)
        case_ref = "bench-long-case"
        bulk.build(
            app, 1, prefix=case_ref, pattern="sequential",
            script=lambda ref: long_case(ref, sizes.case_events),
        )  # fmt: skip
        bulk.build(app, sizes.teams, prefix="bench-team")
        audit = Audit.from_settings(settings, app)
        try:
            return _measure(audit, team_id_for(f"{case_ref}-0"), sizes)
        finally:
            audit.close()
            app.close()


def _measure(audit: Audit, case: uuid.UUID, sizes: Sizes) -> list[Line]:
    source, store, rounds = audit.source, audit.store, sizes.rounds
    tid = str(case)
    store_total = _count(audit)
    floor_store = median_time(lambda: floor_hash(_all_states(audit)), rounds)
    first = median_time(audit.anchor, 1)  # the first anchoring of the whole store
    case_rows = len(source.rows([tid]))
    floor_case = median_time(lambda: floor_hash([r[3] for r in source.rows([tid])]), rounds)
    macs = audit.macs  # what Audit.verify checks too: the writer's MAC of every row
    verify_case = median_time(lambda: _ok(verify_team(source, store, tid, macs=macs)), rounds)
    verify_all = median_time(lambda: _ok(verify_store(source, store, macs=macs)), rounds)
    events = team_events(audit.app, case)
    decode = median_time(lambda: team_events(audit.app, case), rounds)
    replay = median_time(lambda: as_of(team_events(audit.app, case), version=len(events)), rounds)
    out = io.StringIO()
    audit.export(case, BENCH, out)
    lines = out.getvalue().splitlines(keepends=True)
    parse = median_time(lambda: [json.loads(line) for line in lines], rounds)
    offline = median_time(lambda: _ok(check_export(lines)), rounds)
    store_rate = store_total / verify_all
    return [
        Line("anchor (whole store)", store_total, "events", first, floor_store, "select+sha256"),
        Line("verify (one case)", case_rows, "events", verify_case, floor_case, "select+sha256"),
        Line("verify (whole store)", store_total, "events", verify_all, floor_store,
             "select+sha256", _target(store_rate >= STORE_TARGET, f">= {STORE_TARGET:,.0f}/s")),
        Line("replay (case, last v.)", case_rows, "events", replay, decode, "decode only",
             _target(replay * 1000 <= REPLAY_TARGET_MS, f"<= {REPLAY_TARGET_MS:.0f} ms")),
        Line("offline check (export)", case_rows, "events", offline, parse, "json parse"),
    ]  # fmt: skip


def _all_states(audit: Audit) -> list[bytes]:
    """Every stored state, read front to back in pages, the way the sweep reads them."""
    states: list[bytes] = []
    after = 0
    while page := audit.source.page(after, 20_000):
        states.extend(row[4] for row in page)
        after = page[-1][0]
    return states


def _count(audit: Audit) -> int:
    return len(_all_states(audit))


def _ok(report: object) -> None:
    if not getattr(report, "ok", False):
        raise AssertionError(f"verification failed in the benchmark: {report}")


def _target(met: bool, text: str) -> str:
    return f"target {text}: {'met' if met else 'NOT MET'}"


@contextmanager
def _settings(backend: Backend, data_dir: Path) -> Iterator[Settings]:
    if backend == "sqlite":
        yield Settings(data_dir=data_dir)
        return
    import psycopg

    schema = f"ltflow_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(host=PG["POSTGRES_HOST"], dbname=PG["POSTGRES_DBNAME"],
                         user=PG["POSTGRES_USER"], autocommit=True) as conn:  # fmt: skip
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        env = {**PG, "POSTGRES_SCHEMA": schema}
        yield Settings(data_dir=data_dir, event_store="postgres", event_store_env=env)
    finally:
        with psycopg.connect(host=PG["POSTGRES_HOST"], dbname=PG["POSTGRES_DBNAME"],
                             user=PG["POSTGRES_USER"], autocommit=True) as conn:  # fmt: skip
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main(argv: Sequence[str] | None = None) -> list[Line]:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (the test suite)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="ltflow-bench-audit-") as tmp:
        lines = run(args.backend, sizes, Path(tmp))
    print(f"bench.audit on {args.backend}, {started:%Y-%m-%d %H:%M} UTC "
          f"(median of {sizes.rounds} rounds; ratio = time / floor time)")  # fmt: skip
    for line in lines:
        print(line.render())
    return lines


if __name__ == "__main__":
    configure_logging("console", level=logging.WARNING)
    main()
