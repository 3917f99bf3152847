"""Activities: the only road from the workflow to the event store and the outside world.

Each one is idempotent, so Temporal may run it again after a crash or a lost answer: the
application de-duplicates by ``event_id`` (a retry after a commit returns the first answer and
stores nothing). Domain errors become non-retryable ``ApplicationError``s carrying the contract's
code (:mod:`ltflow.workflows.failures`), so they reach the caller as a clear answer instead of a
retry loop. The workflow calls these methods by reference; this module imports no event store,
so the workflow that imports it never does either.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog
from temporalio import activity

from ltflow.aggregates.state import TeamState, TeamSummary, root_event_id
from ltflow.workflows.failures import as_application_errors
from ltflow.workflows.payloads import (
    Notification,
    RecordConveneInput,
    RecordConveneResult,
    RecordEventInput,
    RecordEventResult,
    StoreEventResult,
    TeamSummaryInput,
    UndeliveredNotification,
)

if TYPE_CHECKING:
    from ltflow.eventstore.application import LearningTeams
    from ltflow.workflows.notifications import Notifier
    from ltflow.workflows.undelivered import UndeliveredLog

log = structlog.get_logger("ltflow.activities")


class LtflowActivities:
    """The activities, bound to one application (event store) and one notification port."""

    def __init__(
        self,
        app_factory: Callable[[], LearningTeams],
        notifier: Notifier,
        *,
        policy_floor: timedelta | None = None,
        undelivered_factory: Callable[[], UndeliveredLog] | None = None,
    ) -> None:
        self._app_factory = app_factory
        self._app: LearningTeams | None = None
        self.notifier = notifier
        self._undelivered_factory = undelivered_factory
        self._undelivered: UndeliveredLog | None = None
        #: The deployment's floor for new teams' policies (the worker's own setting: this is
        #: where every door's convene meets the store, whoever sent it).
        self.policy_floor = policy_floor

    @property
    def app(self) -> LearningTeams:
        # Built on first use, so a Replayer or a worker that never runs activities opens no store.
        if self._app is None:
            self._app = self._app_factory()
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None
        if self._undelivered is not None:
            self._undelivered.close()
            self._undelivered = None

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.record_convene,
            self.store_event,
            self.record_event,
            self.load_team_state,
            self.read_team_summary,
            self.send_notification,
            self.record_undelivered,
        ]

    @activity.defn(name="ltflow.record_convene")
    def record_convene(self, inp: RecordConveneInput) -> RecordConveneResult:
        """Store ``team.convened`` (idempotent by case_ref) and return the team's state."""
        with (
            as_application_errors(),
            structlog.contextvars.bound_contextvars(case_ref=inp.convene.case_ref),
        ):
            result = self.app.convene(
                inp.convene,
                actor=inp.actor,
                received_at=inp.received_at,
                policy_floor=self.policy_floor,
            )
            state = self.app.state(result.summary.team_id)
            log.info("team convened", team_id=str(state.team_id), duplicate=result.duplicate)
            return RecordConveneResult(state=state, duplicate=result.duplicate)

    @activity.defn(name="ltflow.store_event")
    def store_event(self, inp: RecordEventInput) -> StoreEventResult:
        """Store one phase event at the version the workflow expects and answer with the state
        it leaves, for the workflow to adopt; a repeat stores nothing."""
        ctx = {"team_id": str(inp.team_id), "event_id": inp.event.event_id}
        with as_application_errors(), structlog.contextvars.bound_contextvars(**ctx):
            result = self.app.record(
                inp.team_id,
                inp.event,
                actor=inp.actor,
                received_at=inp.received_at,
                expected_version=inp.expected_version,
            )
            assert result.state is not None
            log.info(
                "event recorded",
                type=inp.event.type,
                version=result.state.version,
                duplicate=result.duplicate,
            )
            return StoreEventResult(
                state=result.state,
                processed={root_event_id(inp.event.event_id): result.seen} if result.seen else {},
                duplicate=result.duplicate,
            )

    @activity.defn(name="ltflow.record_event")
    def record_event(self, inp: RecordEventInput) -> RecordEventResult:
        """The store activity of workflow runs begun before ``adopt-state`` (they fold the
        event themselves); a repeat stores nothing."""
        with as_application_errors():
            result = self.app.record(
                inp.team_id,
                inp.event,
                actor=inp.actor,
                received_at=inp.received_at,
                expected_version=inp.expected_version,
            )
            return RecordEventResult(summary=result.summary, duplicate=result.duplicate)

    @activity.defn(name="ltflow.load_team_state")
    def load_team_state(self, team_id: UUID) -> TeamState | None:
        """The team's state from the event store, or None when it has never been opened."""
        with as_application_errors():
            if not self.app.exists(team_id):
                return None
            return self.app.state(team_id)

    @activity.defn(name="ltflow.read_team_summary")
    def read_team_summary(self, inp: TeamSummaryInput) -> TeamSummary:
        """The summary as it stood at a version: the first answer to a repeated event."""
        with as_application_errors():
            return self.app.summary(inp.team_id, version=inp.version)

    @activity.defn(name="ltflow.send_notification")
    def send_notification(self, notification: Notification) -> None:
        """Tell a person through the notification port; failures are retried by Temporal."""
        self.notifier.notify(notification)

    @activity.defn(name="ltflow.record_undelivered")
    def record_undelivered(self, inp: UndeliveredNotification) -> None:
        """Keep a notification that every attempt failed to deliver, for an operator to list
        and send again (``ltflow notifications``); recording it twice keeps one."""
        note = inp.notification
        log.warning(
            "notification undelivered",
            team_id=str(note.team_id),
            type=note.type,
            recipient=note.recipient,
            occurred_at=note.occurred_at.isoformat(),
            error=inp.error,
        )
        if self._undelivered_factory is None:
            return  # no table configured (a host's own wiring): the log line is the record
        if self._undelivered is None:
            self._undelivered = self._undelivered_factory()
        self._undelivered.record(inp, datetime.now(UTC))
