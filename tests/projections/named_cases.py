"""Three incident cases with guessable numbers and people who sign in (identities), driven through
the application: the world the anonymity tests attack (issue 21)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from ltflow.access.policy import Viewer
from ltflow.aggregates import vocabulary as c
from ltflow.config import Settings
from ltflow.eventstore.application import LearningTeams
from ltflow.projections.runner import ProjectionRunner
from ltflow.projections.store import ViewStore
from tests.conftest import Clock

#: The incident numbers an attacker guesses: the real ones are among them.
CANDIDATES = [f"VIM-2026-{n:03d}" for n in range(1, 51)]
CLOSED, FOLLOWING, REFLECTING = "VIM-2026-007", "VIM-2026-023", "VIM-2026-041"
TITLES = {
    CLOSED: "Insulin given twice on ward 4B",
    FOLLOWING: "Fall from bed in room 12",
    REFLECTING: "Late sepsis alarm in the ED",
}
#: Every name that appears anywhere in the three cases (display names, facilitators, owners,
#: sponsors, the story's audience).
NAMES = [
    "Fiona Visser",
    "Gert Bos",
    "Hanna Berg",
    "Ann de Vries",
    "Bo Jansen",
    "Di Bakker",
    "Cy Mulder",
    "Ed Kok",
    "Sam Smit",
    "Flo Peters",
    "Gus Hart",
    "Ivy Lam",
]
#: The subjects (sign-in identities) of the people in the cases.
SUBJECTS = {
    "fiona": "sub-fiona",
    "gert": "sub-gert",
    "hanna": "sub-hanna",
    "ann": "sub-ann",
    "bo": "sub-bo",
    "di": "sub-di",
    "cy": "sub-cy",
    "ed": "sub-ed",
    "sam": "sub-sam",
}
SHARED = "The pump showed the old dose and nobody knew why"
NOT_SHARED = "I felt rushed by the doctor on call"


def person(subject: str, *roles: str) -> Viewer:
    return Viewer(
        subject=subject, kind="person", roles=frozenset(roles), scopes=frozenset({"teams:read"})
    )


SERVICE = Viewer(subject="dashboard", scopes=frozenset({"teams:read"}))
AUDITOR = Viewer(subject="auditor-ann", kind="person", roles=frozenset({"auditor"}))
QUALITY_OFFICER = person("sub-quinn", "quality_officer")
#: The sponsor of the closed case: outside every team (a sponsor sees the team's work only).
SPONSOR = person("sub-sam")
STRANGER = person("sub-nobody")
FACILITATOR_OF_FOLLOWING = person("sub-gert", "facilitator")
FAMILY_IN_CLOSED = person("sub-di")


@dataclass
class Case:
    app: LearningTeams
    clock: Clock
    case_ref: str
    team_id: UUID | None = None
    n: int = 0

    def convene(self, facilitator: str, facilitator_id: str, theme: str) -> UUID:
        body = {
            "case_ref": self.case_ref,
            "title": TITLES[self.case_ref],
            "trigger": "incident",
            "theme": theme,
            "goal": "Understand how this could happen",
            "scope": "The ward, last month",
            "facilitator": facilitator,
            "facilitator_id": facilitator_id,
        }
        done = self.app.convene(
            c.parse_convene(body), actor=facilitator_id, received_at=self.clock()
        )
        self.team_id = done.summary.team_id
        return self.team_id

    def send(self, type_: str, **fields: Any) -> None:
        self.n += 1
        body = {"type": type_, "event_id": f"{self.case_ref}-{self.n}", **fields}
        assert self.team_id is not None
        self.app.record(
            self.team_id, c.parse_sender_event(body), actor="sub-x", received_at=self.clock()
        )

    def invite(self, pid: str, name: str, subject: str | None, relation: str = "staff") -> None:
        self.send(
            "participant.invited",
            participant_id=pid,
            display_name=name,
            role="nurse" if relation == "staff" else relation,
            subject=subject,
            relation=relation,
        )

    def session_one(self, shares: dict[str, tuple[str, bool]], attendees: list[str]) -> None:
        self.send("scope.confirmed")
        self.send("session.scheduled", session=1, at=_iso(self.clock() + timedelta(hours=2)))
        for pid, (text, consent) in shares.items():
            self.send(
                "perspective.shared", participant_id=pid, perspective=text, consent_to_share=consent
            )
        self.send("session.completed", session=1, attendees=attendees)

    def analysis(self, attendees: list[str]) -> None:
        self.clock.advance(days=2)
        self.send("session.scheduled", session=2, at=_iso(self.clock()))
        self.send("session.started", session=2)
        self.send("red_thread.recorded", summary="Two systems show two doses")
        self.send(
            "learning_point.recorded",
            learning_point_id="lp-1",
            kind="change",
            text="One screen shows the dose",
        )
        self.send("session.completed", session=2, attendees=attendees)
        self.send("analysis.concluded")

    def safety_nets(self, owner: str, owner_id: str, due: date) -> None:
        self.send(
            "safety_net.defined",
            safety_net_id="sn-1",
            kind="micro_action",
            description="Remove the old dose field",
            owner=owner,
            owner_id=owner_id,
            due=due.isoformat(),
            addresses=["lp-1"],
        )
        self.send("safety_nets.concluded")
        self.send(
            "success_criterion.defined",
            criterion_id="cr-1",
            safety_net_id="sn-1",
            description="No double doses",
            target="none in a month",
        )
        self.send("follow_up.started")


def named_cases(app: LearningTeams, clock: Clock) -> dict[str, UUID]:
    """A closed case (in the library), one in follow-up, one in its reflection period."""
    closed = Case(app, clock, CLOSED)
    closed.convene("Fiona Visser", "sub-fiona", "medication")
    closed.send("sponsor.assigned", sponsor_id="sub-sam", name="Sam Smit")
    closed.invite("p-ann", "Ann de Vries", "sub-ann")
    closed.invite("p-bo", "Bo Jansen", "sub-bo")
    closed.invite("p-di", "Di Bakker", "sub-di", relation="family")
    closed.session_one(
        {"p-ann": (SHARED, True), "p-bo": (NOT_SHARED, False)}, ["p-ann", "p-bo", "p-di"]
    )
    closed.analysis(["p-ann", "p-bo", "p-di"])
    closed.safety_nets("Cy Mulder", "sub-cy", clock().date() + timedelta(days=7))
    closed.send("review.recorded", criterion_id="cr-1", observed="none", met=True)
    closed.send("safety_net.completed", safety_net_id="sn-1", outcome="Field removed")
    closed.send(
        "story.communicated",
        audience="Bo Jansen and Di Bakker",
        channel="email to Sam Smit",
        summary="One screen, one dose: how ward teams stopped double insulin",
    )
    closed.send("team.closed")

    following = Case(app, clock, FOLLOWING)
    following.convene("Gert Bos", "sub-gert", "falls")
    following.invite("p-ann", "Ann de Vries", "sub-ann")
    following.invite("p-ed", "Ed Kok", "sub-ed")
    following.invite("p-flo", "Flo Peters", None)
    following.session_one({"p-ann": ("Bed rails were down", True)}, ["p-ann", "p-ed", "p-flo"])
    following.analysis(["p-ann", "p-ed", "p-flo"])
    following.safety_nets("Ed Kok", "sub-ed", clock().date() + timedelta(days=3))

    reflecting = Case(app, clock, REFLECTING)
    reflecting.convene("Hanna Berg", "sub-hanna", "sepsis")
    reflecting.invite("p-bo", "Bo Jansen", "sub-bo")
    reflecting.invite("p-gus", "Gus Hart", None)
    reflecting.invite("p-ivy", "Ivy Lam", None, relation="patient")
    reflecting.session_one({"p-bo": ("The alarm was muted", False)}, ["p-bo", "p-gus", "p-ivy"])
    assert closed.team_id
    assert following.team_id
    assert reflecting.team_id
    return {CLOSED: closed.team_id, FOLLOWING: following.team_id, REFLECTING: reflecting.team_id}


@dataclass
class World:
    settings: Settings
    app: LearningTeams
    store: ViewStore
    ids: dict[str, UUID]


@contextmanager
def named_world(settings: Settings) -> Iterator[World]:
    """The three cases stored and projected on the backend of ``settings``."""
    app = LearningTeams.from_settings(settings)
    store = ViewStore.from_settings(settings)
    try:
        ids = named_cases(app, Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
        ProjectionRunner(app, store, batch_size=13).catch_up()
        yield World(settings, app, store, ids)
    finally:
        store.close()
        app.close()


def _iso(moment: datetime) -> str:
    return moment.isoformat()
