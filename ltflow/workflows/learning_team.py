"""``LearningTeamWorkflow``: one durable workflow per Learning Team.

It owns orchestration and time. A phase event arrives as an update: the validator judges it with
the rulebook the aggregate enforces (a bad event is rejected at once and never recorded), the
handler judges again only if the state changed since, and the store activity records it and
answers with the state it leaves, which the workflow adopts. Durable timers record a reminder for
every deadline (:mod:`ltflow.workflows.timers`): sessions, the processing time, safety nets'
due dates and their escalation, reviews, the follow-up's end. What is worth telling goes out in
the background (:mod:`ltflow.workflows.notifications`). The workflow never imports
``eventsourcing``: the event store stays the record.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate

from ltflow.workflows import delivery  # workflow code, like this module

with workflow.unsafe.imports_passed_through():
    from ltflow.access import policy
    from ltflow.access.policy import TeamRoles
    from ltflow.aggregates import rules
    from ltflow.aggregates import vocabulary as v
    from ltflow.aggregates.actors import check_sender_actor
    from ltflow.aggregates.errors import LtflowError, TeamNotFoundError
    from ltflow.aggregates.phases import Status
    from ltflow.aggregates.state import (
        Processed,
        TeamState,
        TeamSummary,
        evolve,
        summarize,
    )
    from ltflow.workflows.activities import LtflowActivities
    from ltflow.workflows.failures import to_application_error
    from ltflow.workflows.notifications import notice, notices_after, timer_notice
    from ltflow.workflows.payloads import (
        ConveneTeamInput,
        LearningTeamInput,
        Notification,
        OpenTeamResult,
        RecordConveneInput,
        RecordEventInput,
        SubmitEventInput,
        TeamSummaryInput,
    )
    from ltflow.workflows.timers import Due, next_due

_T = TypeVar("_T")

PHASE = SearchAttributeKey.for_int("LtflowPhase")
STATUS = SearchAttributeKey.for_keyword("LtflowStatus")
THEME = SearchAttributeKey.for_keyword("LtflowTheme")
TRIGGER = SearchAttributeKey.for_keyword("LtflowTrigger")
SEARCH_ATTRIBUTES = (PHASE, STATUS, THEME, TRIGGER)

#: The store append is 1-3 ms; a local activity saves the ~30 ms round trip through the server
#: of a regular one. Running it twice (a crash before the marker is recorded) is harmless, as the
#: append is idempotent by event_id.
STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100), maximum_interval=timedelta(seconds=5)
)
#: How long a closed or abandoned team keeps answering repeats of its last events.
CLOSED_RETENTION = timedelta(days=7)
#: Runs with this marker adopt the state the store activity answers with; runs begun before it
#: fold each event themselves (``_record_folding``) until their next continue-as-new.
ADOPT_STATE = "adopt-state"
#: Runs with this marker send notifications in the background and record one that cannot be
#: delivered; runs begun before it awaited the sending, and its failure failed them.
NOTIFY_IN_BACKGROUND = "notify-in-background"
#: Runs with this marker never sleep longer than :data:`MAX_SLEEP` in one timer.
CAPPED_SLEEP = "capped-sleep"
#: The longest single timer: three years, beyond any timer of a policy within the bounds. Only a
#: policy stored before them is due later (saturated at the year 9999): the workflow wakes and
#: looks again, and no server is asked for a timer beyond what its clock arithmetic holds.
MAX_SLEEP = timedelta(days=1096)
#: Runs with this marker keep a durable reminder for every deadline (sessions, the reflection
#: prompt, safety nets' due dates, the follow-up's end); runs begun before it keep the timers
#: they had. The marker is recorded the first time a new reminder would be the next timer.
EVERY_DEADLINE = "every-deadline"
#: Runs with this marker notify every phase entered, a session scheduled, criteria met and the
#: team's end, besides the timers' own notifications.
NOTIFY_EVERY_CHANGE = "notify-every-change"


def workflow_id_for(team_id: object) -> str:
    """The workflow id of a team: derived from the team id, never from personal data."""
    return f"learning-team-{team_id}"


@workflow.defn(name="LearningTeam")
class LearningTeamWorkflow:
    """Drives one team through its seven phases; see the module docstring."""

    def __init__(self) -> None:
        self._state: TeamState | None = None
        self._ready = False
        self._lock = asyncio.Lock()
        self._changes = 0
        self._events_this_run = 0
        self._input: LearningTeamInput | None = None
        self._parked: set[str] = set()
        self._indexed: tuple[object, ...] | None = None
        self._deliveries = delivery.Deliveries()

    # --- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: LearningTeamInput) -> TeamSummary | None:
        self._input = inp
        self._state = inp.state
        if self._state is None:
            self._state = await workflow.execute_local_activity_method(
                LtflowActivities.load_team_state,
                inp.team_id,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
        self._ready = True
        self._upsert_search_attributes()
        while True:
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._deliveries.finished()
                workflow.continue_as_new(inp.model_copy(update={"state": self._state}))
            if self._state is not None and self._state.status is not Status.ACTIVE:
                return await self._linger()
            await self._sleep_until_due()

    async def _sleep_until_due(self) -> None:
        seen = self._changes
        due = next_due(self._state) if self._state is not None else None
        if due is not None and due.command.event_id in self._parked:
            due = None  # it was judged inapplicable; wait for the state to change instead
        if self._state is not None:
            every = next_due(self._state, now=workflow.now(), skip=frozenset(self._parked))
            # Asked only when it matters, so a run begun before it replays as it ran.
            if every != due and workflow.patched(EVERY_DEADLINE):
                due = every
        timeout: timedelta | None = None
        capped = False
        if due is not None:
            timeout = max(due.at - workflow.now(), timedelta(0))
            capped = timeout > MAX_SLEEP and workflow.patched(CAPPED_SLEEP)
            timeout = MAX_SLEEP if capped else timeout
        try:
            await workflow.wait_condition(
                lambda: self._changes != seen or self._should_continue_as_new(),
                timeout=timeout,
                timeout_summary=due.command.type if due else None,
            )
        except TimeoutError:
            assert due is not None
            if not capped:  # a capped sleep woke before the time: the loop looks again
                await self._fire(due)

    async def _linger(self) -> TeamSummary | None:
        """A finished team answers repeats for a while, then the workflow completes."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: False, timeout=CLOSED_RETENTION)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._deliveries.finished()
        return summarize(self._state) if self._state is not None else None

    async def _fire(self, due: Due) -> None:
        async with self._lock:
            state = self._require_state()
            now = workflow.now()
            try:
                if rules.check_idempotency(state, due.command) is not None:
                    return
                rules.decide(state, due.command, now)
            except LtflowError as error:
                workflow.logger.warning("timer no longer applies: %s", error.message)
                self._parked.add(due.command.event_id)
                return
            before = state.model_copy()  # the folding road changes the state in place
            await self._record(due.command, "system", now)
        note = timer_notice(self._require_state(), due.command, now)
        self._notify_changes(notices_after(due.command, before, self._require_state(), now))
        if workflow.patched(NOTIFY_IN_BACKGROUND):
            # Sending may take hours of retries while a webhook is down: in the background it
            # holds up neither the next timer nor the team's events, and its failure is
            # recorded for an operator instead of failing the case.
            self._deliveries.start(note)
        else:
            await delivery.send(note)

    def _notify_changes(self, notes: list[Notification]) -> None:
        """Send what a recorded event is worth telling, in the background; runs begun before
        :data:`NOTIFY_EVERY_CHANGE` sent only their timers' notifications."""
        if notes and workflow.patched(NOTIFY_EVERY_CHANGE):
            for note in notes:
                self._deliveries.start(note)

    # --- opening -----------------------------------------------------------------------------

    @workflow.update  # named "convene" by its method
    async def convene(self, inp: ConveneTeamInput) -> OpenTeamResult:
        """Open the team; a repeat with the same content returns it, other content is a conflict."""
        await workflow.wait_condition(lambda: self._ready)
        async with self._lock:
            if self._state is not None:
                self._check(lambda s: rules.check_convene_repeat(s, inp.convene))
                return OpenTeamResult(summary=summarize(self._state), created=False)
            result = await workflow.execute_local_activity_method(
                LtflowActivities.record_convene,
                RecordConveneInput(
                    convene=inp.convene, actor=inp.actor, received_at=workflow.now()
                ),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            self._state = result.state
            self._changed()
            if not result.duplicate:
                phase = self._state.phase
                entered = {"phase": int(phase), "name": phase.label}
                opened = notice(
                    self._state,
                    "phase.entered",
                    f"{v.CONVENE_EVENT_ID}#phase-1",
                    workflow.now(),
                    entered,
                )
                self._notify_changes([opened])
            return OpenTeamResult(summary=summarize(self._state), created=not result.duplicate)

    @convene.validator
    def _validate_convene(self, inp: ConveneTeamInput) -> None:
        self._check_actor(inp.actor)
        if self._ready and self._state is not None:
            self._check(lambda s: rules.check_convene_repeat(s, inp.convene))

    # --- phase events ------------------------------------------------------------------------

    @workflow.update  # named "submit" by its method
    async def submit(self, inp: SubmitEventInput) -> TeamSummary:
        """Record one phase event and answer with the team summary after it."""
        # The validator ran a moment ago in this same task, on this very state (on replay it
        # does not run; the event it accepted then is accepted the same way now).
        judged_at = self._changes if self._ready else None
        await workflow.wait_condition(lambda: self._ready)
        async with self._lock:
            if judged_at == self._changes:
                seen = self._require_state().processed.get(inp.event.event_id)
            else:  # queued behind another event, or the state was not loaded yet: judge now
                seen = self._judge(inp)
            if seen is not None:
                return await self._summary_at(seen.version)
            before, now = self._require_state().model_copy(), workflow.now()
            await self._record(inp.event, inp.actor, now)
            self._notify_changes(notices_after(inp.event, before, self._require_state(), now))
            return summarize(self._require_state())

    @submit.validator
    def _validate_submit(self, inp: SubmitEventInput) -> None:
        self._check_actor(inp.actor)
        if self._ready:  # before that, the handler waits for the state and judges then
            self._judge(inp)

    def _judge(self, inp: SubmitEventInput) -> Processed | None:
        """The rulebook's verdict on a sender's event: a repeat (its first record), or raise."""
        try:
            v.check_sendable(inp.event.type)
        except LtflowError as error:
            raise to_application_error(error) from None
        viewer = inp.viewer
        if viewer is not None:
            self._check(
                lambda s: policy.check_send(viewer, TeamRoles.of_state(s), inp.event, s.team_id)
            )
        seen = self._check(lambda s: rules.check_idempotency(s, inp.event))
        if seen is not None:
            return seen
        now = workflow.now()
        occurred_at = inp.event.occurred_at or now
        self._check(lambda s: rules.check_occurred_at(s, occurred_at, now))
        self._check(lambda s: rules.decide(s, inp.event, occurred_at))
        return None

    @workflow.query
    def summary(self) -> TeamSummary:
        return summarize(self._require_state())

    @workflow.query
    def state(self) -> TeamState | None:
        return self._state

    # --- internals ---------------------------------------------------------------------------

    async def _record(self, cmd: v.Command, actor: str, now: datetime) -> None:
        """Store ``cmd`` through the activity and adopt the state it answers with."""
        state = self._require_state()
        if not workflow.patched(ADOPT_STATE):
            await self._record_folding(cmd, actor, now)
            return
        result = await workflow.execute_local_activity_method(
            LtflowActivities.store_event,
            self._record_input(cmd, actor, now),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        adopted = result.state
        adopted.processed = state.processed
        adopted.processed.update(result.processed)
        self._state = adopted
        self._changed()

    async def _record_folding(self, cmd: v.Command, actor: str, now: datetime) -> None:
        """How runs begun before ``adopt-state`` record: store, then fold the same decision into
        the workflow's copy, and reload it from the store if the two drifted."""
        state = self._require_state()
        result = await workflow.execute_local_activity_method(
            LtflowActivities.record_event,
            self._record_input(cmd, actor, now),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        occurred_at = cmd.occurred_at or now
        for decided in rules.decide(state, cmd, occurred_at):
            evolve(state, decided, version=state.version + 1, occurred_at=occurred_at)
        if state.version != result.summary.version:
            workflow.logger.warning("state drifted from the store; reloading")
            self._state = await workflow.execute_local_activity_method(
                LtflowActivities.load_team_state,
                state.team_id,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
        self._changed()

    def _record_input(self, cmd: v.Command, actor: str, now: datetime) -> RecordEventInput:
        state = self._require_state()
        return RecordEventInput(
            team_id=state.team_id,
            event=cmd,
            actor=actor,
            received_at=now,
            expected_version=state.version,
        )

    async def _summary_at(self, version: int) -> TeamSummary:
        return await workflow.execute_local_activity_method(
            LtflowActivities.read_team_summary,
            TeamSummaryInput(team_id=self._require_state().team_id, version=version),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )

    def _changed(self) -> None:
        self._changes += 1
        self._events_this_run += 1
        self._parked = set()
        self._upsert_search_attributes()

    def _should_continue_as_new(self) -> bool:
        assert self._input is not None
        return (
            workflow.info().is_continue_as_new_suggested()
            or self._events_this_run >= self._input.max_events_per_run
        )

    def _upsert_search_attributes(self) -> None:
        state = self._state
        assert self._input is not None
        if state is None or not self._input.search_attributes:
            return
        indexed = (state.phase, state.status, state.trigger, state.theme)
        if indexed == self._indexed:
            return
        self._indexed = indexed
        pairs: list[SearchAttributeUpdate[Any]] = [
            PHASE.value_set(int(state.phase)),
            STATUS.value_set(state.status.value),
            TRIGGER.value_set(state.trigger),
        ]
        if state.theme:
            pairs.append(THEME.value_set(state.theme))
        workflow.upsert_search_attributes(pairs)

    def _require_state(self) -> TeamState:
        if self._state is None:
            raise to_application_error(
                TeamNotFoundError("This team has not been opened; send team.convened first.")
            )
        return self._state

    @staticmethod
    def _check_actor(actor: str) -> None:
        """A sender never speaks as ``system`` (the timers' actor), nor as no one. Judged in the
        validators only: they do not run on replay, so updates accepted before this check (with
        any actor) replay as they ran."""
        try:
            check_sender_actor(actor)
        except LtflowError as error:
            raise to_application_error(error) from None

    def _check(self, judge: Callable[[TeamState], _T]) -> _T:
        """Run a rulebook function on the state; a domain error becomes the caller's answer."""
        try:
            return judge(self._require_state())
        except LtflowError as error:
            raise to_application_error(error) from None
