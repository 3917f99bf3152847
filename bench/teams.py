"""Learning Teams written in bulk, straight through the application, for the benchmarks.

Aggregates are built in memory by the aggregate's own commands (so every rule runs) and saved a
hundred at a time, which writes a big log in seconds. Two shapes of log:

* ``interleaved``: every team takes step k before any team takes step k+1 (many teams running
  at once, the shape of a live installation's history);
* ``sequential``: each team from start to end before the next (a batch import).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.learning_team import LearningTeam
from ltflow.eventstore.application import LearningTeams, team_id_for

Pattern = Literal["interleaved", "sequential"]
PATTERNS: tuple[Pattern, ...] = ("interleaved", "sequential")
Script = list[tuple[timedelta, c.Command]]

BASE = datetime(2026, 1, 5, 9, tzinfo=UTC)
PEOPLE = ("p-a", "p-b", "p-c", "p-d")
THEMES = ("falls", "medication", "aggression")
_DAY = timedelta(days=1)


def convene(ref: str, number: int, policy: dict[str, str] | None = None) -> c.TeamConvened:
    body: dict[str, Any] = {
        "case_ref": ref,
        "title": f"Evening round {number}: a double dose nearly given",
        "trigger": "incident",
        "theme": THEMES[number % len(THEMES)],
        "goal": "Understand how the evening round really works, and what made the slip likely.",
        "scope": "The evening medication round, from prescription change to administration.",
        "facilitator": "fac-bench",
    }
    if policy is not None:
        body["policy"] = policy
    return c.parse_convene(body)


def _maker(ref: str) -> Callable[..., c.Command]:
    count = 0

    def make(event_type: str, **fields: Any) -> c.Command:
        nonlocal count
        count += 1
        return c.parse_sender_event({"type": event_type, "event_id": f"{ref}-{count}", **fields})

    return make


def to_reflection(ref: str) -> Script:
    """Invitations, scope, session 1 with everyone's perspective: the team enters phase 3."""
    e = _maker(ref)
    now = timedelta(0)
    script: Script = [
        (now, e("participant.invited", participant_id=p, role="nurse")) for p in PEOPLE
    ]
    script.append((now, e("scope.confirmed")))
    script += [
        (
            now,
            e(
                "perspective.shared",
                participant_id=p,
                perspective="The round started late; the new chart was not yet on the ward. " * 2,
                consent_to_share=n % 2 == 0,
            ),
        )
        for n, p in enumerate(PEOPLE)
    ]
    script.append((now, e("session.completed", session=1, attendees=list(PEOPLE))))
    return script


def whole_life(ref: str) -> Script:
    """A team from convening to closing: 27 phase events (33 stored events with consequences)."""
    e = _maker(ref + "-b")
    later = 2 * _DAY
    script = to_reflection(ref)
    script += [
        (later, e("session.started", session=2)),
        (later, e("red_thread.recorded", summary="Hand-overs happen while the round runs. " * 2)),
        (later, e("learning_point.recorded", learning_point_id="lp1", kind="keep", text="k " * 20)),
        (
            later,
            e("learning_point.recorded", learning_point_id="lp2", kind="change", text="c" * 40),
        ),
        (later, e("session.completed", session=2, attendees=list(PEOPLE))),
        (later, e("analysis.concluded")),
        (
            later + _DAY,
            e(
                "safety_net.defined",
                safety_net_id="sn1",
                kind="micro_action",
                description="Print the changed chart before the round starts.",
                owner="p-a",
                due="2026-02-01",
            ),
        ),
        (later + _DAY, e("safety_nets.concluded")),
        (
            later + _DAY,
            e(
                "success_criterion.defined",
                criterion_id="c1",
                safety_net_id="sn1",
                description="Charts on the ward before 17:00",
                target="9 of 10 evenings",
            ),
        ),
        (later + _DAY, e("follow_up.started")),
        (
            later + 2 * _DAY,
            e("review.recorded", criterion_id="c1", observed="10 of 10", met=True),
        ),
        (
            later + 3 * _DAY,
            e("story.communicated", audience="wards", channel="intranet", summary="s " * 40),
        ),
        (later + 3 * _DAY, e("team.closed")),
    ]
    return script


def build(
    app: LearningTeams,
    teams: int,
    *,
    pattern: Pattern = "interleaved",
    prefix: str = "bench",
    script: Callable[[str], Script] = whole_life,
    start: datetime = BASE,
    policy: dict[str, str] | None = None,
    spacing: timedelta = timedelta(minutes=1),
    chunk: int = 100,
) -> list[LearningTeam]:
    """Write ``teams`` teams through ``app``; team ``i`` starts at ``start + i * spacing``."""
    refs = [f"{prefix}-{i}" for i in range(teams)]
    plans = [script(ref) for ref in refs]
    aggregates = [
        LearningTeam.convene(
            convene(ref, i, policy),
            team_id=team_id_for(ref),
            actor="fac-bench",
            occurred_at=start + i * spacing,
        )
        for i, ref in enumerate(refs)
    ]
    if pattern == "sequential":
        for k in range(0, teams, chunk):
            group = range(k, min(k + chunk, teams))
            for i in group:
                for offset, cmd in plans[i]:
                    _handle(aggregates[i], cmd, start + i * spacing + offset)
            app.save(*(aggregates[i] for i in group))
        return aggregates
    _save(app, aggregates, chunk)
    for step in range(max(len(p) for p in plans)):
        for i, agg in enumerate(aggregates):
            if step < len(plans[i]):
                offset, cmd = plans[i][step]
                _handle(agg, cmd, start + i * spacing + offset)
        _save(app, aggregates, chunk)
    return aggregates


def _handle(team: LearningTeam, cmd: c.Command, at: datetime) -> None:
    team.handle(cmd, actor="fac-bench", occurred_at=at)


def _save(app: LearningTeams, aggregates: Sequence[LearningTeam], chunk: int) -> None:
    for k in range(0, len(aggregates), chunk):
        app.save(*aggregates[k : k + chunk])
