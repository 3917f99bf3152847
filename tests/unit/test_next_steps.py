"""What a team accepts now (``ltflow.aggregates.next_steps``), over states the rulebook walked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ltflow.aggregates import rules
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import LtflowError
from ltflow.aggregates.next_steps import NextSteps, next_steps
from ltflow.aggregates.state import Phase
from tests.unit.builders import EVERYWHERE, Walk, Where, walk_to, where_id


def steps_of(walk: Walk) -> dict[str, tuple[bool, str | None]]:
    found = next_steps(walk.state, walk.now)
    return {s.type: (s.ready, s.needs) for s in found.steps}


def test_a_new_team_needs_three_participants_before_its_scope_is_confirmed() -> None:
    walk = Walk.open()
    walk.invite("p-anna")
    walk.invite("p-bram")
    steps = steps_of(walk)
    assert steps["scope.confirmed"] == (
        False,
        "A Learning Team needs 3 to 8 participants; there are 2.",
    )
    assert steps["participant.invited"][0] is True
    assert "participant_id" in (steps["participant.invited"][1] or "")
    walk.invite("p-chen")
    assert steps_of(walk)["scope.confirmed"] == (True, None)


def test_a_full_team_invites_no_one_more() -> None:
    walk = Walk.open()
    for i in range(rules.MAX_TEAM):
        walk.invite(f"p-{i}")
    ready, needs = steps_of(walk)["participant.invited"]
    assert not ready
    assert needs == "A Learning Team has at most 8 participants; the team is full."


def test_session_two_names_the_earliest_start_until_the_reflection_period_passed() -> None:
    walk = walk_to(Phase.PROCESSING_TIME)
    ready, needs = steps_of(walk)["session.started"]
    assert not ready
    assert walk.state.reflection_earliest is not None
    assert needs is not None
    assert walk.state.reflection_earliest.isoformat() in needs
    walk.past_reflection()
    assert steps_of(walk)["session.started"] == (True, "carries session")


def test_the_analysis_concludes_only_with_a_red_thread_and_a_learning_point() -> None:
    walk = walk_to(Phase.SESSION_TWO)
    ready, needs = steps_of(walk)["analysis.concluded"]
    assert not ready
    assert needs == (
        "The analysis needs at least one red thread and one learning point before it concludes."
    )
    walk.red_thread()
    walk.learning_point("lp-1")
    ready, needs = steps_of(walk)["analysis.concluded"]
    assert not ready
    assert needs is not None
    assert "still in progress" in needs  # session 2 is
    walk.complete(2)
    assert steps_of(walk)["analysis.concluded"] == (True, None)


@pytest.mark.parametrize("where", EVERYWHERE, ids=where_id)
def test_every_step_said_ready_is_accepted_and_every_other_refused(where: Where) -> None:
    """The verdicts are the rulebook's: what next_steps calls ready, decide accepts (with the
    fields the team would send), and what it calls not ready, decide refuses with that sentence."""
    walk = walk_to(where)
    found = next_steps(walk.state, walk.now)
    assert isinstance(found, NextSteps)
    allowed = {s.type for s in found.steps}
    for name, cls in c.SENDER_TYPES.items():
        allowed_now = walk.state.phase in cls.phases and (
            cls.after_end or walk.state.status.value == "active"
        )
        assert (name in allowed) is allowed_now, name
    for step in found.steps:
        if step.type not in ("scope.confirmed", "analysis.concluded", "team.closed"):
            continue
        probe = c.parse_sender_event({"type": step.type, "event_id": "probe"})
        if step.ready:
            rules.decide(walk.state, probe, walk.now)
        else:
            with pytest.raises(LtflowError) as refused:
                rules.decide(walk.state, probe, walk.now)
            assert refused.value.message == step.needs


def test_a_closed_team_accepts_only_a_persons_rights() -> None:
    walk = walk_to("closed")
    found = next_steps(walk.state, walk.now + timedelta(days=1))
    assert found.status == "closed"
    assert {s.type for s in found.steps} == {
        name for name, cls in c.SENDER_TYPES.items() if cls.after_end
    }


def test_a_communicated_story_lets_the_team_close() -> None:
    walk = walk_to(Phase.COMMUNICATE)
    assert steps_of(walk)["team.closed"] == (
        False,
        "Communicate the story at least once before closing the team.",
    )
    walk.story()
    assert steps_of(walk)["team.closed"] == (True, None)
