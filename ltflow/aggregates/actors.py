"""Who may be named as the actor of an event: every door checks a sender's actor here.

The actor is stored with every event and read by auditors, so it must name someone: never
blank, no control characters (a newline would forge a line in a log or a report), and never
``system``, which is the workflow's own timers' name and no one else's.
"""

from __future__ import annotations

import unicodedata

from ltflow.aggregates.errors import InvalidEventError

#: The actor of the events the workflow's timers and the rulebook record; no sender's.
SYSTEM_ACTOR = "system"
MAX_ACTOR_LENGTH = 256


def actor_problem(actor: object) -> str | None:
    """Why ``actor`` may not send events (one sentence), or None when it may."""
    if not isinstance(actor, str) or not actor.strip():
        return "The actor must name who sends the event; it is empty."
    if len(actor) > MAX_ACTOR_LENGTH:
        return f"The actor may be at most {MAX_ACTOR_LENGTH} characters long."
    if any(unicodedata.category(ch) == "Cc" for ch in actor):
        return "The actor may not contain control characters (such as a newline or a tab)."
    # Compared loosely, so that "System" or " system" cannot pass for the timers either.
    if actor.strip().casefold() == SYSTEM_ACTOR:
        return f"The actor '{SYSTEM_ACTOR}' is reserved for ltflow's own timers; name the sender."
    return None


def check_sender_actor(actor: object) -> None:
    """Raise ``invalid_event`` unless ``actor`` may be named as the sender of an event."""
    problem = actor_problem(actor)
    if problem is not None:
        raise InvalidEventError(problem, field="actor")
