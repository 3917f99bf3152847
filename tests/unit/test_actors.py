"""Who may be named as the sender of an event (every door asks ltflow.aggregates.actors)."""

from __future__ import annotations

import pytest

from ltflow.aggregates.actors import actor_problem, check_sender_actor
from ltflow.aggregates.errors import InvalidEventError


@pytest.mark.parametrize(
    ("actor", "complaint"),
    [
        ("system", "reserved"),
        ("SYSTEM", "reserved"),
        (" system\u00a0", "reserved"),
        ("", "empty"),
        (" \t ", "empty"),
        ("fac\ningrid", "control characters"),
        ("fac\u0085ingrid", "control characters"),
        ("x" * 257, "at most 256"),
    ],
)
def test_a_sender_actor_is_refused_with_its_reason(actor: str, complaint: str) -> None:
    problem = actor_problem(actor)
    assert problem is not None
    assert complaint in problem
    with pytest.raises(InvalidEventError, match=complaint) as caught:
        check_sender_actor(actor)
    assert caught.value.details == {"field": "actor"}


@pytest.mark.parametrize("actor", ["fac-ingrid", "series:weekly-falls", "Dr. Ångström", "systems"])
def test_ordinary_actors_may_send(actor: str) -> None:
    assert actor_problem(actor) is None
