"""Realistic Learning Teams, driven through the application the way senders drive them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from ltflow.aggregates import vocabulary as c
from ltflow.eventstore.application import LearningTeams

Clock = Callable[[], datetime]
PEOPLE = ["nurse-ann", "doctor-bo", "porter-cy", "family-di", "manager-ed"]
SAYS = {
    "nurse-ann": "The pumps were all in use that night",
    "doctor-bo": "I was called to two wards at once",
    "porter-cy": "The lift was out of order",
    "family-di": "Nobody told us about the change",
    "manager-ed": "The roster had two gaps",
}


class TeamDriver:
    """Sends one team's phase events; ``clock`` gives received_at (and so occurred_at)."""

    def __init__(self, app: LearningTeams, clock: Any, case_ref: str) -> None:
        self.app, self.clock, self.case_ref = app, clock, case_ref
        self.team_id: UUID | None = None
        self._n = 0

    def convene(self, *, theme: str | None = "falls", trigger: str = "incident") -> UUID:
        body = {
            "case_ref": self.case_ref,
            "title": "Night handovers on ward 3",
            "trigger": trigger,
            "theme": theme,
            "goal": "Understand how the night shift really works",
            "scope": "Ward 3, nights, last quarter",
            "facilitator": "fac-fiona",
        }
        result = self.app.convene(
            c.parse_convene(body), actor="fac-fiona", received_at=self.clock()
        )
        self.team_id = result.summary.team_id
        return self.team_id

    def send(self, type_: str, **fields: Any) -> None:
        self._n += 1
        body = {"type": type_, "event_id": f"{self.case_ref}-{self._n}", **fields}
        assert self.team_id is not None
        self.app.record(
            self.team_id, c.parse_sender_event(body), actor="fac-fiona", received_at=self.clock()
        )

    def system(self, cmd: c.Command) -> None:
        assert self.team_id is not None
        self.app.record(self.team_id, cmd, actor="system", received_at=self.clock())

    # --- phases ---------------------------------------------------------------------------

    def through_session_one(self, people: list[str], consent: list[bool]) -> None:
        for person in people:
            self.send(
                "participant.invited",
                participant_id=person,
                role="staff",
                display_name=person.split("-")[1].title(),
            )
        self.send("scope.confirmed")
        self.send("session.scheduled", session=1, at=_iso(self.clock() + timedelta(hours=2)))
        for person, share in zip(people, consent, strict=False):
            self.send(
                "perspective.shared",
                participant_id=person,
                perspective=SAYS[person],
                consent_to_share=share,
            )
        self.send("session.completed", session=1, attendees=people)

    def through_analysis(self, people: list[str]) -> None:
        self.send("reflection.noted", participant_id=people[0], note="I slept on it; handovers.")
        self.clock.advance(days=2)
        self.send("session.scheduled", session=2, at=_iso(self.clock()))
        self.send("session.started", session=2)
        self.send("red_thread.recorded", summary="Handovers rely on memory, not on a list")
        self.send(
            "learning_point.recorded",
            learning_point_id="lp-keep",
            kind="keep",
            text="Colleagues double-check each other at night",
        )
        self.send(
            "learning_point.recorded",
            learning_point_id="lp-change",
            kind="change",
            text="Handover needs a written checklist",
        )
        self.send("session.completed", session=2, attendees=people)
        self.send("analysis.concluded")

    def through_follow_up(self, *, due: date) -> None:
        self.send(
            "safety_net.defined",
            safety_net_id="sn-list",
            kind="micro_action",
            description="Print a handover checklist",
            owner="porter-cy",
            due=due.isoformat(),
            addresses=["lp-change"],
        )
        self.send(
            "safety_net.defined",
            safety_net_id="sn-pilot",
            kind="experiment",
            description="Two-person handover for a month",
            owner="nurse-ann",
            hypothesis="Fewer missed items",
            addresses=["lp-change"],
            due=(due + timedelta(days=30)).isoformat(),
        )
        self.send("safety_nets.concluded")
        self.send(
            "success_criterion.defined",
            criterion_id="cr-1",
            safety_net_id="sn-list",
            description="Checklist used",
            target="90% of handovers",
        )
        self.send("follow_up.started")

    def finish(self) -> None:
        self.send("review.recorded", criterion_id="cr-1", observed="60%", met=False)
        self.send("safety_net.completed", safety_net_id="sn-list", outcome="Checklist in use")
        self.clock.advance(days=3)
        self.send("review.recorded", criterion_id="cr-1", observed="95%", met=True, note="Works")
        self.send(
            "story.communicated",
            audience="All wards",
            channel="intranet",
            summary="How a checklist made night handovers safer",
        )
        self.send("team.closed")


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def full_team(
    app: LearningTeams,
    clock: Any,
    case_ref: str,
    *,
    theme: str | None = "falls",
    consent: tuple[bool, ...] = (True, False, True, False),
) -> UUID:
    """A team taken through all seven phases and closed."""
    driver = TeamDriver(app, clock, case_ref)
    team_id = driver.convene(theme=theme)
    people = PEOPLE[:4]
    driver.through_session_one(people, list(consent))
    driver.through_analysis(people)
    driver.through_follow_up(due=clock().date() + timedelta(days=7))
    driver.finish()
    return team_id


def mixed_teams(app: LearningTeams, clock: Any, prefix: str = "case") -> dict[str, UUID]:
    """A realistic mix: closed, in follow-up, in processing time, abandoned, just opened."""
    ids = {"closed": full_team(app, clock, f"{prefix}-closed")}
    follow = TeamDriver(app, clock, f"{prefix}-follow")
    ids["follow"] = follow.convene(theme="medication", trigger="theme_trend")
    follow.through_session_one(PEOPLE[:3], [True, True, False])
    follow.through_analysis(PEOPLE[:3])
    follow.through_follow_up(due=clock().date() + timedelta(days=1))
    reflecting = TeamDriver(app, clock, f"{prefix}-reflect")
    ids["reflect"] = reflecting.convene(theme="falls", trigger="daily_practice")
    reflecting.through_session_one(PEOPLE[:5], [False] * 5)
    gone = TeamDriver(app, clock, f"{prefix}-gone")
    ids["gone"] = gone.convene(theme=None, trigger="periodic")
    gone.send("participant.invited", participant_id="x-1", role="staff")
    gone.send("participant.withdrawn", participant_id="x-1", reason="moved")
    gone.send("team.abandoned", reason="no participants")
    fresh = TeamDriver(app, clock, f"{prefix}-fresh")
    ids["fresh"] = fresh.convene(theme="aggression")
    return ids
