"""The access policy on genuine team states: roles from the team's own events, the rules that
bind identities, and the content digest of bodies sent before the new optional fields."""

from __future__ import annotations

import hashlib
import json

import pytest

from ltflow.access import policy
from ltflow.access.policy import Sight, TeamRoles, Viewer
from ltflow.aggregates import vocabulary as c
from ltflow.aggregates.errors import ForbiddenError, RuleViolatedError, TeamNotFoundError
from ltflow.aggregates.state import start
from tests.unit.builders import T0, TEAM_ID, Walk, convene_cmd

FACILITATOR = Viewer(subject="sub-fleur", kind="person", scopes=frozenset({"events:write"}))


def _walk() -> Walk:
    walk = Walk.open()
    walk.state.facilitator_ids = ["sub-fleur"]  # as if convened with facilitator_id
    walk.tick()
    walk.send(
        c.ParticipantInvited(
            event_id=walk.eid("inv"), participant_id="p-anna", role="nurse", subject="sub-anna"
        )
    )
    walk.tick()
    walk.send(
        c.ParticipantInvited(
            event_id=walk.eid("inv"),
            participant_id="p-pat",
            role="patient",
            subject="sub-pat",
            relation="patient",
        )
    )
    walk.tick()
    walk.send(c.SponsorAssigned(event_id=walk.eid("sp"), sponsor_id="sub-sam"))
    return walk


def test_roles_come_from_the_teams_own_events() -> None:
    convened = convene_cmd(facilitator_id="sub-fleur")
    assert start(convened, TEAM_ID, T0).facilitator_ids == ["sub-fleur"]
    walk = _walk()
    roles = TeamRoles.of_state(walk.state)
    assert roles.participants == {"sub-anna": "p-anna", "sub-pat": "p-pat"}
    assert roles.relations == {"p-pat": "patient"}
    assert roles.sponsor == "sub-sam"
    walk.tick()
    walk.send(
        c.FacilitatorHandedOver(
            event_id=walk.eid("ho"), facilitator="Femke", facilitator_id="sub-femke"
        )
    )
    after = TeamRoles.of_state(walk.state)
    assert after.facilitators == {"sub-femke"}
    assert walk.state.facilitator == "Femke"
    # The one before no longer facilitates.
    with pytest.raises(TeamNotFoundError):
        policy.check_send(FACILITATOR, after, c.ScopeConfirmed(event_id="s"), TEAM_ID)


def test_one_identity_is_one_participant() -> None:
    walk = _walk()
    walk.tick()
    with pytest.raises(RuleViolatedError, match="already on the team as 'p-anna'"):
        walk.send(
            c.ParticipantInvited(
                event_id=walk.eid("inv"), participant_id="p-ann2", role="r", subject="sub-anna"
            )
        )


def test_an_erased_participant_loses_their_binding_and_cannot_consent() -> None:
    walk = _walk()
    walk.tick()
    walk.send(c.ParticipantErased(event_id=walk.eid("er"), participant_id="p-anna", reason="x"))
    anna = Viewer(subject="sub-anna", kind="person")
    assert policy.sight(anna, TeamRoles.of_state(walk.state)) is Sight.NONE
    walk.tick()
    with pytest.raises(RuleViolatedError, match="erased"):
        walk.send(
            c.ConsentChanged(event_id=walk.eid("c"), participant_id="p-anna", consent_to_share=True)
        )


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [
        (Viewer(subject="sub-fleur", kind="person"), Sight.TEAM),
        (Viewer(subject="sub-anna", kind="person"), Sight.TEAM),
        (Viewer(subject="sub-pat", kind="person"), Sight.TEAM_BY_ROLE),
        (Viewer(subject="sub-sam", kind="person"), Sight.OUTSIDE),
        (Viewer(subject="q", kind="person", roles=frozenset({"quality_officer"})), Sight.OUTSIDE),
        (Viewer(subject="a", kind="person", roles=frozenset({"auditor"})), Sight.AUDIT),
        (Viewer(subject="x", kind="person"), Sight.NONE),
        (Viewer(subject="dash", scopes=frozenset({"teams:read"})), Sight.OUTSIDE),
        (Viewer(subject="tool", scopes=frozenset({"teams:read", "audit:read"})), Sight.AUDIT),
        (Viewer(subject="bot", scopes=frozenset({"events:write"})), Sight.NONE),
    ],
)
def test_sight(viewer: Viewer, expected: Sight) -> None:
    walk = _walk()
    walk.state.facilitator_ids = ["sub-fleur"]
    assert policy.sight(viewer, TeamRoles.of_state(walk.state)) is expected


def test_a_person_opens_a_team_only_as_a_facilitator_or_quality_officer() -> None:
    convened = convene_cmd()
    with pytest.raises(ForbiddenError, match="'facilitator' or 'quality_officer'"):
        policy.check_convene(Viewer(subject="x", kind="person"), convened)
    policy.check_convene(
        Viewer(subject="x", kind="person", roles=frozenset({"facilitator"})), convened
    )
    policy.check_convene(Viewer(subject="svc", scopes=frozenset({"events:write"})), convened)


def test_bodies_sent_before_the_new_fields_keep_their_digest() -> None:
    """A repeat of an opening or invitation sent before the optional identity fields existed is
    a repeat, not a conflict: unset late fields stay out of the digest."""
    old_convene = convene_cmd()
    body = old_convene.model_dump(mode="json", exclude={"facilitator_id"})
    assert "facilitator_id" not in body
    # The digest is computed over what the sender sent; the new field unset adds nothing.
    without = c.TeamConvened.model_validate(body)
    assert without.fingerprint() == old_convene.fingerprint()
    with_id = c.TeamConvened.model_validate({**body, "facilitator_id": "sub-f"})
    assert with_id.fingerprint() != old_convene.fingerprint()
    legacy = {k: v for k, v in body.items() if k != "event_id"}
    raw = json.dumps(legacy, sort_keys=True, separators=(",", ":"))
    assert old_convene.fingerprint() == hashlib.sha256(raw.encode()).hexdigest()


def test_an_erased_participant_without_a_name_loses_their_binding_in_the_view_too() -> None:
    from datetime import UTC, datetime

    from ltflow.access.views import roles_of_view
    from ltflow.projections.team_fold import STEPS
    from ltflow.projections.team_models import TeamDetailView

    at = datetime(2026, 3, 2, tzinfo=UTC)
    view = TeamDetailView(
        team_id=TEAM_ID,
        case_ref="c",
        title="t",
        trigger="incident",
        goal="g",
        scope="s",
        facilitator="f",
        policy=c.Policy(),
        version=1,
        convened_at=at,
        updated_at=at,
    )
    STEPS["participant.invited"](
        view, {"participant_id": "p-anon", "role": "nurse", "subject": "sub-anon"}, at
    )
    assert roles_of_view(view).participants == {"sub-anon": "p-anon"}
    STEPS["participant.erased"](view, {"participant_id": "p-anon"}, at)
    anon = Viewer(subject="sub-anon", kind="person")
    assert policy.sight(anon, roles_of_view(view)) is Sight.NONE
