"""Cross-checks ``verify`` reports beside the chain: the read model and the Temporal history.

* **Read model**: the stored team-detail view must equal a fresh fold of the team's events up to
  the version the view has reached (a view that is merely behind is a note, not a failure).
* **Workflow replay**: the team's Temporal workflow history must replay deterministically on
  today's workflow code. This needs a Temporal client, so it is optional (``verify --temporal``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from ltflow.audit.findings import Finding
from ltflow.config import Settings
from ltflow.projections.store import VIEWS_FILE, ViewStore
from ltflow.projections.team_detail import TeamDetailView, fold_team_detail, get_team_detail


def check_read_model(settings: Settings, team_id: UUID, events: Sequence[Any]) -> list[Finding]:
    """Compare the stored team detail of ``team_id`` with a fresh fold of ``events``."""
    stored = _stored_detail(settings, team_id)
    tid = str(team_id)
    if isinstance(stored, str):
        return [_note("skipped", tid, f"The read-model cross-check did not run: {stored}.")]
    latest = events[-1].originator_version if events else 0
    if stored.version > latest:
        message = f"The team-detail view is at version {stored.version}, the store at {latest}."
        return [
            Finding(kind="read_model_differs", team_id=tid, version=stored.version, message=message)
        ]
    fresh = fold_team_detail([e for e in events if e.originator_version <= stored.version])
    found: list[Finding] = []
    if stored.version < latest:
        message = f"The team-detail view is at version {stored.version}, the store at {latest}."
        found.append(_note("read_model_behind", tid, message))
    differing = _differences(stored, fresh)
    if differing:
        found.append(
            Finding(
                kind="read_model_differs",
                team_id=tid,
                version=stored.version,
                message="The team-detail view differs from a fresh fold in: "
                f"{', '.join(differing)}.",
            )
        )
    return found


def _stored_detail(settings: Settings, team_id: UUID) -> TeamDetailView | str:
    """The stored view, or why it cannot be read."""
    if settings.event_store == "sqlite" and not (settings.data_dir / VIEWS_FILE).exists():
        return "there are no read models here (projections never ran)"
    try:
        with ViewStore.from_settings(settings) as views:
            stored = get_team_detail(views, team_id)
    except _missing_table() as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        return f"the read models cannot be read ({type(exc).__name__}: {first_line})"
    if stored is None:
        return "the read models hold no team-detail view of this team (are projections running?)"
    return stored


def _missing_table() -> tuple[type[Exception], ...]:
    """What reading a view table that was never created raises, on each backend."""
    from eventsourcing.persistence import ProgrammingError

    errors: list[type[Exception]] = [sqlite3.OperationalError, ProgrammingError]
    try:
        from psycopg.errors import UndefinedTable
    except ImportError:  # pragma: no cover - psycopg comes with eventsourcing[postgres]
        pass
    else:
        errors.append(UndefinedTable)
    return tuple(errors)


def _differences(stored: TeamDetailView, fresh: TeamDetailView) -> list[str]:
    a, b = stored.model_dump(mode="json"), fresh.model_dump(mode="json")
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


async def check_replay(client: Any, team_id: UUID, settings: Settings) -> list[Finding]:
    """Replay the team's workflow history (latest run) on today's workflow code."""
    from temporalio.service import RPCError, RPCStatusCode
    from temporalio.worker import Replayer

    from ltflow.workflows.client import LtflowClient
    from ltflow.workflows.naming import workflow_ids_for
    from ltflow.workflows.plugin import LtflowPlugin

    tid = str(team_id)
    named = LtflowClient(client, settings.task_queue, workflow_ids=workflow_ids_for(settings))
    handle = client.get_workflow_handle(await named.workflow_id(team_id))
    try:
        history = await handle.fetch_history()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return [_note("skipped", tid, "Temporal knows no workflow for this team (yet).")]
    replayer = Replayer(workflows=[], plugins=[LtflowPlugin(settings)])
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is None:
        return []
    return [
        Finding(
            kind="replay_failed",
            team_id=tid,
            message=f"Workflow {history.workflow_id} does not replay: {result.replay_failure}.",
        )
    ]


def _note(kind: str, team_id: str, message: str) -> Finding:
    return Finding(kind=kind, team_id=team_id, message=message, failure=False)
