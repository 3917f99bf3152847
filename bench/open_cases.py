"""Many open cases on one worker: teams waiting in the reflection period, timers across a restart.

    python -m bench.open_cases                 # 10,000 teams
    python -m bench.open_cases --teams 2000
    python -m bench.open_cases --smoke         # 20 teams, as the test suite runs it

First the baseline, on the same file-backed Temporal CLI dev server and the same worker: the
start rate of a trivial workflow whose one task upserts a search attribute and completes (up to
1,000 of them). Then N teams are written straight through the application up to the end of
session 1 (phase 3, the reflection period open), all at the same moment, with a short policy:
the reminder is due ``lead`` seconds later (by default room enough, from the measured rates, to
start every case and restart) and the overdue mark ``gap`` seconds after that. Then one
``LearningTeamWorkflow`` per team is started; each loads its state from the store (a local
activity) and arms its reflection timer.

A case counts as started once its workflow has indexed ``LtflowPhase = 3`` (state loaded, timer
armed). Then the dev server is stopped and started again on the same database file, with a new
worker, before any timer is due, and every team's reminder and overdue events are counted in the
event store: each exactly once, and how long after its due moment the last one was stored.
Memory is the resident set (VmRSS) of this process (worker, client, event store) and of the dev
server process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.utils import get_topic
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench import common
from bench import teams as bulk
from bench.procs import rss_kib, server_pid
from ltflow.aggregates.learning_team import LearningTeam
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.logs import configure_logging
from ltflow.workflows.learning_team import PHASE, workflow_id_for
from ltflow.workflows.payloads import LearningTeamInput
from ltflow.workflows.plugin import LtflowPlugin

QUEUE = "bench-open-cases"
CONCURRENCY = 64
#: Trivial workflows started for the baseline rate (all of them when fewer teams).
BASELINE_SAMPLE = 1000
REMINDER = get_topic(LearningTeam.ReflectionReminderDue)
OVERDUE = get_topic(LearningTeam.ReflectionOverdue)


@workflow.defn(name="BenchTrivial", sandboxed=False)
class TrivialWorkflow:
    """The floor: one workflow task that says it runs (a search attribute), then completes."""

    @workflow.run
    async def run(self) -> None:
        workflow.upsert_search_attributes([PHASE.value_set(0)])


@dataclass
class Figures:
    teams: int
    lead: float
    gap: float
    baseline: int = 0
    generated_s: float = 0.0
    submit_rate: dict[str, float] = field(default_factory=dict)
    start_rate: dict[str, float] = field(default_factory=dict)
    rss_kib: dict[str, int] = field(default_factory=dict)
    fired_before_restart: int = 0
    restart_s: float = 0.0
    #: Per type: teams with it stored exactly once, teams with it more than once.
    once: dict[str, int] = field(default_factory=dict)
    repeated: dict[str, int] = field(default_factory=dict)
    #: Per type: seconds from its due moment until the last team's was stored.
    all_stored_after_due_s: dict[str, float] = field(default_factory=dict)


# --- the parts ---------------------------------------------------------------------------------


async def _start_all(
    count: int, start_one: Callable[[int], Awaitable[Any]], concurrency: int = CONCURRENCY
) -> float:
    """Submit ``count`` starts, ``concurrency`` at a time; seconds taken."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await start_one(i)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - began


async def _wait_count(client: Client, query: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (await client.count_workflows(query)).count < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} workflows match {query!r}")
        await asyncio.sleep(0.25)


async def start_rate(
    client: Client, count: int, start_one: Callable[[int], Awaitable[Any]], query: str
) -> tuple[float, float]:
    """(submitted per second, started per second: running as ``query`` says)."""
    began = time.perf_counter()
    submitted = await _start_all(count, start_one)
    await _wait_count(client, query, count, timeout=120 + count)
    return count / submitted, count / (time.perf_counter() - began)


def stored_counts(app: LearningTeams, topics: Sequence[str]) -> dict[str, Counter[Any]]:
    """Per topic: how many events of it each team has in the event store."""
    found: dict[str, Counter[Any]] = {t: Counter() for t in topics}
    after = 0
    while page := app.recorder.select_notifications(
        start=after, limit=10_000, topics=topics, inclusive_of_start=False
    ):
        for n in page:
            found[n.topic][n.originator_id] += 1
        after = page[-1].id
    return found


async def wait_stored(
    app: LearningTeams, teams: int, due: dict[str, datetime], timeout: float
) -> dict[str, float]:
    """Seconds from each topic's due moment until every team has it stored."""
    pending, done = set(due), {}
    deadline = time.monotonic() + timeout
    while pending:
        counts = await asyncio.to_thread(stored_counts, app, sorted(pending))
        for topic in list(pending):
            if len(counts[topic]) >= teams:
                done[topic] = (datetime.now(UTC) - due[topic]).total_seconds()
                pending.discard(topic)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"not every team's {', '.join(sorted(pending))} was stored")
        await asyncio.sleep(0.5)
    return done


async def _local_server(database: Path) -> WorkflowEnvironment:
    return await common.file_backed_dev_server(database)


def _client(env: WorkflowEnvironment, settings: Settings) -> Client:
    return Client(env.client.service_client, plugins=[LtflowPlugin(settings)])


def _memory(figures: Figures, label: str, database: Path) -> None:
    figures.rss_kib[f"worker {label}"] = rss_kib("self")
    pid = server_pid(database)
    if pid is not None:
        figures.rss_kib[f"dev server {label}"] = rss_kib(pid)


# --- the run -----------------------------------------------------------------------------------


async def run(
    smoke: bool = False, teams: int | None = None, lead: float | None = None, gap: float = 0
) -> Figures:
    """Baseline, then the teams written and their workflows started, a restart, the timers."""
    n = teams or (20 if smoke else 10_000)
    gap = gap or (4.0 if smoke else 60.0)
    figures = Figures(n, lead or 0.0, gap)
    with tempfile.TemporaryDirectory(prefix="ltflow-bench-") as tmp:
        data = Path(tmp)
        database = data / "temporal.sqlite3"
        settings = Settings(data_dir=data, task_queue=QUEUE)
        app = LearningTeams.from_settings(settings)
        try:
            due = await _first_life(figures, settings, database, app, smoke, lead)
            await _second_life(figures, settings, database, app, due)
        finally:
            app.close()
    return figures


def _write_teams(
    app: LearningTeams, figures: Figures, opened: datetime
) -> tuple[list[uuid.UUID], dict[str, datetime]]:
    """The teams, each at the end of session 1, all at ``opened``; their timers' due moments."""
    lead, gap = figures.lead, figures.gap
    policy = {
        "min_reflection": "PT1S",
        "max_reflection": f"PT{lead + gap:g}S",
        "reflection_reminder_before": f"PT{gap:g}S",
    }
    began = time.perf_counter()
    written = bulk.build(
        app,
        figures.teams,
        prefix=f"open-{uuid.uuid4().hex[:6]}",
        script=bulk.to_reflection,
        start=opened,
        policy=policy,
        spacing=timedelta(0),
    )
    figures.generated_s = time.perf_counter() - began
    due = {
        REMINDER: opened + timedelta(seconds=lead),
        OVERDUE: opened + timedelta(seconds=lead + gap),
    }
    return [t.id for t in written], due


def _lead(figures: Figures, app: LearningTeams, smoke: bool) -> float:
    """Seconds from writing to the reminders' due moment: room to write the teams, start
    their workflows (assumed at half the trivial rate at worst) and restart, with a margin."""
    pilot = min(figures.teams, 100)
    began = time.perf_counter()
    bulk.build(app, pilot, prefix=f"pilot-{uuid.uuid4().hex[:6]}", script=bulk.to_reflection)
    per_team = (time.perf_counter() - began) / pilot
    starting = figures.teams / (0.5 * figures.start_rate["trivial"])
    margin = 5.0 if smoke else 30.0  # the restart itself takes a second or two
    return round(max(12.0 if smoke else 60.0, 1.5 * (figures.teams * per_team + starting) + margin))


async def _first_life(
    figures: Figures,
    settings: Settings,
    database: Path,
    app: LearningTeams,
    smoke: bool,
    lead: float | None,
) -> dict[str, datetime]:
    """Baseline and cases started; memory measured; everything stopped before a timer is due.

    Returns the due moments of the reminders and overdue marks."""
    env = await _local_server(database)
    try:
        client = _client(env, settings)
        async with Worker(client, task_queue=QUEUE, workflows=[TrivialWorkflow]):
            _memory(figures, "idle", database)
            run_id = uuid.uuid4().hex[:8]

            async def trivial(i: int) -> Any:
                return await client.start_workflow(
                    TrivialWorkflow.run, id=f"trivial-{run_id}-{i}", task_queue=QUEUE
                )

            query = "WorkflowType = 'BenchTrivial' AND ExecutionStatus = 'Completed'"
            figures.baseline = min(figures.teams, BASELINE_SAMPLE)
            rates = await start_rate(client, figures.baseline, trivial, query)
            figures.submit_rate["trivial"], figures.start_rate["trivial"] = rates

            figures.lead = lead or _lead(figures, app, smoke)
            team_ids, due = _write_teams(app, figures, datetime.now(UTC))

            async def case(i: int) -> Any:
                return await client.start_workflow(
                    "LearningTeam",
                    LearningTeamInput(team_id=team_ids[i]),
                    id=workflow_id_for(team_ids[i]),
                    task_queue=QUEUE,
                )

            query = "WorkflowType = 'LearningTeam' AND LtflowPhase = 3"
            rates = await start_rate(client, figures.teams, case, query)
            figures.submit_rate["ltflow"], figures.start_rate["ltflow"] = rates
            _memory(figures, f"{figures.teams} cases waiting", database)
    finally:
        began = time.perf_counter()
        await env.shutdown()
        figures.restart_s = time.perf_counter() - began
    counts = stored_counts(app, [REMINDER, OVERDUE])
    figures.fired_before_restart = sum(len(c) for c in counts.values())
    return due


async def _second_life(
    figures: Figures, settings: Settings, database: Path, app: LearningTeams, due: dict[str, Any]
) -> None:
    """The same database file, a new server and worker: every timer fires exactly once."""
    began = time.perf_counter()
    env = await _local_server(database)
    try:
        client = _client(env, settings)
        async with Worker(client, task_queue=QUEUE):
            figures.restart_s += time.perf_counter() - began
            timeout = figures.lead + figures.gap + 120 + figures.teams / 10
            figures.all_stored_after_due_s = await wait_stored(app, figures.teams, due, timeout)
            _memory(figures, "after the timers fired", database)
            await asyncio.sleep(1.0)  # a repeat, if there were one, would show now
    finally:
        await env.shutdown()
    for topic, per_team in stored_counts(app, [REMINDER, OVERDUE]).items():
        figures.once[topic] = sum(1 for c in per_team.values() if c == 1)
        figures.repeated[topic] = sum(1 for c in per_team.values() if c > 1)


# --- the report --------------------------------------------------------------------------------


def report(f: Figures) -> list[str]:
    trivial, ltflow = f.start_rate["trivial"], f.start_rate["ltflow"]
    lines = [
        f"open cases: {f.teams} teams in the reflection period on one worker "
        f"(written in {f.generated_s:.1f}s; reminder due after {f.lead:g}s, overdue {f.gap:g}s "
        "later)",
        f"  start rate (workflows/s)  trivial {trivial:7.1f}  ltflow {ltflow:7.1f}  "
        f"ratio {ltflow / trivial:.2f}  (trivial: {f.baseline} workflows)",
        f"  submitted (workflows/s)   trivial {f.submit_rate['trivial']:7.1f}  "
        f"ltflow {f.submit_rate['ltflow']:7.1f}",
    ]
    for label, kib in f.rss_kib.items():
        lines.append(f"  RSS {label:<40} {kib / 1024:8.1f} MiB")
    lines.append(
        f"  restart: server stopped and started on its database file, new worker, "
        f"{f.restart_s:.1f}s; timers fired before it: {f.fired_before_restart}"
    )
    for topic, label in ((REMINDER, "reminder"), (OVERDUE, "overdue")):
        lines.append(
            f"  {label:<8} stored exactly once for {f.once.get(topic, 0)}/{f.teams} teams, "
            f"repeated for {f.repeated.get(topic, 0)}; the last "
            f"{f.all_stored_after_due_s.get(topic, float('nan')):.1f}s after due"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="20 teams")
    parser.add_argument("--teams", type=int, help="open cases (default 10,000)")
    parser.add_argument("--lead", type=float, help="seconds until the reminders are due")
    parser.add_argument("--gap", type=float, default=0, help="seconds from reminder to overdue")
    args = parser.parse_args()
    configure_logging("console", level=logging.WARNING)
    for line in report(asyncio.run(run(args.smoke, args.teams, args.lead, args.gap))):
        print(line)


if __name__ == "__main__":
    main()
